package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"

	"github.com/zdmhq/zdm/internal/demoapp"
	"github.com/zdmhq/zdm/internal/spec"
	"github.com/zdmhq/zdm/workflows"
)

const undoRows = 20_000

// undoTable makes table t of undoRows rows, with an index and a unique constraint on the
// columns the migrations replace.
func undoTable(t *testing.T, pool *pgxpool.Pool, tbl string) {
	t.Helper()
	exec1(t, pool, fmt.Sprintf(`CREATE TABLE %s (aid bigint PRIMARY KEY, bid int NOT NULL, abalance int NOT NULL DEFAULT 0, name text NOT NULL)`, tbl))
	exec1(t, pool, fmt.Sprintf(`INSERT INTO %s SELECT g, g %% 10, (g * 7) %% 100000, 'Name ' || g FROM generate_series(1, $1::bigint) g`, tbl), undoRows)
	exec1(t, pool, fmt.Sprintf(`CREATE INDEX %s_abalance_idx ON %s (abalance DESC)`, tbl, tbl))
	exec1(t, pool, fmt.Sprintf(`ALTER TABLE %s ADD CONSTRAINT %s_name_key UNIQUE (name)`, tbl, tbl))
}

// waitForPhase waits until the migration is in phase.
func waitForPhase(t *testing.T, c client.Client, name string, phase workflows.Phase, timeout time.Duration) workflows.Progress {
	t.Helper()
	var p workflows.Progress
	waitFor(t, timeout, "phase "+string(phase), func() bool {
		p = progress(t, c, name)
		if p.Phase.Final() && p.Phase != phase {
			t.Fatalf("migration %s ended (%s) before phase %s: %s", name, p.Phase, phase, p.LastError)
		}
		return p.Phase == phase
	})
	return p
}

func requestUndo(t *testing.T, c client.Client, name, update string) {
	t.Helper()
	h, err := c.UpdateWorkflow(context.Background(), client.UpdateWorkflowOptions{
		WorkflowID: spec.WorkflowID(name), UpdateName: update,
		Args: []any{workflows.UndoRequest{By: "e2e", Comment: "test"}}, WaitForStage: client.WorkflowUpdateStageCompleted,
	})
	require.NoError(t, err)
	require.NoError(t, h.Get(context.Background(), nil))
}

// The done-when: a completed rename and a completed type change are reverted
// inside their undo window, keeping the writes made after contract, across a worker
// killed and started again during the window; another migration is finalized when its
// (short) window ends, by the worker started after the kill.
func TestUndoWindowRevertsAndFinalizes(t *testing.T) {
	need(t, "DATABASE_URL")
	srv := startDevServer(t)
	c := srv.Client
	dsn, pool := testDB(t)
	queue := "zdm-undo-" + randomSuffix()
	for _, tbl := range []string{"acc_rename", "acc_retype", "acc_final"} {
		undoTable(t, pool, tbl)
	}
	w := startWorkerProcess(t, srv.hostPort, queue, dsn, false)

	mig := func(name, table, op, window string) spec.Migration {
		return migration(t, fmt.Sprintf("name: %s\ntable: %s\noperations:\n  - %s\nbackfill: {batch_size: 5000}\ngates: []\nundo_window: %s\n", name, table, op, window))
	}
	rename := mig("undo-rename-"+randomSuffix(), "acc_rename", "rename_column: {column: name, to: full_name}", "1h")
	retype := mig("undo-retype-"+randomSuffix(), "acc_retype", "change_type: {column: abalance, type: bigint}", "1h")
	final := mig("undo-final-"+randomSuffix(), "acc_final", "rename_column: {column: name, to: full_name}", "40s")
	runs := map[string]client.WorkflowRun{}
	for _, m := range []spec.Migration{rename, retype, final} {
		runs[m.Name] = start(t, c, queue, m, workflows.Options{})
	}

	p := waitForPhase(t, c, rename.Name, workflows.PhaseUndoWindow, 2*time.Minute)
	assert.WithinDuration(t, time.Now().Add(time.Hour), p.UndoUntil, 2*time.Minute, "the window ends an hour after contract")
	waitForPhase(t, c, retype.Name, workflows.PhaseUndoWindow, 2*time.Minute)

	// Contracted: new code writes the new shape only.
	assert.Equal(t, "_zdm_undo_name", scalar[string](t, pool, `SELECT attname::text FROM pg_attribute WHERE attrelid = 'acc_rename'::regclass AND attname LIKE '\_zdm\_undo%'`))
	exec1(t, pool, `INSERT INTO acc_rename (aid, bid, full_name) VALUES (900001, 1, 'after contract')`)
	exec1(t, pool, `UPDATE acc_rename SET full_name = 'renamed after contract' WHERE aid = 7`)
	exec1(t, pool, `INSERT INTO acc_retype (aid, bid, abalance, name) VALUES (900001, 1, 2000000001::bigint, 'n')`)
	exec1(t, pool, `UPDATE acc_retype SET abalance = 1999999999::bigint WHERE aid = 7`)
	assert.Equal(t, "bigint", scalar[string](t, pool, `SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = 'acc_retype'::regclass AND attname = 'abalance'`))

	// A worker restart during the window changes nothing: the timer is durable. The
	// third migration's window ends after the restart, and the new worker finalizes it.
	pf := waitForPhase(t, c, final.Name, workflows.PhaseUndoWindow, 2*time.Minute)
	require.True(t, pf.UndoUntil.After(time.Now().Add(5*time.Second)), "the short window is still open when the worker is killed (ends %s)", pf.UndoUntil)
	w.kill9(t)
	startWorkerProcess(t, srv.hostPort, queue, dsn, false)
	assert.Equal(t, workflows.PhaseUndoWindow, progress(t, c, rename.Name).Phase)
	assert.Equal(t, workflows.PhaseUndoWindow, progress(t, c, final.Name).Phase)

	requestUndo(t, c, rename.Name, workflows.UpdateRevert)
	requestUndo(t, c, retype.Name, workflows.UpdateRevert)
	for _, m := range []spec.Migration{rename, retype, final} {
		res, err := result(t, runs[m.Name], 3*time.Minute)
		require.NoError(t, err, m.Name)
		want := workflows.PhaseReverted
		if m.Name == final.Name {
			want = workflows.PhaseCompleted
		}
		assert.Equal(t, want, res.Status, m.Name)
		if file := map[string]string{rename.Name: "undo-revert.json", final.Name: "undo-finalize.json"}[m.Name]; file != "" {
			recordHistory(t, c, runs[m.Name], file)
		}
	}

	// Reverted: the old schema, with every write made after contract.
	assert.Equal(t, "after contract", scalar[string](t, pool, `SELECT name FROM acc_rename WHERE aid = 900001`))
	assert.Equal(t, "renamed after contract", scalar[string](t, pool, `SELECT name FROM acc_rename WHERE aid = 7`))
	assert.Equal(t, int64(0), scalar[int64](t, pool, `SELECT count(*) FROM pg_attribute WHERE attrelid = 'acc_rename'::regclass AND NOT attisdropped AND attname IN ('full_name', '_zdm_undo_name')`))
	assert.Equal(t, "UNIQUE (name)", scalar[string](t, pool, `SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = 'acc_rename_name_key'`))
	assert.Equal(t, "integer", scalar[string](t, pool, `SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = 'acc_retype'::regclass AND attname = 'abalance'`))
	assert.Equal(t, int64(2000000001), scalar[int64](t, pool, `SELECT abalance FROM acc_retype WHERE aid = 900001`))
	assert.Equal(t, int64(1999999999), scalar[int64](t, pool, `SELECT abalance FROM acc_retype WHERE aid = 7`))
	assert.Equal(t, "CREATE INDEX acc_retype_abalance_idx ON public.acc_retype USING btree (abalance DESC)",
		scalar[string](t, pool, `SELECT pg_get_indexdef('acc_retype_abalance_idx'::regclass)`))
	assert.Equal(t, int64(undoRows+1), scalar[int64](t, pool, `SELECT count(*) FROM acc_retype`))
	for _, m := range []spec.Migration{rename, retype} {
		assert.Equal(t, "reverted", scalar[string](t, pool, `SELECT status FROM zdm.migrations WHERE name = $1`, m.Name))
	}

	// Finalized at the window's end: the new shape, nothing of zdm's left.
	assert.Equal(t, "completed", scalar[string](t, pool, `SELECT status FROM zdm.migrations WHERE name = $1`, final.Name))
	assert.Equal(t, int64(0), scalar[int64](t, pool, `SELECT count(*) FROM pg_attribute WHERE attrelid = 'acc_final'::regclass AND NOT attisdropped AND attname IN ('name', '_zdm_undo_name')`))
	assert.Equal(t, "UNIQUE (full_name)", scalar[string](t, pool, `SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = 'acc_final_name_key'`))
	assert.Equal(t, int64(0), scalar[int64](t, pool, `SELECT count(*) FROM pg_trigger WHERE tgname LIKE '%zdm%'`))
	assert.Equal(t, int64(0), scalar[int64](t, pool, `SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'zdm'`))
}

// TestUndoWindowRevertWithTheDemoAppRunning reverts the demo migration during its undo
// window while the demo application reads and writes through its Unleash flags the
// whole time: after contract it runs as new code, revert moves it back to old code, and
// it must not see a single error.
func TestUndoWindowRevertWithTheDemoAppRunning(t *testing.T) {
	t.Parallel()
	fl := newFlagged(t, 50_000)
	dsn, pool, srv, queue, fc := fl.dsn, fl.pool, fl.srv, fl.queue, fl.fc

	m := exampleMigration(t, randomSuffix())
	m.Gates = []string{}
	m.UndoWindow = spec.Duration(time.Hour)
	archiveFlagsAtEnd(t, fc, m)
	app, err := demoapp.New(flaggedAppConfig(dsn, m.Flags.DualWrite, m.Flags.ReadNew))
	require.NoError(t, err)
	stopApp := runApp(t, app)

	run := start(t, srv.Client, queue, m, workflows.Options{})
	waitForPhase(t, srv.Client, m.Name, workflows.PhaseUndoWindow, 3*time.Minute)
	newOps := app.Stats().ModeOps[string(demoapp.ModeNew)]
	waitFor(t, 20*time.Second, "the app to run as new code in the window", func() bool {
		return app.Stats().ModeOps[string(demoapp.ModeNew)] > newOps+100
	})
	// The customer new code inserted during the window, to find again under the old name.
	var id int64
	var fullName string
	require.NoError(t, pool.QueryRow(context.Background(), `SELECT id, full_name FROM customers ORDER BY id DESC LIMIT 1`).Scan(&id, &fullName))

	requestUndo(t, srv.Client, m.Name, workflows.UpdateRevert)
	res, err := result(t, run, 2*time.Minute)
	require.NoError(t, err)
	assert.Equal(t, workflows.PhaseReverted, res.Status)
	assert.False(t, flagOn(t, fc, m.Flags.DualWrite))
	assert.False(t, flagOn(t, fc, m.Flags.ReadNew))
	oldOps := app.Stats().ModeOps[string(demoapp.ModeOld)]
	waitFor(t, 20*time.Second, "the app to run as old code again", func() bool {
		return app.Stats().ModeOps[string(demoapp.ModeOld)] > oldOps+100
	})
	require.NoError(t, stopApp())
	st := app.Stats()
	t.Logf("demo app: %d ops, %d errors, max latency %s, p99 %s, per mode %v", st.Ops, st.Errors, st.MaxLatency, st.P99, st.ModeOps)
	assert.Zero(t, st.Errors, "the application must not see a single error: %v", st.FirstErrors)

	assert.Equal(t, fullName, scalar[string](t, pool, `SELECT name FROM customers WHERE id = $1`, id), "a row new code wrote in the window, under the old name")
	assert.Zero(t, scalar[int64](t, pool, `SELECT count(*) FROM information_schema.columns WHERE table_name = 'customers' AND column_name IN ('full_name', 'email_lower', '_zdm_undo_name')`))
	assert.Equal(t, "NO", scalar[string](t, pool, `SELECT is_nullable FROM information_schema.columns WHERE table_name = 'customers' AND column_name = 'name'`))
}
