package e2e

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zdmhq/zdm/workflows"
)

// With target_batch_time the batch size follows how long batches take: here a tiny
// target shrinks batches of 20,000 rows, and the backfill still covers every row once.
func TestTargetBatchTimeShrinksSlowBatches(t *testing.T) {
	t.Parallel()
	dsn, pool := testDB(t)
	srv := startDevServer(t)
	queue := "zdm-e2e-" + randomSuffix()
	inProcessWorker(t, srv.Client, queue, dsn, false)
	const rows = 100_000
	accountsTable(t, pool, rows)
	m := migration(t, `name: e2e-adaptive
table: accounts
operations:
  - add_column: {column: email_lower, type: text, backfill: "lower(email)"}
backfill: {batch_size: 20000, target_batch_time: 2ms}
gates: []
`)
	res, err := result(t, start(t, srv.Client, queue, m, workflows.Options{SliceBudget: time.Second}), 2*time.Minute)
	require.NoError(t, err)
	assert.Equal(t, workflows.PhaseCompleted, res.Status)
	assert.EqualValues(t, rows, res.Progress.RowsDone)
	assert.Less(t, res.Progress.BatchSize, 20000, "the batch size came down towards the target")
	assert.Greater(t, res.Progress.Batches, int64(rows/20000), "smaller batches, so more of them")
	t.Logf("%d batches, batch size now %d", res.Progress.Batches, res.Progress.BatchSize)
	assert.Zero(t, scalar[int64](t, pool, `SELECT count(*) FROM accounts WHERE email_lower IS DISTINCT FROM lower(email)`))
}
