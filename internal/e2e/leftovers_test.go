package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"golang.org/x/term"

	"github.com/zdmhq/zdm/internal/cli"
	"github.com/zdmhq/zdm/internal/spec"
	"github.com/zdmhq/zdm/workflows"
)

// zdm runs the zdm CLI in the test process against the dev server and the database.
func zdm(t *testing.T, srv *devServer, dsn string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	env := map[string]string{"DATABASE_URL": dsn, "TEMPORAL_ADDRESS": srv.hostPort, "USER": "e2e"}
	app := &cli.App{
		Stdout: &out, Stderr: &errOut,
		Getenv:       func(k string) string { return env[k] },
		Dial:         client.DialContext,
		Terminal:     func() (bool, int) { return false, 0 },
		Now:          time.Now,
		PollInterval: 100 * time.Millisecond,
	}
	code = app.Run(context.Background(), args)
	t.Logf("zdm %v: exit %d\n%s%s", args, code, out.String(), errOut.String())
	return code, out.String(), errOut.String()
}

func leftoverObjects(l cli.Leftover) map[string]bool {
	out := map[string]bool{}
	for _, o := range l.Left {
		out[o.Kind+" "+o.Name] = true
	}
	return out
}

// A migration whose workflow is terminated in the UI leaves its expand and its claim:
// zdm leftovers shows them, with what is still in the database, and zdm cleanup removes
// them, after which the table is as it began and the next migration can claim it.
func TestTerminatedMigrationIsCleanedUp(t *testing.T) {
	t.Parallel()
	dsn, pool := testDB(t)
	srv := startDevServer(t)
	queue := "zdm-e2e-" + randomSuffix()
	inProcessWorker(t, srv.Client, queue, dsn, false)
	accountsTable(t, pool, 20_000)
	before := schemaSnapshot(t, pool)

	// Small slices, one per run: the workflow continues as new several times, so the
	// plan is in the first run's history and the termination in the last.
	m := migration(t, `name: e2e-leftover
table: accounts
operations:
  - change_type: {column: abalance, type: bigint}
  - rename_column: {column: name, to: full_name}
  - add_column: {column: email_lower, type: text, backfill: "lower(email)", not_null: true, default: "''"}
backfill: {batch_size: 500, pause: 20ms}
gates: [contract]
`)
	run := start(t, srv.Client, queue, m, workflows.Options{SliceBudget: 200 * time.Millisecond, SlicesPerRun: 1})
	p := waitForGate(t, srv.Client, m.Name, "contract", 2*time.Minute)
	require.Equal(t, int64(20_000), p.RowsDone)
	desc, err := srv.Client.DescribeWorkflowExecution(context.Background(), run.GetID(), "")
	require.NoError(t, err)
	require.NotEqual(t, run.GetRunID(), desc.GetWorkflowExecutionInfo().GetExecution().GetRunId(), "the workflow should have continued as new")

	// A live migration is no leftover, and cleanup refuses it.
	code, out, _ := zdm(t, srv, dsn, "leftovers")
	require.Equal(t, cli.ExitOK, code)
	assert.Contains(t, out, "no leftover migrations")
	code, _, errOut := zdm(t, srv, dsn, "cleanup", m.Name, "--yes")
	assert.Equal(t, cli.ExitFailed, code)
	assert.Contains(t, errOut, "migration e2e-leftover is still running (phase awaiting_approval): use zdm cancel e2e-leftover, which rolls back through the workflow")

	// Someone terminates the workflow in the Temporal UI.
	require.NoError(t, srv.Client.TerminateWorkflow(context.Background(), run.GetID(), "", "terminated in the UI"))
	assert.NotEqual(t, before, schemaSnapshot(t, pool), "the expand is still there")
	assert.Equal(t, "running", scalar[string](t, pool, `SELECT status FROM zdm.migrations WHERE name = $1`, m.Name))
	// A sync function of no migration: listed, never touched.
	exec1(t, pool, `CREATE FUNCTION zdm.sync_ghost() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RETURN NEW; END$$`)

	code, out, _ = zdm(t, srv, dsn, "leftovers", "--json")
	require.Equal(t, cli.ExitOK, code)
	var v cli.LeftoversView
	require.NoError(t, json.Unmarshal([]byte(out), &v))
	require.Len(t, v.Migrations, 1)
	l := v.Migrations[0]
	assert.Equal(t, m.Name, l.Name)
	assert.Equal(t, "public.accounts", l.Table)
	assert.Equal(t, "Terminated", l.Workflow)
	assert.Equal(t, run.GetRunID(), l.RunID)
	assert.True(t, l.Planned)
	assert.False(t, l.ContractBegan)
	assert.Empty(t, l.Gone)
	left := leftoverObjects(l)
	for _, want := range []string{
		"trigger zz_zdm_sync_e2e-leftover", `function "zdm"."sync_e2e-leftover"()`,
		"column _zdm_abalance", "column full_name", "column email_lower",
		"check _zdm_nn_abalance", "check _zdm_nn_full_name", "check _zdm_nn_email_lower",
		"index _zdm_accounts_abalance_idx", "index _zdm_accounts_name_key",
	} {
		assert.True(t, left[want], "leftovers should list %s: %v", want, l.Left)
	}
	require.Len(t, v.Unexplained, 1, "%v", v.Unexplained)
	assert.Equal(t, "function", v.Unexplained[0].Kind)
	assert.Equal(t, "zdm.sync_ghost()", v.Unexplained[0].Name)

	code, out, _ = zdm(t, srv, dsn, "leftovers")
	require.Equal(t, cli.ExitOK, code)
	for _, want := range []string{
		"migration e2e-leftover on public.accounts",
		"zdm-e2e-leftover Terminated (run " + run.GetRunID() + "), not running",
		"zdm.migrations says running since",
		"trigger zz_zdm_sync_e2e-leftover on public.accounts",
		"column full_name",
		"zdm cleanup e2e-leftover runs the rollback its plan recorded",
		"function zdm.sync_ghost()",
	} {
		assert.Contains(t, out, want)
	}

	// Without --yes and without a terminal to ask on, nothing happens.
	if !term.IsTerminal(int(os.Stdin.Fd())) {
		code, out, errOut = zdm(t, srv, dsn, "cleanup", m.Name)
		assert.Equal(t, cli.ExitUsage, code)
		assert.Contains(t, out, `DROP TRIGGER IF EXISTS "zz_zdm_sync_e2e-leftover"`, "the rollback is shown")
		assert.Contains(t, errOut, "nothing was done")
		assert.Equal(t, "running", scalar[string](t, pool, `SELECT status FROM zdm.migrations WHERE name = $1`, m.Name))
		assert.True(t, scalar[bool](t, pool, `SELECT EXISTS (SELECT 1 FROM pg_trigger WHERE tgname = 'zz_zdm_sync_e2e-leftover')`))
	}

	code, out, _ = zdm(t, srv, dsn, "cleanup", m.Name, "--yes")
	require.Equal(t, cli.ExitOK, code)
	assert.Contains(t, out, "-- cleanup/guard")
	assert.Contains(t, out, `ALTER TABLE "public"."accounts" DROP COLUMN IF EXISTS "full_name"`)
	assert.Contains(t, out, "nothing of migration e2e-leftover is left in public.accounts")
	assert.Contains(t, out, "zdm.migrations marks migration e2e-leftover rolled_back; public.accounts is free for the next migration")

	assert.True(t, scalar[bool](t, pool, `SELECT to_regprocedure('zdm.sync_ghost()') IS NOT NULL`), "cleanup touches only what the plan names")
	exec1(t, pool, `DROP FUNCTION zdm.sync_ghost()`)
	assert.Equal(t, before, schemaSnapshot(t, pool), "cleanup must leave the table as it began")
	assert.Equal(t, "rolled_back", scalar[string](t, pool, `SELECT status FROM zdm.migrations WHERE name = $1`, m.Name))

	code, out, _ = zdm(t, srv, dsn, "leftovers")
	require.Equal(t, cli.ExitOK, code)
	assert.Contains(t, out, "no leftover migrations")
	assert.Contains(t, out, "no zdm objects outside a running migration")
	code, _, errOut = zdm(t, srv, dsn, "cleanup", m.Name, "--yes")
	assert.Equal(t, cli.ExitFailed, code)
	assert.Contains(t, errOut, "migration e2e-leftover has already ended cleanly (zdm.migrations says rolled_back): there is nothing to clean up")
	code, _, _ = zdm(t, srv, dsn, "cleanup", "e2e-leftover-nosuch", "--yes")
	assert.Equal(t, cli.ExitNotFound, code)

	// The table is free: the next migration claims it, and cleanup leaves it alone.
	next := migration(t, `name: e2e-leftover-next
table: accounts
operations:
  - rename_column: {column: name, to: full_name}
gates: [contract]
`)
	nextRun := start(t, srv.Client, queue, next, workflows.Options{})
	waitForGate(t, srv.Client, next.Name, "contract", 2*time.Minute)
	assert.Equal(t, "running", scalar[string](t, pool, `SELECT status FROM zdm.migrations WHERE name = $1`, next.Name))
	code, _, errOut = zdm(t, srv, dsn, "cleanup", next.Name, "--yes")
	assert.Equal(t, cli.ExitFailed, code)
	assert.Contains(t, errOut, "use zdm cancel e2e-leftover-next")
	assert.True(t, scalar[bool](t, pool, `SELECT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = 'accounts'::regclass AND attname = 'full_name' AND NOT attisdropped)`))

	require.NoError(t, srv.Client.CancelWorkflow(context.Background(), spec.WorkflowID(next.Name), ""))
	_, err = result(t, nextRun, time.Minute)
	require.Error(t, err)
	assert.Equal(t, before, schemaSnapshot(t, pool))
}

// A migration that times out in the middle of its backfill leaves NOT VALID checks and
// no index copies yet: leftovers says which of the plan's objects are there and which
// are not, and cleanup removes what is.
func TestTimedOutMigrationIsCleanedUp(t *testing.T) {
	t.Parallel()
	dsn, pool := testDB(t)
	srv := startDevServer(t)
	queue := "zdm-e2e-" + randomSuffix()
	inProcessWorker(t, srv.Client, queue, dsn, false)
	const rows = 100_000
	accountsTable(t, pool, rows)
	before := schemaSnapshot(t, pool)
	m := migration(t, `name: e2e-leftover-timeout
table: accounts
operations:
  - change_type: {column: abalance, type: bigint}
backfill: {batch_size: 500, pause: 100ms}
`)
	run, err := srv.Client.ExecuteWorkflow(context.Background(), client.StartWorkflowOptions{
		ID: spec.WorkflowID(m.Name), TaskQueue: queue, WorkflowExecutionTimeout: 8 * time.Second,
	}, workflows.MigrationWorkflow, workflows.MigrationInput{Migration: m, Options: workflows.Options{SliceBudget: time.Second}})
	require.NoError(t, err)
	_, err = result(t, run, time.Minute)
	var timeout *temporal.TimeoutError
	require.ErrorAs(t, err, &timeout)
	done := scalar[int64](t, pool, `SELECT rows_done FROM zdm.migrations WHERE name = $1`, m.Name)
	require.True(t, done > 0 && done < rows, "timed out mid-backfill: %d rows done", done)

	code, out, _ := zdm(t, srv, dsn, "leftovers", "--json")
	require.Equal(t, cli.ExitOK, code)
	var v cli.LeftoversView
	require.NoError(t, json.Unmarshal([]byte(out), &v))
	require.Len(t, v.Migrations, 1)
	l := v.Migrations[0]
	assert.Equal(t, "TimedOut", l.Workflow)
	assert.Contains(t, l.Left, cli.Object{Kind: "check", Name: "_zdm_nn_abalance", Table: "public.accounts", Detail: "NOT VALID"})
	assert.Contains(t, l.Left, cli.Object{Kind: "column", Name: "_zdm_abalance", Table: "public.accounts"})
	assert.True(t, leftoverObjects(l)["trigger zz_zdm_sync_e2e-leftover-timeout"])
	assert.Equal(t, []cli.Object{{Kind: "index", Name: "_zdm_accounts_abalance_idx", Table: "public.accounts"}}, l.Gone,
		"the index copy is built after the backfill")
	assert.Empty(t, v.Unexplained)

	code, out, _ = zdm(t, srv, dsn, "cleanup", m.Name, "--yes")
	require.Equal(t, cli.ExitOK, code)
	assert.Contains(t, out, "zdm-e2e-leftover-timeout TimedOut")
	assert.Equal(t, before, schemaSnapshot(t, pool))
	assert.Equal(t, "rolled_back", scalar[string](t, pool, `SELECT status FROM zdm.migrations WHERE name = $1`, m.Name))
}
