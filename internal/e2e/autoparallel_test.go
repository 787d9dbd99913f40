package e2e

import (
	"context"
	"net/http/httptest"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"

	"github.com/zdmhq/zdm/activities"
	"github.com/zdmhq/zdm/internal/metrics"
	"github.com/zdmhq/zdm/internal/spec"
	"github.com/zdmhq/zdm/workflows"
)

// meteredWorker is an in-process worker whose activities report to reg, as the worker
// binary's do to the registry it serves at /metrics.
func meteredWorker(t *testing.T, c client.Client, queue, dsn string, reg *metrics.Registry) {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), dsn)
	require.NoError(t, err)
	w := worker.New(c, queue, worker.Options{WorkerStopTimeout: 10 * time.Second})
	w.RegisterWorkflow(workflows.MigrationWorkflow)
	w.RegisterActivity(&activities.Activities{DB: pool, Metrics: reg})
	require.NoError(t, w.Start())
	t.Cleanup(func() {
		w.Stop()
		pool.Close()
	})
}

var parallelismGauge = regexp.MustCompile(`(?m)^zdm_backfill_parallelism\{migration="([^"]+)"\} (\d+)$`)

// A backfill with parallelism: auto against the real dev server and PostgreSQL, while
// the application updates balances: it splits into AutoParallelismMax partitions,
// every progress answer shows a limit between 1 and the partitions left, the run
// continues as new with the limit in its state, every row is backfilled once, no
// write is lost, and the worker's gauge shows the limit.
func TestAutoParallelBackfill(t *testing.T) {
	t.Parallel()
	dsn, pool := testDB(t)
	srv := startDevServer(t)
	queue := "zdm-e2e-" + randomSuffix()
	reg := metrics.New()
	meteredWorker(t, srv.Client, queue, dsn, reg)
	const rows = 200_000
	accountsTable(t, pool, rows)
	sumBefore := scalar[int64](t, pool, `SELECT sum(abalance) FROM accounts`)

	app := startBalanceWriters(t, pool, rows, 1)

	m := migration(t, `name: e2e-auto-parallel
table: accounts
operations:
  - change_type: {column: abalance, type: bigint}
backfill: {batch_size: 2000, parallelism: auto}
gates: [contract]
`)
	require.True(t, m.Backfill.Parallelism.Auto())
	run := start(t, srv.Client, queue, m, workflows.Options{SliceBudget: 300 * time.Millisecond, SlicesPerRun: 10})
	firstRun := srv.Client.GetWorkflow(context.Background(), run.GetID(), run.GetRunID())

	// What zdm status would show, every 100ms until the gate.
	var p workflows.Progress
	samples, most := 0, 0
	waitFor(t, 3*time.Minute, "gate contract", func() bool {
		p = progress(t, srv.Client, m.Name)
		require.False(t, p.Phase.Final(), "migration ended (%s) before the gate: %s", p.Phase, p.LastError)
		if p.Phase == workflows.PhaseBackfilling && len(p.Partitions) > 0 {
			left := 0
			for _, part := range p.Partitions {
				if !part.Done {
					left++
				}
			}
			samples++
			most = max(most, p.Parallelism)
			assert.True(t, p.ParallelismAuto)
			assert.GreaterOrEqual(t, p.Parallelism, 1)
			assert.LessOrEqual(t, p.Parallelism, max(1, left), "never more places than partitions left")
			assert.Contains(t, workflows.PartitionsSummary(p), "(auto)")
		}
		return p.AwaitingGate == "contract"
	})
	writes := app.Stop()
	t.Logf("%d progress answers while backfilling; at most %d partitions at once", samples, most)
	require.Positive(t, samples, "the backfill was seen running")
	require.Greater(t, writes, int64(50), "the application wrote during the backfill")

	require.Len(t, p.Partitions, spec.AutoParallelismMax)
	var sum int64
	for _, part := range p.Partitions {
		assert.True(t, part.Done, "partition %d", part.Part)
		sum += part.RowsDone
	}
	assert.EqualValues(t, rows, sum, "every row backfilled once across the partitions")
	assert.Zero(t, scalar[int64](t, pool, `SELECT count(*) FROM accounts WHERE _zdm_abalance IS DISTINCT FROM abalance::bigint`))
	assert.EqualValues(t, spec.AutoParallelismMax, scalar[int64](t, pool, `SELECT count(*) FROM zdm.backfill_partitions WHERE migration = $1 AND done`, m.Name))

	rec := httptest.NewRecorder()
	reg.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	g := parallelismGauge.FindStringSubmatch(rec.Body.String())
	require.NotNil(t, g, "the worker exports zdm_backfill_parallelism")
	assert.Equal(t, m.Name, g[1])
	k, err := strconv.Atoi(g[2])
	require.NoError(t, err)
	assert.GreaterOrEqual(t, k, 1)
	assert.LessOrEqual(t, k, spec.AutoParallelismMax)

	approve(t, srv.Client, m.Name, "contract")
	res, err := result(t, run, 2*time.Minute)
	require.NoError(t, err)
	assert.Equal(t, workflows.PhaseCompleted, res.Status)
	assert.Equal(t, sumBefore+writes, scalar[int64](t, pool, `SELECT sum(abalance)::bigint FROM accounts`), "no lost update")
	d, err := srv.Client.DescribeWorkflowExecution(context.Background(), firstRun.GetID(), firstRun.GetRunID())
	require.NoError(t, err)
	assert.Equal(t, enumspb.WORKFLOW_EXECUTION_STATUS_CONTINUED_AS_NEW, d.WorkflowExecutionInfo.Status, "the backfill outlasted one run")
	recordHistory(t, srv.Client, firstRun, "auto-parallel-first-run.json")
	recordHistory(t, srv.Client, run, "auto-parallel-last-run.json")
}
