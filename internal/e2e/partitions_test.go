package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"

	"github.com/zdmhq/zdm/workflows"
)

// A backfill split into four partitions, shared by two workers on one task queue,
// continued as new several times, while the application updates balances: every row is
// backfilled once, the partitions each end done, and no application write is lost.
func TestPartitionedBackfillAcrossWorkers(t *testing.T) {
	t.Parallel()
	dsn, pool := testDB(t)
	srv := startDevServer(t)
	queue := "zdm-e2e-" + randomSuffix()
	inProcessWorker(t, srv.Client, queue, dsn, false)
	inProcessWorker(t, srv.Client, queue, dsn, false)
	const rows = 200_000
	accountsTable(t, pool, rows)
	sumBefore := scalar[int64](t, pool, `SELECT sum(abalance) FROM accounts`)

	// The application: balance updates, each counted once it committed.
	app := startBalanceWriters(t, pool, rows, 2)

	m := migration(t, `name: e2e-partitions
table: accounts
operations:
  - change_type: {column: abalance, type: bigint}
backfill: {batch_size: 2000, parallelism: 4}
gates: [contract]
`)
	run := start(t, srv.Client, queue, m, workflows.Options{SliceBudget: 300 * time.Millisecond, SlicesPerRun: 10})
	firstRun := srv.Client.GetWorkflow(context.Background(), run.GetID(), run.GetRunID())
	p := waitForGate(t, srv.Client, m.Name, "contract", 3*time.Minute)
	writes := app.Stop()
	require.Greater(t, writes, int64(50), "the application wrote during the backfill")
	assert.Equal(t, 4, p.Parallelism)
	require.Len(t, p.Partitions, 4)
	var sum int64
	for _, part := range p.Partitions {
		assert.True(t, part.Done, "partition %d", part.Part)
		assert.Greater(t, part.RowsDone, int64(rows/8), "partition %d holds its share", part.Part)
		sum += part.RowsDone
	}
	assert.EqualValues(t, rows, sum, "every row backfilled once across the partitions")
	assert.EqualValues(t, rows, p.RowsDone)
	assert.Zero(t, scalar[int64](t, pool, `SELECT count(*) FROM accounts WHERE _zdm_abalance IS DISTINCT FROM abalance::bigint`))
	assert.EqualValues(t, 4, scalar[int64](t, pool, `SELECT count(*) FROM zdm.backfill_partitions WHERE migration = $1 AND done`, m.Name))
	assert.Nil(t, scalar[[]string](t, pool, `SELECT cursor FROM zdm.migrations WHERE name = $1`, m.Name), "partitions leave the migration's row alone")

	approve(t, srv.Client, m.Name, "contract")
	res, err := result(t, run, 2*time.Minute)
	require.NoError(t, err)
	assert.Equal(t, workflows.PhaseCompleted, res.Status)
	assert.Equal(t, "bigint", scalar[string](t, pool, `SELECT data_type FROM information_schema.columns WHERE table_name = 'accounts' AND column_name = 'abalance'`))
	assert.Equal(t, sumBefore+writes, scalar[int64](t, pool, `SELECT sum(abalance)::bigint FROM accounts`), "no lost update")
	d, err := srv.Client.DescribeWorkflowExecution(context.Background(), firstRun.GetID(), firstRun.GetRunID())
	require.NoError(t, err)
	assert.Equal(t, enumspb.WORKFLOW_EXECUTION_STATUS_CONTINUED_AS_NEW, d.WorkflowExecutionInfo.Status, "the backfill outlasted one run")
	recordHistory(t, srv.Client, firstRun, "partitioned-first-run.json")
	recordHistory(t, srv.Client, run, "partitioned-last-run.json")
}

// Cancelling a partitioned backfill stops every partition's slice before the rollback
// runs: the table is left as it was.
func TestCancelPartitionedBackfillRollsBack(t *testing.T) {
	t.Parallel()
	dsn, pool := testDB(t)
	srv := startDevServer(t)
	queue := "zdm-e2e-" + randomSuffix()
	inProcessWorker(t, srv.Client, queue, dsn, false)
	const rows = 200_000
	accountsTable(t, pool, rows)
	before := schemaSnapshot(t, pool)
	m := migration(t, `name: e2e-cancel-partitions
table: accounts
operations:
  - change_type: {column: abalance, type: bigint}
backfill: {batch_size: 2000, pause: 10ms, parallelism: 4}
`)
	run := start(t, srv.Client, queue, m, workflows.Options{SliceBudget: time.Second})
	waitFor(t, time.Minute, "a third of the backfill", func() bool {
		var n int64
		_ = pool.QueryRow(context.Background(), `SELECT coalesce((SELECT sum(rows_done) FROM zdm.backfill_partitions WHERE migration = $1), 0)`, m.Name).Scan(&n)
		return n > rows/3
	})
	require.NoError(t, srv.Client.CancelWorkflow(context.Background(), run.GetID(), ""))
	_, err := result(t, run, time.Minute)
	require.Error(t, err)
	assert.True(t, temporal.IsCanceledError(err), "%v", err)
	assert.Equal(t, before, schemaSnapshot(t, pool))
	assert.Equal(t, "rolled_back", scalar[string](t, pool, `SELECT status FROM zdm.migrations WHERE name = $1`, m.Name))
	assert.Less(t, scalar[int64](t, pool, `SELECT sum(rows_done)::bigint FROM zdm.backfill_partitions WHERE migration = $1`, m.Name), int64(rows),
		"cancelled before the end")
}

// A worker process killed (SIGKILL) in the middle of a partitioned backfill: another
// worker picks up every partition from its committed cursor, redoing at most one batch
// per partition.
func TestWorkerKilledMidPartitionedBackfillResumes(t *testing.T) {
	t.Parallel()
	dsn, pool := testDB(t)
	srv := startDevServer(t)
	queue := "zdm-e2e-" + randomSuffix()
	const rows, batch, parts = 300_000, 2000, 4
	accountsTable(t, pool, rows)
	auditBackfill(t, pool)
	next := &int64Counter{}
	next.v.Store(10_000_000)
	l := startLoad(t, pool, 2, oldCodeWrites(next))

	w := startWorkerProcess(t, srv.hostPort, queue, dsn, false)
	m := migration(t, fmt.Sprintf(`name: e2e-sigkill-partitions
table: accounts
operations:
  - change_type: {column: abalance, type: bigint}
backfill: {batch_size: %d, pause: 10ms, parallelism: %d}
`, batch, parts))
	run := start(t, srv.Client, queue, m, workflows.Options{HeartbeatTimeout: 3 * time.Second, SliceBudget: time.Second, SlicesPerRun: 8})
	partsDone := func() int64 {
		var n int64
		_ = pool.QueryRow(context.Background(), `SELECT coalesce((SELECT sum(rows_done)::bigint FROM zdm.backfill_partitions WHERE migration = $1), 0)`, m.Name).Scan(&n)
		return n
	}
	waitFor(t, time.Minute, "a third of the backfill", func() bool { return partsDone() > rows/3 })
	w.kill9(t)
	killedAt := partsDone()
	require.Less(t, killedAt, int64(rows), "the worker must die mid-backfill")
	time.Sleep(2 * time.Second)
	startWorkerProcess(t, srv.hostPort, queue, dsn, false)

	p := waitForGate(t, srv.Client, m.Name, "contract", 3*time.Minute)
	l.stop()
	l.report(t)
	assert.Zero(t, l.errs.Load())
	require.Len(t, p.Partitions, parts)
	assert.Zero(t, scalar[int64](t, pool, `SELECT count(*) FROM accounts WHERE _zdm_abalance IS DISTINCT FROM abalance::bigint`))
	// The range ends at the last key when the backfill began; the load's inserts come
	// after it (they have larger keys, and the trigger fills them).
	inRange := scalar[int64](t, pool, `SELECT count(*) FROM accounts WHERE aid <= (SELECT max(hi[1]::bigint) FROM zdm.backfill_partitions WHERE migration = $1)`, m.Name)
	assert.GreaterOrEqual(t, inRange, int64(rows))
	assert.Equal(t, inRange, partsDone(), "the partitions' counts add up to the range exactly")
	updated := scalar[int64](t, pool, `SELECT coalesce(sum(rows), 0) FROM backfill_audit`)
	redone := updated - inRange
	t.Logf("killed at %d rows; backfill updated %d rows for %d in range: %d redone (batch %d, %d partitions)", killedAt, updated, inRange, redone, batch, parts)
	assert.LessOrEqual(t, redone, int64(parts*batch), "at most one batch per partition may be redone after a crash")
	assert.GreaterOrEqual(t, redone, int64(0))

	approve(t, srv.Client, m.Name, "contract")
	res, err := result(t, run, time.Minute)
	require.NoError(t, err)
	assert.Equal(t, workflows.PhaseCompleted, res.Status)
}
