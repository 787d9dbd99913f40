package activities

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zdmhq/zdm/internal/pgexec"
	"github.com/zdmhq/zdm/internal/planner"
	"github.com/zdmhq/zdm/internal/testenv"
	"github.com/zdmhq/zdm/internal/wire"
)

// A sampled verification stands in for reading every row only where it can show that
// every backfilled row was proven by its batch and the sync trigger still fires; it
// says why when it reads every row instead, and a sample that finds a bad row fails.
func TestSampledVerifyReadsEveryRowWhenItCannotShowTheProof(t *testing.T) {
	_, pool := testenv.DB(t, "zdm_acts")
	ctx := context.Background()
	_, err := pool.Exec(ctx, `CREATE TABLE t (id int PRIMARY KEY, v int, n bigint);
		INSERT INTO t SELECT g, g, NULL FROM generate_series(1, 250000) g;
		CREATE FUNCTION keep() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN NEW.n := NEW.v; RETURN NEW; END $$;
		CREATE TRIGGER sync BEFORE INSERT OR UPDATE ON t FOR EACH ROW EXECUTE FUNCTION keep()`)
	require.NoError(t, err)
	require.NoError(t, pgexec.EnsureState(ctx, pool))
	_, err = pgexec.Claim(ctx, pool, "m", []string{"public.t"}, "run-1")
	require.NoError(t, err)
	target := pgexec.Target{Migration: "m", Schema: "public", Table: "t", Key: []planner.KeyColumn{{Name: "id", Type: "integer"}},
		Set: `"n" = ("v")::bigint`, Mismatch: `"n" IS DISTINCT FROM ("v")::bigint`, LockTimeout: time.Second}
	upper := pgexec.Cursor{"250000"}
	for b := (pgexec.Batch{}); !b.Done; {
		b, err = pgexec.BackfillBatch(ctx, pool, target, b.Cursor, upper, 100000)
		require.NoError(t, err)
	}
	_, err = pool.Exec(ctx, `ANALYZE t`)
	require.NoError(t, err)
	env, _ := actsEnv(pool)
	verify := func() (VerifyResult, error) {
		v, err := env.ExecuteActivity(nilActs.Verify, VerifyInput{Target: target, Upper: upper, Mode: wire.VerifySampled, Trigger: "sync"})
		var res VerifyResult
		if err == nil {
			require.NoError(t, v.Get(&res))
		}
		return res, err
	}

	res, err := verify()
	require.NoError(t, err)
	assert.Equal(t, wire.VerifySampled, res.Mode)
	assert.InDelta(t, SampledVerifyRows, res.Checked, SampledVerifyRows/2)

	_, err = pool.Exec(ctx, `ALTER TABLE t DISABLE TRIGGER sync`)
	require.NoError(t, err)
	res, err = verify()
	require.NoError(t, err)
	assert.Empty(t, res.Mode, "every row read")
	assert.Contains(t, res.Why, "the sync trigger sync is missing or disabled")
	_, err = pool.Exec(ctx, `ALTER TABLE t ENABLE TRIGGER sync; UPDATE zdm.migrations SET proven_rows = 100000`)
	require.NoError(t, err)
	res, err = verify()
	require.NoError(t, err)
	assert.Equal(t, "150000 of the 250000 backfilled rows were written by batches that did not prove them (an older zdm)", res.Why)

	// Rows spoiled behind the trigger's back: the sample finds them.
	_, err = pool.Exec(ctx, `UPDATE zdm.migrations SET proven_rows = rows_done; ALTER TABLE t DISABLE TRIGGER sync;
		UPDATE t SET n = -1 WHERE id % 3 = 0; ALTER TABLE t ENABLE TRIGGER sync`)
	require.NoError(t, err)
	_, err = verify()
	app := appErr(t, err)
	assert.Equal(t, ErrMismatch, app.Type())
	assert.True(t, app.NonRetryable())
}
