package activities

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/worker"

	"github.com/zdmhq/zdm/internal/pgexec"
	"github.com/zdmhq/zdm/internal/planner"
	"github.com/zdmhq/zdm/internal/testenv"
)

// A partition's slice killed in the middle of a batch (its worker gone while the batch
// waits for a row lock) is resumed by the next slice from the partition's committed
// cursor: the batches committed before stay, the killed one is done again, once.
func TestPartitionSliceKilledMidBatchResumes(t *testing.T) {
	_, pool := testenv.DB(t, "zdm_acts")
	ctx := context.Background()
	_, err := pool.Exec(ctx, `CREATE TABLE t (id int PRIMARY KEY, v int NOT NULL, n bigint, touched int NOT NULL DEFAULT 0);
		INSERT INTO t (id, v) SELECT g, g FROM generate_series(1, 40000) g`)
	require.NoError(t, err)
	// ANALYZE once the insert is counted, so that the histogram does not look stale.
	require.Eventually(t, func() bool {
		return scalarOf[int64](t, pool, `SELECT coalesce(sum(n_tup_ins), 0)::bigint FROM pg_stat_user_tables WHERE relname = 't'`) >= 40000
	}, 20*time.Second, 100*time.Millisecond)
	_, err = pool.Exec(ctx, `ANALYZE t`)
	require.NoError(t, err)
	require.NoError(t, pgexec.EnsureState(ctx, pool))
	_, err = pgexec.Claim(ctx, pool, "m", []string{"public.t"}, "run-1")
	require.NoError(t, err)
	target := pgexec.Target{Migration: "m", Schema: "public", Table: "t", Key: []planner.KeyColumn{{Name: "id", Type: "integer"}},
		Set: `"n" = ("v")::bigint, touched = touched + 1`, LockTimeout: 100 * time.Millisecond}

	env, a := actsEnv(pool)
	v, err := env.ExecuteActivity(a.BackfillPartitions, PartitionsInput{Target: target, Upper: pgexec.Cursor{"40000"}, Parallelism: 4, RunID: "run-1"})
	require.NoError(t, err)
	var parts PartitionsResult
	require.NoError(t, v.Get(&parts))
	require.Len(t, parts.Partitions, 4)
	assert.Equal(t, "histogram", parts.SplitBy)
	p1 := parts.Partitions[1]

	// The application holds a row in the middle of partition 1.
	var lo int
	require.NoError(t, pool.QueryRow(ctx, `SELECT $1::int`, p1.Lo[0]).Scan(&lo))
	held := lo + 2500
	tx, err := pool.Begin(ctx)
	require.NoError(t, err)
	_, err = tx.Exec(ctx, `SELECT 1 FROM t WHERE id = $1 FOR UPDATE`, held)
	require.NoError(t, err)

	slice := SliceInput{Target: target, BatchSize: 1000, Budget: time.Minute}
	killCtx, kill := context.WithCancel(ctx)
	env1, a1 := actsEnv(pool)
	env1.SetWorkerOptions(worker.Options{BackgroundActivityContext: killCtx})
	done := make(chan error, 1)
	go func() {
		_, err := env1.ExecuteActivity(a1.BackfillPartitionSlice, PartitionSliceInput{Slice: slice, Part: 1, RunID: "run-1"})
		done <- err
	}()
	// Two batches commit; the third waits for the held row, retrying its lock timeout.
	require.Eventually(t, func() bool {
		p, err := pgexec.ReadPartition(ctx, pool, "m", "run-1", 1)
		return err == nil && p.Batches == 2
	}, 30*time.Second, 20*time.Millisecond)
	time.Sleep(300 * time.Millisecond)
	kill()
	select {
	case err := <-done:
		require.Error(t, err, "the killed slice ends in error")
	case <-time.After(30 * time.Second):
		t.Fatal("the killed slice did not end")
	}
	require.NoError(t, tx.Rollback(ctx))

	after, err := pgexec.ReadPartition(ctx, pool, "m", "run-1", 1)
	require.NoError(t, err)
	assert.EqualValues(t, 2, after.Batches, "the batch in flight did not commit")
	assert.EqualValues(t, 2000, after.RowsDone)
	assert.Zero(t, scalarOf[int64](t, pool, `SELECT count(*) FROM t WHERE touched > 0 AND id > `+p1.Lo[0]+` + 2000`), "its rows rolled back with it")

	// Every partition's next slice runs from its committed cursor to its end.
	for _, p := range parts.Partitions {
		v, err := env.ExecuteActivity(a.BackfillPartitionSlice, PartitionSliceInput{Slice: slice, Part: p.Part, RunID: "run-1"})
		require.NoError(t, err, "partition %d", p.Part)
		var s SliceProgress
		require.NoError(t, v.Get(&s))
		assert.True(t, s.Done, "partition %d", p.Part)
		assert.Equal(t, p.Hi, s.Cursor)
	}
	final, err := pgexec.ReadPartitions(ctx, pool, "m", "run-1")
	require.NoError(t, err)
	var total int64
	for _, p := range final {
		total += p.RowsDone
	}
	assert.EqualValues(t, 40000, total)
	assert.Zero(t, scalarOf[int64](t, pool, `SELECT count(*) FROM t WHERE touched <> 1 OR n IS DISTINCT FROM v`), "every row updated exactly once")

	// Done partitions answer at once.
	v, err = env.ExecuteActivity(a.BackfillPartitionSlice, PartitionSliceInput{Slice: slice, Part: 1, RunID: "run-1"})
	require.NoError(t, err)
	var s SliceProgress
	require.NoError(t, v.Get(&s))
	assert.True(t, s.Done)
	assert.Zero(t, s.Batches)

}
