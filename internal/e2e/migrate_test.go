package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"

	"github.com/zdmhq/zdm/internal/cli"
	"github.com/zdmhq/zdm/internal/pgexec"
	"github.com/zdmhq/zdm/internal/spec"
	"github.com/zdmhq/zdm/workflows"
)

// syncBuffer is a buffer the CLI writes to while the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// zdmCLI runs zdm in-process against the test's Temporal and database, as $USER e2e-ci.
func zdmCLI(t *testing.T, hostPort, dsn string) func(args ...string) (int, string, string) {
	return func(args ...string) (int, string, string) {
		t.Helper()
		var out, errOut syncBuffer
		code := zdmRun(t, hostPort, dsn, &out, &errOut, args...)
		return code, out.String(), errOut.String()
	}
}

func zdmRun(t *testing.T, hostPort, dsn string, out, errOut *syncBuffer, args ...string) int {
	t.Helper()
	env := map[string]string{"DATABASE_URL": dsn, "TEMPORAL_ADDRESS": hostPort, "USER": "e2e-ci"}
	app := &cli.App{Stdout: out, Stderr: errOut, Getenv: func(k string) string { return env[k] },
		Dial: client.DialContext, Terminal: func() (bool, int) { return false, 0 }, Now: time.Now,
		PollInterval: 100 * time.Millisecond}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	code := app.Run(ctx, args)
	t.Logf("zdm %s: exit %d\n%s%s", strings.Join(args, " "), code, out.String(), errOut.String())
	return code
}

func historyRows(t *testing.T, pool *pgxpool.Pool) []pgexec.Run {
	t.Helper()
	runs, err := pgexec.ReadRuns(context.Background(), pool)
	require.NoError(t, err)
	return runs
}

func workflowExists(c client.Client, name string) bool {
	_, err := c.DescribeWorkflowExecution(context.Background(), spec.WorkflowID(name), "")
	return err == nil
}

// zdm migrate applies a directory's migrations in the order of their numbers: it stops
// at a gate with --no-wait-gates and follows the waiting migration on the next run; a
// second run when all is applied starts nothing; a file edited after it was applied
// stops everything before it starts; zdm history and zdm status --dir tell the story;
// zdm baseline records migrations applied by hand.
func TestMigrateAppliesADirectoryInOrder(t *testing.T) {
	t.Parallel()
	dsn, pool := testDB(t)
	// zdm starts its workflows on task queue "zdm": a dev server of this test's own keeps
	// them away from the workers of other tests.
	srv := startOwnDevServer(t)
	inProcessWorker(t, srv.Client, workflows.TaskQueue, dsn, false)
	accountsTable(t, pool, 5000)
	zdm := zdmCLI(t, srv.hostPort, dsn)

	dir := filepath.Join(t.TempDir(), "migrations")
	require.NoError(t, os.MkdirAll(dir, 0o755))
	write := func(name, content string) string {
		path := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(path, []byte(content), 0o644))
		return path
	}
	// Written out of order on purpose: the numbers decide.
	write("003_add_column.yaml", "name: accounts-email-lower\ntable: accounts\noperations:\n  - add_column: {column: email_lower, type: text, backfill: \"lower(email)\"}\ngates: []\n")
	changeType := "name: accounts-abalance-bigint\ntable: accounts\noperations:\n  - change_type: {column: abalance, type: bigint}\ngates: [contract]\n"
	changeTypePath := write("002_change_type.yaml", changeType)
	write("001_create_index.yaml", "name: accounts-bid-idx\ntable: accounts\noperations:\n  - create_index: {name: accounts_bid_idx, columns: [bid]}\ngates: []\n")

	// 1. With --no-wait-gates: 001 completes, 002 stops at its contract gate, 003 waits.
	code, out, _ := zdm("migrate", dir, "--no-wait-gates")
	require.Equal(t, cli.ExitAtGate, code)
	assert.Contains(t, out, "[1/3] 001_create_index.yaml (migration accounts-bid-idx)")
	assert.Contains(t, out, "[2/3] 002_change_type.yaml (migration accounts-abalance-bigint)")
	assert.Contains(t, out, "zdm approve accounts-abalance-bigint --gate contract")
	assert.NotContains(t, out, "[3/3]")
	assert.False(t, workflowExists(srv.Client, "accounts-email-lower"), "003 is not started while 002 waits")
	runs := historyRows(t, pool)
	require.Len(t, runs, 2)
	assert.Equal(t, "accounts-bid-idx", runs[0].Name)
	assert.Equal(t, pgexec.StatusCompleted, runs[0].Status)
	assert.Equal(t, "accounts-abalance-bigint", runs[1].Name)
	assert.Equal(t, pgexec.StatusRunning, runs[1].Status)

	code, out, _ = zdm("status", "--dir", dir)
	require.Equal(t, cli.ExitOK, code)
	assert.Regexp(t, `001_create_index.yaml\s+accounts-bid-idx\s+applied\s+\S+ \S+ by e2e-ci`, out)
	assert.Regexp(t, `002_change_type.yaml\s+accounts-abalance-bigint\s+running\s+awaiting_approval.*, waits at gate contract \(zdm approve accounts-abalance-bigint --gate contract\)`, out)
	assert.Regexp(t, `003_add_column.yaml\s+accounts-email-lower\s+pending`, out)

	// 2. zdm migrate again, waiting at gates (the default): it follows 002, says how to
	// approve it once, and goes on with 003 once a person approved.
	var wg sync.WaitGroup
	wg.Add(1)
	var buf2, err2 syncBuffer
	go func() {
		defer wg.Done()
		code = zdmRun(t, srv.hostPort, dsn, &buf2, &err2, "migrate", dir)
	}()
	waitFor(t, time.Minute, "zdm migrate to wait at the gate", func() bool {
		return strings.Contains(buf2.String(), "waiting for the approval")
	})
	approve(t, srv.Client, "accounts-abalance-bigint", spec.GateContract)
	wg.Wait()
	out2 := buf2.String()
	require.Equal(t, cli.ExitOK, code, out2)
	assert.Contains(t, out2, "migration accounts-abalance-bigint is already running")
	assert.Equal(t, 1, strings.Count(out2, "zdm approve accounts-abalance-bigint --gate contract"), "the gate is explained once")
	assert.Contains(t, out2, "[2/2] 003_add_column.yaml (migration accounts-email-lower)")
	assert.Contains(t, out2, "done: 3 migrations applied (2 by this run)")

	runs = historyRows(t, pool)
	require.Len(t, runs, 3)
	for i, want := range []string{"001_create_index.yaml", "002_change_type.yaml", "003_add_column.yaml"} {
		assert.Equal(t, want, runs[i].File, "run %d", i)
		assert.Equal(t, pgexec.StatusCompleted, runs[i].Status)
		assert.Equal(t, "e2e-ci", runs[i].StartedBy)
		require.NotNil(t, runs[i].FinishedAt)
		if i > 0 {
			assert.False(t, runs[i].StartedAt.Before(*runs[i-1].FinishedAt), "%s started after %s ended", runs[i].File, runs[i-1].File)
		}
	}
	assert.Equal(t, spec.Checksum([]byte(changeType)), runs[1].Checksum)
	assert.Equal(t, "bigint", scalar[string](t, pool, `SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = 'accounts'::regclass AND attname = 'abalance'`))
	assert.EqualValues(t, 5000, scalar[int64](t, pool, `SELECT count(*) FROM accounts WHERE email_lower = lower(email)`))
	assert.True(t, scalar[bool](t, pool, `SELECT indisvalid FROM pg_index WHERE indexrelid = 'accounts_bid_idx'::regclass`))

	// 3. Everything applied: one line, nothing started, exit 0.
	code, out, _ = zdm("migrate", dir)
	require.Equal(t, cli.ExitOK, code)
	assert.Equal(t, "nothing to do: 3 migrations applied\n", out)
	assert.Len(t, historyRows(t, pool), 3)

	// 4. An applied file edited, and a new one: the edit is reported and nothing starts,
	// not even the new migration.
	write("004_set_default.yaml", "name: accounts-bid-default\ntable: accounts\noperations:\n  - set_default: {column: bid, default: \"1\"}\ngates: []\n")
	write("002_change_type.yaml", changeType+"# edited\n")
	code, out, errOut := zdm("migrate", dir)
	assert.Equal(t, cli.ExitFailed, code)
	assert.Contains(t, errOut, changeTypePath+" was edited after it was applied on ")
	assert.Contains(t, errOut, fmt.Sprintf("(checksum %s, now %s): it is not run again; restore it, or write a new migration",
		spec.Checksum([]byte(changeType))[:12], spec.Checksum([]byte(changeType + "# edited\n"))[:12]))
	assert.Contains(t, errOut, "nothing was started")
	assert.NotContains(t, out, "[1/")
	assert.Len(t, historyRows(t, pool), 3)
	assert.False(t, workflowExists(srv.Client, "accounts-bid-default"))

	code, out, _ = zdm("status", "--dir", dir)
	require.Equal(t, cli.ExitOK, code)
	assert.Contains(t, out, ": 2 applied, 1 pending, 1 edited")
	assert.Regexp(t, `002_change_type.yaml\s+accounts-abalance-bigint\s+edited\s+.*restore the file, or write a new migration`, out)
	assert.Regexp(t, `004_set_default.yaml\s+accounts-bid-default\s+pending`, out)

	// 5. zdm history lists every run, newest last.
	code, out, _ = zdm("history")
	require.Equal(t, cli.ExitOK, code)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	require.Len(t, lines, 4, out)
	assert.Regexp(t, `^NAME\s+FILE\s+CHECKSUM\s+STATUS\s+STARTED BY\s+STARTED\s+DURATION`, lines[0])
	assert.Regexp(t, `^accounts-bid-idx\s+001_create_index.yaml\s+[0-9a-f]{12}\s+completed\s+e2e-ci\s+`, lines[1])
	assert.Regexp(t, `^accounts-abalance-bigint\s+002_change_type.yaml\s+`+spec.Checksum([]byte(changeType))[:12]+`\s+completed\s+e2e-ci\s+\S+ \S+\s+\S+$`, lines[2])
	assert.Regexp(t, `^accounts-email-lower\s+003_add_column.yaml\s+`, lines[3])
	code, out, _ = zdm("history", "--json")
	require.Equal(t, cli.ExitOK, code)
	var asJSON []pgexec.Run
	require.NoError(t, json.Unmarshal([]byte(out), &asJSON))
	assert.Len(t, asJSON, 3)

	// 6. Restored, the file is applied again as far as zdm can tell, and 004 runs.
	write("002_change_type.yaml", changeType)
	code, out, _ = zdm("migrate", dir)
	require.Equal(t, cli.ExitOK, code)
	assert.Contains(t, out, "[1/1] 004_set_default.yaml")
	assert.Contains(t, out, "done: 4 migrations applied (1 by this run)")

	// 7. Baseline: a second directory whose first migration was applied by hand.
	exec1(t, pool, `CREATE INDEX accounts_email_idx ON accounts (email)`)
	dir2 := filepath.Join(t.TempDir(), "more")
	require.NoError(t, os.MkdirAll(dir2, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir2, "001_email_idx.yaml"), []byte("name: accounts-email-idx\ntable: accounts\noperations:\n  - create_index: {name: accounts_email_idx, columns: [email]}\ngates: []\n"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir2, "002_name_not_null.yaml"), []byte("name: accounts-email-default\ntable: accounts\noperations:\n  - set_default: {column: email, default: \"''\"}\ngates: []\n"), 0o644))
	code, out, _ = zdm("baseline", dir2, "--to", "001_email_idx.yaml")
	require.Equal(t, cli.ExitOK, code)
	assert.Contains(t, out, "baselined 001_email_idx.yaml (migration accounts-email-idx")
	code, out, _ = zdm("baseline", dir2, "--to", "001_email_idx.yaml")
	require.Equal(t, cli.ExitOK, code)
	assert.Equal(t, "nothing to do: 1 migrations already baselined\n", out)
	code, _, errOut = zdm("baseline", dir, "--to", "002_change_type.yaml")
	assert.Equal(t, cli.ExitFailed, code)
	assert.Contains(t, errOut, "nothing was baselined: 001_create_index.yaml (migration accounts-bid-idx) already has a run on this database (completed")

	code, out, _ = zdm("migrate", dir2)
	require.Equal(t, cli.ExitOK, code)
	assert.NotContains(t, out, "001_email_idx.yaml (migration")
	assert.Contains(t, out, "[1/1] 002_name_not_null.yaml (migration accounts-email-default)")
	assert.False(t, workflowExists(srv.Client, "accounts-email-idx"), "a baselined migration never runs")
	code, out, _ = zdm("history")
	require.Equal(t, cli.ExitOK, code)
	assert.Regexp(t, `accounts-email-idx\s+001_email_idx.yaml\s+[0-9a-f]{12}\s+baselined\s+e2e-ci\s+\S+ \S+\s+-`, out)
	code, out, _ = zdm("status", "--dir", dir2)
	require.Equal(t, cli.ExitOK, code)
	assert.Regexp(t, `001_email_idx.yaml\s+accounts-email-idx\s+applied\s+baselined`, out)
	assert.Contains(t, out, "in the history, with no file in "+dir2)
	assert.Regexp(t, `003_add_column.yaml\s+accounts-email-lower\s+completed`, out)
}

// Without zdm's schema, history says so and migrate creates nothing before it starts.
func TestMigrateHistoryOnAFreshDatabase(t *testing.T) {
	t.Parallel()
	dsn, pool := testDB(t)
	zdm := zdmCLI(t, "127.0.0.1:1", dsn)
	code, out, _ := zdm("history")
	require.Equal(t, cli.ExitOK, code)
	assert.Equal(t, "no migration has run on this database\n", out)
	assert.Zero(t, scalar[int64](t, pool, `SELECT count(*) FROM pg_namespace WHERE nspname = 'zdm'`), "reading creates nothing")
}

// A migration that fails stops the sequence with exit 1 and starts nothing after it; the
// next zdm migrate runs it again, then goes on.
func TestMigrateStopsAtAFailureAndRetriesIt(t *testing.T) {
	t.Parallel()
	dsn, pool := testDB(t)
	srv := startOwnDevServer(t)
	inProcessWorker(t, srv.Client, workflows.TaskQueue, dsn, false)
	accountsTable(t, pool, 2000)
	exec1(t, pool, `UPDATE accounts SET email = NULL WHERE aid = 7`)
	zdm := zdmCLI(t, srv.hostPort, dsn)

	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "001_email_not_null.yaml"), []byte("name: accounts-email-not-null\ntable: accounts\noperations:\n  - set_not_null: {column: email}\ngates: []\n"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "002_bid_default.yaml"), []byte("name: accounts-bid-default\ntable: accounts\noperations:\n  - set_default: {column: bid, default: \"1\"}\ngates: []\n"), 0o644))

	code, out, _ := zdm("migrate", dir)
	assert.Equal(t, cli.ExitFailed, code)
	assert.Contains(t, out, "stopped: 1 later migration(s) not started")
	assert.False(t, workflowExists(srv.Client, "accounts-bid-default"))
	runs := historyRows(t, pool)
	require.Len(t, runs, 1)
	assert.Contains(t, []string{pgexec.StatusRolledBack, pgexec.StatusFailed}, runs[0].Status)
	require.NotNil(t, runs[0].FinishedAt)

	exec1(t, pool, `UPDATE accounts SET email = 'x@example.com' WHERE aid = 7`)
	code, out, _ = zdm("migrate", dir)
	require.Equal(t, cli.ExitOK, code)
	assert.Contains(t, out, "its last run "+runs[0].Status)
	assert.Contains(t, out, "done: 2 migrations applied (2 by this run)")
	runs = historyRows(t, pool)
	require.Len(t, runs, 3, "the failed run is kept beside the new one")
	assert.Equal(t, "accounts-email-not-null", runs[1].Name)
	assert.Equal(t, pgexec.StatusCompleted, runs[1].Status)
	assert.NotEqual(t, runs[0].RunID, runs[1].RunID)
	assert.True(t, scalar[bool](t, pool, `SELECT attnotnull FROM pg_attribute WHERE attrelid = 'accounts'::regclass AND attname = 'email'`))
}
