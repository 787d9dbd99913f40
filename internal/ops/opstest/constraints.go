package opstest

// Helpers for the constraint operations' cases: a referenced table, and the run of a
// migration whose validation must fail.

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zdmhq/zdm/internal/testenv"
)

// Branches is SQL creating public.branches (bid int PRIMARY KEY, bname text NOT NULL)
// with rows 0 to n-1, bname 'branch <bid>': what accounts.bid (g % 10) can reference.
func Branches(n int) string {
	return fmt.Sprintf("CREATE TABLE branches (bid int PRIMARY KEY, bname text NOT NULL);\n"+
		"INSERT INTO branches SELECT g, 'branch ' || g FROM generate_series(0, %d) g;\n", n-1)
}

// FailsBeforeGates runs a migration that plans, but that must fail before any gate:
// a row that breaks the constraint it adds fails its validation, or the build of its
// unique index at expand. In a database of its own, after setup, it plans the
// migration (which must succeed), expands it and runs the verification (backfill
// checks, then the validate statements) until one fails, rolls back, and checks that
// the database is exactly as it began and the migration is released. It returns the
// failure for the caller to look at.
func FailsBeforeGates(t *testing.T, setup, migration string) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), caseTimeout)
	defer cancel()
	_, pool := testenv.DB(t, "zdm_ops")
	_, err := pool.Exec(ctx, setup)
	require.NoError(t, err, "setup")
	before, err := SnapshotDatabase(ctx, pool)
	require.NoError(t, err)

	file := withName(t.Name(), migration)
	p, err := Plan(ctx, pool, "migration.yaml", []byte(file))
	require.NoError(t, err, "plan: the constraint's definition is fine, only the rows break it")
	failure := Expand(ctx, pool, p, "run-1")
	if failure == nil {
		failure = Verify(ctx, pool, p)
	}
	require.Error(t, failure, "expand or verify must fail: a row breaks the constraint")
	require.NoError(t, Rollback(ctx, pool, p), "rollback")

	after, err := SnapshotDatabase(ctx, pool)
	require.NoError(t, err)
	assert.Equal(t, before, after, "rollback must leave the database exactly as it began (catalog diff: -before +after)")
	var status string
	require.NoError(t, pool.QueryRow(ctx, `SELECT status FROM zdm.migrations WHERE name = $1`, p.Migration).Scan(&status))
	assert.Equal(t, "rolled_back", status, "the migration is released as rolled back")
	return failure
}
