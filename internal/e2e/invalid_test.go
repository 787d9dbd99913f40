package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"

	"github.com/zdmhq/zdm/activities"
	"github.com/zdmhq/zdm/workflows"
)

// A migration that does not fit the live table is refused with file, line, field and fix,
// and the database is left exactly as it was (not even zdm's own schema is created).
func TestInvalidMigrationChangesNothing(t *testing.T) {
	t.Parallel()
	dsn, pool := testDB(t)
	srv := startDevServer(t)
	queue := "zdm-e2e-" + randomSuffix()
	inProcessWorker(t, srv.Client, queue, dsn, false)
	accountsTable(t, pool, 1000)
	exec1(t, pool, `CREATE TABLE nokey (a int, b text)`)
	before := schemaSnapshot(t, pool)

	cases := []struct{ name, yaml, want string }{
		{"unknown-column", "name: bad-col\ntable: accounts\noperations:\n  - rename_column: {column: nmae, to: full_name}\n",
			`:4: operations[0].rename_column.column: column "nmae" does not exist in public.accounts (fix: use one of: aid, bid, abalance, name, email, filler)`},
		{"unknown-table", "name: bad-table\ntable: acounts\noperations:\n  - rename_column: {column: name, to: full_name}\n",
			`:2: table: table public.acounts does not exist; did you mean public.accounts?`},
		{"no-key", "name: bad-key\ntable: nokey\noperations:\n  - rename_column: {column: b, to: c}\n",
			`:2: table: table public.nokey has no primary key or unique NOT NULL column: zdm cannot page it`},
		{"bad-expression", "name: bad-expr\ntable: accounts\noperations:\n  - add_column: {column: x, type: text, backfill: \"lower(emial)\"}\n",
			`:4: operations[0].add_column.backfill: column "emial" does not exist`},
		{"bad-type", "name: bad-type\ntable: accounts\noperations:\n  - change_type: {column: abalance, type: bigintt}\n",
			`:4: operations[0].change_type.type: type "bigintt" does not exist`},
		{"key-column", "name: bad-pk\ntable: accounts\noperations:\n  - change_type: {column: aid, type: numeric}\n",
			`:4: operations[0].change_type.column: column "aid" is part of the key of public.accounts`},
	}
	for _, c := range cases {
		m := migration(t, c.yaml)
		run := start(t, srv.Client, queue, m, workflows.Options{})
		_, err := result(t, run, time.Minute)
		require.Error(t, err, c.name)
		var app *temporal.ApplicationError
		require.ErrorAs(t, err, &app, c.name)
		assert.Equal(t, activities.ErrInvalidMigration, app.Type(), c.name)
		assert.Contains(t, err.Error(), t.Name()+".yaml"+c.want, c.name)
		assert.NotContains(t, err.Error(), "\n"+t.Name()+".yaml", "one problem, one message: "+c.name)
	}
	assert.Equal(t, before, schemaSnapshot(t, pool))
	assert.Zero(t, scalar[int64](t, pool, `SELECT count(*) FROM pg_namespace WHERE nspname = 'zdm'`), "zdm's schema must not be created for a refused migration")
	_ = context.Background()
}
