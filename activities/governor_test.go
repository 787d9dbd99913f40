package activities

import (
	"context"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zdmhq/zdm/internal/pgexec"
	"github.com/zdmhq/zdm/internal/planner"
	"github.com/zdmhq/zdm/internal/testenv"
)

// Under an application that keeps updating rows of the table, a governed slice shrinks
// its batches below the limit's worth, says why in its progress, and still fills every
// row exactly once.
func TestGovernorShrinksBatchesUnderContention(t *testing.T) {
	_, pool := testenv.DB(t, "zdm_acts")
	ctx := context.Background()
	const rows = 5000
	_, err := pool.Exec(ctx, `CREATE TABLE t (id int PRIMARY KEY, v int NOT NULL, n bigint);
		INSERT INTO t SELECT g, g, NULL FROM generate_series(1, 5000) g`)
	require.NoError(t, err)
	require.NoError(t, pgexec.EnsureState(ctx, pool))
	_, err = pgexec.Claim(ctx, pool, "m", []string{"public.t"}, "run-1")
	require.NoError(t, err)
	// A tenth of a millisecond a row or more: a batch of the starting 1000 rows holds
	// its first rows for 100 ms or more, far over the limit, whatever the machine.
	target := pgexec.Target{Migration: "m", Schema: "public", Table: "t", Key: []planner.KeyColumn{{Name: "id", Type: "integer"}},
		Set: `"n" = ("v" + 0 * length(pg_sleep(0.0001)::text))::bigint`, LockTimeout: 10 * time.Second}

	// The application: four sessions updating random rows (v stays as it is, so the
	// backfilled value is known), each waiting for its lock as an application does.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var appTxns atomic.Int64
	for range 4 {
		c, err := pgx.ConnectConfig(ctx, pool.Config().ConnConfig.Copy())
		require.NoError(t, err)
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer c.Close(context.Background())
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := c.Exec(ctx, `UPDATE t SET v = v WHERE id = $1`, 1+rand.IntN(rows)); err == nil {
					appTxns.Add(1)
				}
				time.Sleep(2 * time.Millisecond)
			}
		}()
	}
	defer func() { close(stop); wg.Wait() }()

	env, _ := actsEnv(pool)
	in := SliceInput{Target: target, Upper: pgexec.Cursor{"5000"}, BatchSize: 10000, FileBatchSize: 10000, Budget: time.Minute,
		MaxAppP99: 20 * time.Millisecond}
	var p SliceProgress
	for !p.Done {
		in.Cursor, in.Governor = p.Cursor, p.GovernorState
		if p.BatchSize > 0 {
			in.BatchSize = p.BatchSize
		}
		v, err := env.ExecuteActivity(nilActs.BackfillSlice, in)
		require.NoError(t, err)
		require.NoError(t, v.Get(&p))
	}
	t.Logf("%d batches, last size %d, governor %q, state %+v; %d application transactions", p.Batches, p.BatchSize, p.Governor, p.GovernorState, appTxns.Load())
	assert.Greater(t, appTxns.Load(), int64(50), "the application ran beside the backfill")
	assert.Less(t, p.BatchSize, 500, "batches shrank from 1000 rows (100ms or more) towards 20ms' worth")
	assert.Greater(t, p.Batches, 10)
	assert.Less(t, p.GovernorState.BatchTime, 20*time.Millisecond)
	assert.True(t, p.GovernorState.Over, "the limit was breached and holds the backfill")
	// Whichever source saw more: the lock waits, the probes or, with pg_stat_statements, the estimate.
	assert.Regexp(t, `^app latency: (longest lock wait|p99 estimate \(pg_stat_statements, mean \+ 2.33 sd\)|probe p99 \(a row read and a commit\)) \d`, p.Governor)

	st, err := pgexec.ReadProgress(ctx, pool, "m")
	require.NoError(t, err)
	assert.EqualValues(t, rows, st.RowsDone, "every row counted once")
	var missed int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM t WHERE n IS DISTINCT FROM v`).Scan(&missed))
	assert.Zero(t, missed, "every row backfilled")
}

// Without target_batch_time the governor only shortens batches: the file's batch_size
// stays the most rows one transaction updates (and so the most a crash redoes).
func TestGovernedBatchesNeverPassTheFilesBatchSize(t *testing.T) {
	_, pool := testenv.DB(t, "zdm_acts")
	ctx := context.Background()
	_, err := pool.Exec(ctx, `CREATE TABLE t (id int PRIMARY KEY, v int NOT NULL, n bigint);
		INSERT INTO t SELECT g, g, NULL FROM generate_series(1, 6000) g`)
	require.NoError(t, err)
	require.NoError(t, pgexec.EnsureState(ctx, pool))
	_, err = pgexec.Claim(ctx, pool, "m", []string{"public.t"}, "run-1")
	require.NoError(t, err)
	target := pgexec.Target{Migration: "m", Schema: "public", Table: "t", Key: []planner.KeyColumn{{Name: "id", Type: "integer"}},
		Set: `"n" = ("v")::bigint`, LockTimeout: time.Second}
	env, _ := actsEnv(pool)
	v, err := env.ExecuteActivity(nilActs.BackfillSlice, SliceInput{Target: target, Upper: pgexec.Cursor{"6000"}, BatchSize: 300,
		FileBatchSize: 300, Budget: time.Minute, MaxAppP99: 20 * time.Millisecond})
	require.NoError(t, err)
	var p SliceProgress
	require.NoError(t, v.Get(&p))
	require.True(t, p.Done)
	// Fast batches never grow past the file's 300 rows; on a loaded machine one slow batch
	// may shorten the next ones (batch time above the 20ms ceiling).
	assert.GreaterOrEqual(t, p.Batches, 20, "batches of at most 300 rows")
	assert.LessOrEqual(t, p.BatchSize, 300)
	assert.Empty(t, p.Governor, "nothing waited: nothing holds the backfill")
}
