package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"

	"github.com/zdmhq/zdm/workflows"
)

// schemaSnapshot describes everything a migration may touch, so that a rollback can be
// compared with the table as it began.
func schemaSnapshot(t *testing.T, pool *pgxpool.Pool) string {
	t.Helper()
	return scalar[string](t, pool, `
		SELECT concat_ws(E'\n',
		  (SELECT string_agg(attname || ' ' || format_type(atttypid, atttypmod) || ' ' || attnotnull, ', ' ORDER BY attnum)
		     FROM pg_attribute WHERE attrelid = 'accounts'::regclass AND attnum > 0 AND NOT attisdropped),
		  (SELECT string_agg(conname || ' ' || pg_get_constraintdef(oid), ', ' ORDER BY conname) FROM pg_constraint WHERE conrelid = 'accounts'::regclass),
		  (SELECT string_agg(tgname, ', ' ORDER BY tgname) FROM pg_trigger WHERE tgrelid = 'accounts'::regclass AND NOT tgisinternal),
		  (SELECT string_agg(indexrelid::regclass::text, ', ' ORDER BY 1) FROM pg_index WHERE indrelid = 'accounts'::regclass),
		  (SELECT string_agg(p.oid::regprocedure::text, ', ') FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'zdm'))`)
}

func TestRejectLeavesSchemaAsItWas(t *testing.T) {
	t.Parallel()
	dsn, pool := testDB(t)
	srv := startDevServer(t)
	queue := "zdm-e2e-" + randomSuffix()
	inProcessWorker(t, srv.Client, queue, dsn, false)
	accountsTable(t, pool, 50_000)
	before := schemaSnapshot(t, pool)
	checksum := scalar[string](t, pool, `SELECT md5(string_agg(aid || ':' || abalance || ':' || name, ',' ORDER BY aid)) FROM accounts`)

	m := migration(t, `name: e2e-reject
table: accounts
operations:
  - change_type: {column: abalance, type: bigint}
  - rename_column: {column: name, to: full_name}
  - add_column: {column: email_lower, type: text, backfill: "lower(email)", not_null: true, default: "''"}
`)
	run := start(t, srv.Client, queue, m, workflows.Options{})
	waitForGate(t, srv.Client, m.Name, "contract", 2*time.Minute)
	assert.NotEqual(t, before, schemaSnapshot(t, pool), "expand must have changed the table")

	h, err := srv.Client.UpdateWorkflow(context.Background(), updateOpts(m.Name, workflows.UpdateReject, workflows.Decision{Gate: "contract", By: "e2e", Comment: "changed my mind"}))
	require.NoError(t, err)
	require.NoError(t, h.Get(context.Background(), nil))

	res, err := result(t, run, time.Minute)
	require.NoError(t, err)
	recordHistory(t, srv.Client, run, "reject-rollback.json")
	assert.Equal(t, workflows.PhaseRolledBack, res.Status)
	require.Len(t, res.Progress.Approvals, 1)
	assert.False(t, res.Progress.Approvals[0].Approved)
	assert.Equal(t, "changed my mind", res.Progress.Approvals[0].Comment)
	assert.Equal(t, before, schemaSnapshot(t, pool), "rollback must leave the table as it began")
	assert.Equal(t, checksum, scalar[string](t, pool, `SELECT md5(string_agg(aid || ':' || abalance || ':' || name, ',' ORDER BY aid)) FROM accounts`))
	assert.Equal(t, "rolled_back", scalar[string](t, pool, `SELECT status FROM zdm.migrations WHERE name = $1`, m.Name))
}

// auditBackfill counts every row the backfill updates (statement-level, so it costs
// little), to measure how much work a crash makes zdm redo.
func auditBackfill(t *testing.T, pool *pgxpool.Pool) {
	t.Helper()
	exec1(t, pool, `CREATE TABLE backfill_audit (rows bigint NOT NULL)`)
	exec1(t, pool, `CREATE FUNCTION audit_backfill() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN
		  IF current_setting('zdm.backfill', true) = 'on' THEN
		    INSERT INTO backfill_audit SELECT count(*) FROM new_rows;
		  END IF;
		  RETURN NULL;
		END $$`)
	exec1(t, pool, `CREATE TRIGGER audit_backfill AFTER UPDATE ON accounts REFERENCING NEW TABLE AS new_rows
		FOR EACH STATEMENT EXECUTE FUNCTION audit_backfill()`)
}

func TestWorkerKilledMidBackfillResumes(t *testing.T) {
	t.Parallel()
	dsn, pool := testDB(t)
	srv := startDevServer(t)
	queue := "zdm-e2e-" + randomSuffix()
	const rows, batch = 300_000, 2000
	accountsTable(t, pool, rows)
	auditBackfill(t, pool)
	next := &int64Counter{}
	next.v.Store(10_000_000)
	l := startLoad(t, pool, 2, oldCodeWrites(next))

	w := startWorkerProcess(t, srv.hostPort, queue, dsn, false)
	m := migration(t, fmt.Sprintf(`name: e2e-sigkill
table: accounts
operations:
  - change_type: {column: abalance, type: bigint}
backfill: {batch_size: %d, pause: 10ms}
`, batch))
	// Short slices and few per run: the backfill also continues as new several times.
	run := start(t, srv.Client, queue, m, workflows.Options{HeartbeatTimeout: 3 * time.Second, SliceBudget: time.Second, SlicesPerRun: 2})
	firstRun := run.GetRunID()

	waitFor(t, time.Minute, "a third of the backfill", func() bool {
		var n int64
		_ = pool.QueryRow(context.Background(), `SELECT coalesce((SELECT rows_done FROM zdm.migrations WHERE name = $1), 0)`, m.Name).Scan(&n)
		return n > rows/3
	})
	w.kill9(t)
	killedAt := scalar[int64](t, pool, `SELECT rows_done FROM zdm.migrations WHERE name = $1`, m.Name)
	require.Less(t, killedAt, int64(rows), "the worker must die mid-backfill")
	time.Sleep(2 * time.Second)
	startWorkerProcess(t, srv.hostPort, queue, dsn, false)

	waitForGate(t, srv.Client, m.Name, "contract", 3*time.Minute)
	l.stop()
	l.report(t)
	assert.Zero(t, l.errs.Load())
	assert.Zero(t, scalar[int64](t, pool, `SELECT count(*) FROM accounts WHERE _zdm_abalance IS DISTINCT FROM abalance::bigint`))
	upper := scalar[int64](t, pool, `SELECT count(*) FROM accounts WHERE aid <= (SELECT (cursor[1])::bigint FROM zdm.migrations WHERE name = $1)`, m.Name)
	updated := scalar[int64](t, pool, `SELECT coalesce(sum(rows), 0) FROM backfill_audit`)
	redone := updated - upper
	t.Logf("killed at %d rows; backfill updated %d rows for %d in range: %d redone (batch %d)", killedAt, updated, upper, redone, batch)
	assert.LessOrEqual(t, redone, int64(batch), "at most one batch may be redone after a crash")
	assert.GreaterOrEqual(t, redone, int64(0))

	approve(t, srv.Client, m.Name, "contract")
	res, err := result(t, run, time.Minute)
	require.NoError(t, err)
	assert.Equal(t, workflows.PhaseCompleted, res.Status)
	first, err := srv.Client.DescribeWorkflowExecution(context.Background(), run.GetID(), firstRun)
	require.NoError(t, err)
	assert.Equal(t, "ContinuedAsNew", first.GetWorkflowExecutionInfo().GetStatus().String(),
		"the backfill continued as new, and the gate and approval worked in a later run")
}

func TestDevServerRestartMidBackfill(t *testing.T) {
	t.Parallel()
	dsn, pool := testDB(t)
	srv := startOwnDevServer(t)
	queue := "zdm-e2e-" + randomSuffix()
	const rows = 300_000
	accountsTable(t, pool, rows)
	startWorkerProcess(t, srv.hostPort, queue, dsn, false)

	m := migration(t, `name: e2e-server-restart
table: accounts
operations:
  - add_column: {column: email_lower, type: text, backfill: "lower(email)"}
backfill: {batch_size: 2000, pause: 10ms}
gates: []
`)
	run := start(t, srv.Client, queue, m, workflows.Options{})
	runID := run.GetRunID()
	waitFor(t, time.Minute, "a third of the backfill", func() bool {
		var n int64
		_ = pool.QueryRow(context.Background(), `SELECT coalesce((SELECT rows_done FROM zdm.migrations WHERE name = $1), 0)`, m.Name).Scan(&n)
		return n > rows/3
	})
	srv.restart(3 * time.Second)
	during := scalar[int64](t, pool, `SELECT rows_done FROM zdm.migrations WHERE name = $1`, m.Name)
	t.Logf("dev server restarted with %d rows done", during)

	run = srv.Client.GetWorkflow(context.Background(), run.GetID(), runID)
	res, err := result(t, run, 3*time.Minute)
	require.NoError(t, err)
	assert.Equal(t, workflows.PhaseCompleted, res.Status)
	assert.Zero(t, scalar[int64](t, pool, `SELECT count(*) FROM accounts WHERE email_lower IS DISTINCT FROM lower(email)`))
}

// Cancelling in the middle of the backfill (zdm cancel, or Request Cancellation in the
// UI) rolls back: the table ends as it began.
func TestCancelMidBackfillRollsBack(t *testing.T) {
	t.Parallel()
	dsn, pool := testDB(t)
	srv := startDevServer(t)
	queue := "zdm-e2e-" + randomSuffix()
	inProcessWorker(t, srv.Client, queue, dsn, false)
	const rows = 200_000
	accountsTable(t, pool, rows)
	before := schemaSnapshot(t, pool)
	m := migration(t, `name: e2e-cancel
table: accounts
operations:
  - change_type: {column: abalance, type: bigint}
backfill: {batch_size: 2000, pause: 10ms}
`)
	run := start(t, srv.Client, queue, m, workflows.Options{SliceBudget: time.Second})
	waitFor(t, time.Minute, "a third of the backfill", func() bool {
		var n int64
		_ = pool.QueryRow(context.Background(), `SELECT coalesce((SELECT rows_done FROM zdm.migrations WHERE name = $1), 0)`, m.Name).Scan(&n)
		return n > rows/3
	})
	require.NoError(t, srv.Client.CancelWorkflow(context.Background(), run.GetID(), ""))
	_, err := result(t, run, time.Minute)
	require.Error(t, err)
	assert.True(t, temporal.IsCanceledError(err), "%v", err)
	assert.Equal(t, before, schemaSnapshot(t, pool))
	assert.Equal(t, "rolled_back", scalar[string](t, pool, `SELECT status FROM zdm.migrations WHERE name = $1`, m.Name))
}
