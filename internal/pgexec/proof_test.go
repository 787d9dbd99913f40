package pgexec_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zdmhq/zdm/internal/pgexec"
	"github.com/zdmhq/zdm/internal/planner"
)

// A batch proves the rows it writes before it commits: a row stored with other values
// than the up expression gives (here a BEFORE trigger of the user's that overwrites it)
// rolls the batch back, cursor and count included, and names the row.
func TestABatchProvesItsRowsBeforeItCommits(t *testing.T) {
	pool := testPool(t)
	ctx := context.Background()
	_, err := pool.Exec(ctx, `CREATE TABLE t (id int PRIMARY KEY, v int, n bigint);
		INSERT INTO t SELECT g, g, NULL FROM generate_series(1, 100) g;
		CREATE FUNCTION spoil() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN IF NEW.id = 42 THEN NEW.n := -1; END IF; RETURN NEW; END $$;
		CREATE TRIGGER spoil BEFORE UPDATE ON t FOR EACH ROW EXECUTE FUNCTION spoil()`)
	require.NoError(t, err)
	require.NoError(t, pgexec.EnsureState(ctx, pool))
	_, err = pgexec.Claim(ctx, pool, "m", []string{"public.t"}, "run-1")
	require.NoError(t, err)
	target := pgexec.Target{Migration: "m", Schema: "public", Table: "t", Key: []planner.KeyColumn{{Name: "id", Type: "integer"}},
		Set: `"n" = ("v")::bigint`, Mismatch: `"n" IS DISTINCT FROM ("v")::bigint`, LockTimeout: time.Second}
	upper := pgexec.Cursor{"100"}

	b, err := pgexec.BackfillBatch(ctx, pool, target, nil, upper, 40)
	require.NoError(t, err)
	_, err = pgexec.BackfillBatch(ctx, pool, target, b.Cursor, upper, 40)
	var me *pgexec.MismatchError
	require.ErrorAs(t, err, &me)
	assert.Equal(t, &pgexec.MismatchError{Rows: 1, Sample: []string{"(42)"}}, me)
	assert.Contains(t, err.Error(), "1 row(s) of the batch differ")

	var nulls int64
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM t WHERE id > 40 AND n IS NULL`).Scan(&nulls))
	assert.EqualValues(t, 60, nulls, "the failed batch wrote nothing")
	done, proven, err := pgexec.ProvenRows(ctx, pool, "m")
	require.NoError(t, err)
	assert.EqualValues(t, 40, done, "only the first batch counted")
	assert.EqualValues(t, 40, proven)
	st, err := pgexec.ReadProgress(ctx, pool, "m")
	require.NoError(t, err)
	assert.Equal(t, pgexec.Cursor{"40"}, st.Cursor, "the cursor stays where the failed batch started")
}

// A sample reads about the share of the table asked for and finds rows that differ.
func TestSampledMismatchesReadsAShareOfThePages(t *testing.T) {
	pool := testPool(t)
	ctx := context.Background()
	_, err := pool.Exec(ctx, `CREATE TABLE t (id int PRIMARY KEY, v int, n bigint);
		INSERT INTO t SELECT g, g, g FROM generate_series(1, 200000) g; ANALYZE t`)
	require.NoError(t, err)
	target := pgexec.Target{Schema: "public", Table: "t", Key: []planner.KeyColumn{{Name: "id", Type: "integer"}},
		Mismatch: `"n" IS DISTINCT FROM ("v")::bigint`}
	est, err := pgexec.EstimatedRows(ctx, pool, target)
	require.NoError(t, err)
	assert.InDelta(t, 200000, est, 20000)

	checked, bad, sample, err := pgexec.SampledMismatches(ctx, pool, target, 10)
	require.NoError(t, err)
	assert.InDelta(t, 20000, checked, 10000, "about a tenth of the rows")
	assert.Zero(t, bad)
	assert.Empty(t, sample)

	_, err = pool.Exec(ctx, `UPDATE t SET n = -1 WHERE id % 2 = 0`)
	require.NoError(t, err)
	checked, bad, sample, err = pgexec.SampledMismatches(ctx, pool, target, 10)
	require.NoError(t, err)
	assert.InDelta(t, float64(checked)/2, bad, float64(checked)/10, "half the rows differ")
	assert.Len(t, sample, 5)

	fires, err := pgexec.TriggerFires(ctx, pool, target, "nope")
	require.NoError(t, err)
	assert.False(t, fires)
}
