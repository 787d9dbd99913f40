package e2e

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zdmhq/zdm/workflows"
)

// An operation that fills no column runs through the real workflow without backfill or
// verify: the index is built CONCURRENTLY at expand, under the application's writes.
func TestCreateIndexNeedsNoBackfill(t *testing.T) {
	t.Parallel()
	dsn, pool := testDB(t)
	srv := startDevServer(t)
	queue := "zdm-e2e-" + randomSuffix()
	inProcessWorker(t, srv.Client, queue, dsn, false)
	accountsTable(t, pool, 50_000)
	next := &int64Counter{}
	next.v.Store(10_000_000)
	l := startLoad(t, pool, 2, oldCodeWrites(next))

	m := migration(t, `name: e2e-create-index
table: accounts
operations:
  - create_index: {name: accounts_email_lower_idx, columns: ["lower(email)"], where: "email IS NOT NULL"}
gates: []
`)
	run := start(t, srv.Client, queue, m, workflows.Options{})
	res, err := result(t, run, 2*time.Minute)
	require.NoError(t, err)
	l.stop()
	l.report(t)
	assert.Zero(t, l.errs.Load())
	assert.Equal(t, workflows.PhaseCompleted, res.Status)
	assert.Zero(t, res.Progress.RowsDone, "nothing was backfilled")
	assert.True(t, scalar[bool](t, pool, `SELECT indisvalid FROM pg_index WHERE indexrelid = 'accounts_email_lower_idx'::regclass`))
	assert.Zero(t, scalar[int64](t, pool, `SELECT count(*) FROM pg_trigger WHERE tgrelid = 'accounts'::regclass AND NOT tgisinternal`))
	assert.Equal(t, "completed", scalar[string](t, pool, `SELECT status FROM zdm.migrations WHERE name = $1`, m.Name))
}
