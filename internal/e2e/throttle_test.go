package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zdmhq/zdm/workflows"
)

// The backfill holds while the throttle query says so, shows why in its progress, and
// goes on by itself once the query clears.
func TestThrottleQueryHoldsTheBackfill(t *testing.T) {
	t.Parallel()
	dsn, pool := testDB(t)
	srv := startDevServer(t)
	queue := "zdm-e2e-" + randomSuffix()
	inProcessWorker(t, srv.Client, queue, dsn, false)
	accountsTable(t, pool, 50_000)
	exec1(t, pool, `CREATE TABLE hold_backfill (reason text); INSERT INTO hold_backfill VALUES ('nightly report running')`)

	m := migration(t, `name: e2e-throttle
table: accounts
operations:
  - add_column: {column: email_lower, type: text, backfill: "lower(email)"}
backfill: {batch_size: 5000, throttle_query: "SELECT EXISTS (SELECT 1 FROM hold_backfill)"}
gates: []
`)
	run := start(t, srv.Client, queue, m, workflows.Options{SliceBudget: 2 * time.Second})
	var p workflows.Progress
	waitFor(t, time.Minute, "the backfill to report it is throttled", func() bool {
		p = progress(t, srv.Client, m.Name)
		return strings.Contains(p.Throttled, "throttle_query returned true")
	})
	assert.Equal(t, workflows.PhaseBackfilling, p.Phase)
	assert.Zero(t, p.RowsDone, "no batch runs while throttled")
	assert.Zero(t, p.ETA, "no ETA while throttled")
	time.Sleep(3 * time.Second)
	assert.Zero(t, progress(t, srv.Client, m.Name).RowsDone)

	exec1(t, pool, `DELETE FROM hold_backfill`)
	res, err := result(t, run, 2*time.Minute)
	require.NoError(t, err)
	assert.Equal(t, workflows.PhaseCompleted, res.Status)
	assert.Empty(t, res.Progress.Throttled)
	assert.EqualValues(t, 50_000, res.Progress.RowsDone)
	assert.Zero(t, scalar[int64](t, pool, `SELECT count(*) FROM accounts WHERE email_lower IS DISTINCT FROM lower(email)`))
}
