package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/zdmhq/zdm/internal/cli"
	"github.com/zdmhq/zdm/internal/fleet"
	"github.com/zdmhq/zdm/internal/spec"
	"github.com/zdmhq/zdm/workflows"
)

// fleetDB is one database of a test fleet: an orders table with a note column, or, when
// broken, without it (the migration's backfill reads note, so it fails there).
type fleetDB struct {
	name, env, dsn string
	pool           *pgxpool.Pool
}

func newFleetDB(t *testing.T, name string, broken bool) fleetDB {
	t.Helper()
	dsn, pool := testDB(t)
	if broken {
		exec1(t, pool, `CREATE TABLE orders (id bigint PRIMARY KEY, amount int NOT NULL)`)
	} else {
		exec1(t, pool, `CREATE TABLE orders (id bigint PRIMARY KEY, amount int NOT NULL, note text)`)
	}
	exec1(t, pool, `INSERT INTO orders (id, amount) SELECT g, g FROM generate_series(1, 500) g`)
	if !broken {
		exec1(t, pool, `UPDATE orders SET note = 'Note ' || id`)
	}
	return fleetDB{name: name, env: "ZDM_E2E_FLEET_" + strings.ToUpper(name) + "_URL", dsn: dsn, pool: pool}
}

func (d fleetDB) migrated(t *testing.T) bool {
	t.Helper()
	return scalar[bool](t, d.pool, `SELECT EXISTS (SELECT FROM pg_attribute WHERE attrelid = 'orders'::regclass AND attname = 'note_lower' AND NOT attisdropped)`)
}

// startFleetWorker runs bin/zdm-worker as its own process serving the fleet's databases,
// their URLs in its environment only.
func startFleetWorker(t *testing.T, hostPort, queue, mainDSN string, dbs []fleetDB) {
	t.Helper()
	logf, err := os.Create(filepath.Join(t.TempDir(), "fleet-worker.log"))
	require.NoError(t, err)
	cmd := exec.Command(workerBinary(t))
	var names []string
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "DATABASE_URL=" + mainDSN, "TEMPORAL_ADDRESS=" + hostPort,
		"ZDM_TASK_QUEUE=" + queue, "ZDM_STOP_TIMEOUT=10s", "ZDM_METRICS_ADDR=off"}
	for _, d := range dbs {
		cmd.Env = append(cmd.Env, d.env+"="+d.dsn)
		names = append(names, d.env)
	}
	cmd.Env = append(cmd.Env, "ZDM_TARGET_ENVS="+strings.Join(names, ","))
	cmd.Stdout, cmd.Stderr = logf, logf
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			out, _ := os.ReadFile(logf.Name())
			t.Logf("worker log:\n%s", out)
		}
		logf.Close()
	})
}

// writeTargets writes a targets file for dbs; waves are lists of target names.
func writeTargets(t *testing.T, dbs []fleetDB, settings string, waves ...[]string) *fleet.Targets {
	t.Helper()
	var b strings.Builder
	b.WriteString("targets:\n")
	for _, d := range dbs {
		fmt.Fprintf(&b, "  - name: %s\n    url_env: %s\n", d.name, d.env)
	}
	b.WriteString("waves:\n")
	for i, w := range waves {
		fmt.Fprintf(&b, "  - name: wave%d\n    targets: [%s]\n", i+1, strings.Join(w, ", "))
	}
	b.WriteString(settings)
	file := filepath.Join(t.TempDir(), "targets.yaml")
	require.NoError(t, os.WriteFile(file, []byte(b.String()), 0o600))
	ts, err := fleet.ParseFile(file)
	require.NoError(t, err)
	return ts
}

const fleetMigrationYAML = `name: %s
table: orders
operations:
  - add_column: {column: note_lower, type: text, backfill: "lower(note)"}
gates: []
`

// startFleet starts the fleet's parent workflow on the test's own task queue (zdm start
// --targets uses queue "zdm", which another test of this package serves).
func startFleet(t *testing.T, c client.Client, queue string, m spec.Migration, ts *fleet.Targets) client.WorkflowRun {
	t.Helper()
	run, err := c.ExecuteWorkflow(context.Background(), client.StartWorkflowOptions{ID: spec.WorkflowID(m.Name), TaskQueue: queue},
		workflows.FleetWorkflow, workflows.FleetInput{Migration: m, Targets: *ts, StartedBy: "e2e"})
	require.NoError(t, err)
	return run
}

func fleetQuery(t *testing.T, c client.Client, name string) workflows.FleetProgress {
	t.Helper()
	var p workflows.FleetProgress
	v, err := c.QueryWorkflow(context.Background(), spec.WorkflowID(name), "", workflows.QueryFleet)
	require.NoError(t, err)
	require.NoError(t, v.Get(&p))
	return p
}

func fleetStatuses(p workflows.FleetProgress) map[string]workflows.TargetStatus {
	out := map[string]workflows.TargetStatus{}
	for _, t := range p.Targets {
		out[t.Name] = t.Status
	}
	return out
}

// The done-when, continue: three databases in two waves with a gate between
// them; the broken one fails in the second wave, the others complete, the fleet reports
// it. zdm status lists every database and zdm approve opens the wave.
func TestFleetContinuesPastAFailedDatabase(t *testing.T) {
	need(t, "DATABASE_URL")
	srv := startDevServer(t)
	c := srv.Client
	queue := "zdm-fleet-" + randomSuffix()
	dbs := []fleetDB{newFleetDB(t, "staging", false), newFleetDB(t, "eu1", true), newFleetDB(t, "us1", false)}
	startFleetWorker(t, srv.hostPort, queue, dbs[0].dsn, dbs)
	ts := writeTargets(t, dbs, "concurrency: 2\ngate_between_waves: true\non_failure: continue\n",
		[]string{"staging"}, []string{"eu1", "us1"})
	name := "e2e-fleet-cont-" + randomSuffix()
	run := startFleet(t, c, queue, migration(t, fmt.Sprintf(fleetMigrationYAML, name)), ts)
	zdmc := zdmCLI(t, srv.hostPort, "")

	waitFor(t, 2*time.Minute, "the gate before wave2", func() bool {
		return fleetQuery(t, c, name).AwaitingGate == "wave:wave2"
	})
	assert.True(t, dbs[0].migrated(t), "staging migrated in the first wave")
	assert.False(t, dbs[2].migrated(t), "us1 waits for the gate")
	code, out, _ := zdmc("status", name)
	require.Equal(t, cli.ExitOK, code)
	assert.Contains(t, out, "awaiting_approval")
	assert.Contains(t, out, "zdm approve "+name+" --gate wave:wave2")
	assert.Regexp(t, `staging\s+wave1\s+completed\s+completed`, out)
	assert.Regexp(t, `us1\s+wave2\s+pending`, out)

	code, _, errOut := zdmc("approve", name, "--gate", "contract")
	assert.Equal(t, cli.ExitFailed, code)
	assert.Contains(t, errOut, "wave gates only")
	code, _, _ = zdmc("approve", name, "--gate", "wave:wave2")
	require.Equal(t, cli.ExitOK, code)

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	err := run.Get(ctx, nil)
	require.Error(t, err, "a fleet with a failed database fails")
	assert.Contains(t, err.Error(), "1 of 3 databases did not complete: eu1 (failed:")
	assert.Contains(t, err.Error(), "note")

	p := fleetQuery(t, c, name)
	assert.Equal(t, workflows.FleetFailed, p.Phase)
	assert.Equal(t, map[string]workflows.TargetStatus{"staging": "completed", "eu1": "failed", "us1": "completed"}, fleetStatuses(p))
	assert.True(t, dbs[2].migrated(t), "us1 migrated though eu1 failed beside it")
	assert.False(t, scalar[bool](t, dbs[1].pool, `SELECT EXISTS (SELECT FROM pg_attribute WHERE attrelid = 'orders'::regclass AND attname = 'note_lower')`), "eu1 unchanged")
	assert.EqualValues(t, 500, scalar[int64](t, dbs[2].pool, `SELECT count(*) FROM orders WHERE note_lower = lower(note)`))
	// Each database's migration is a workflow of its own, readable by its name.
	assert.Equal(t, workflows.PhaseCompleted, progress(t, c, name+"-us1").Phase)

	recordHistory(t, c, run, "fleet-continue.json")

	code, out, _ = zdmc("status", name)
	require.Equal(t, cli.ExitOK, code)
	assert.Regexp(t, `eu1\s+wave2\s+failed\s+-\s+.*column "note" does not exist`, out)
	assert.Contains(t, out, "wave:wave2 approved by e2e-ci")
}

// The done-when, stop: the broken database fails first; the database after it
// in its wave and the whole next wave are never started.
func TestFleetStopsAfterAFailedDatabase(t *testing.T) {
	need(t, "DATABASE_URL")
	srv := startDevServer(t)
	c := srv.Client
	queue := "zdm-fleet-" + randomSuffix()
	dbs := []fleetDB{newFleetDB(t, "bad", true), newFleetDB(t, "next", false), newFleetDB(t, "later", false)}
	startFleetWorker(t, srv.hostPort, queue, dbs[1].dsn, dbs)
	ts := writeTargets(t, dbs, "concurrency: 1\non_failure: stop\n", []string{"bad", "next"}, []string{"later"})
	name := "e2e-fleet-stop-" + randomSuffix()
	run := startFleet(t, c, queue, migration(t, fmt.Sprintf(fleetMigrationYAML, name)), ts)

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	err := run.Get(ctx, nil)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "1 of 3 databases did not complete: bad (failed:")
	assert.Contains(t, err.Error(), "the fleet stopped (on_failure: stop)")
	p := fleetQuery(t, c, name)
	assert.Equal(t, workflows.FleetStopped, p.Phase)
	assert.Equal(t, map[string]workflows.TargetStatus{"bad": "failed", "next": "not_started", "later": "not_started"}, fleetStatuses(p))
	assert.False(t, dbs[1].migrated(t))
	assert.False(t, dbs[2].migrated(t))
	for _, id := range []string{name + "-next", name + "-later"} {
		_, err := c.DescribeWorkflowExecution(context.Background(), spec.WorkflowID(id), "")
		assert.Error(t, err, "%s was never started", id)
	}
}

// A targets file naming a variable the worker does not serve starts nothing.
func TestFleetRefusesATargetTheWorkerDoesNotServe(t *testing.T) {
	need(t, "DATABASE_URL")
	srv := startDevServer(t)
	c := srv.Client
	queue := "zdm-fleet-" + randomSuffix()
	dbs := []fleetDB{newFleetDB(t, "one", false), newFleetDB(t, "two", false)}
	startFleetWorker(t, srv.hostPort, queue, dbs[0].dsn, dbs[:1])
	ts := writeTargets(t, dbs, "", []string{"one", "two"})
	name := "e2e-fleet-unserved-" + randomSuffix()
	run := startFleet(t, c, queue, migration(t, fmt.Sprintf(fleetMigrationYAML, name)), ts)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	err := run.Get(ctx, nil)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "the worker serves no target "+dbs[1].env)
	assert.False(t, dbs[0].migrated(t), "nothing started")
}

// Cancelling a fleet cancels each running migration, which rolls back; the fleet ends
// once they have.
func TestFleetCancelRollsBackRunningDatabases(t *testing.T) {
	need(t, "DATABASE_URL")
	srv := startDevServer(t)
	c := srv.Client
	queue := "zdm-fleet-" + randomSuffix()
	dbs := []fleetDB{newFleetDB(t, "one", false), newFleetDB(t, "two", false), newFleetDB(t, "three", false)}
	startFleetWorker(t, srv.hostPort, queue, dbs[0].dsn, dbs)
	ts := writeTargets(t, dbs, "concurrency: 2\n", []string{"one", "two"}, []string{"three"})
	name := "e2e-fleet-cancel-" + randomSuffix()
	m := migration(t, strings.Replace(fmt.Sprintf(fleetMigrationYAML, name), "gates: []", "gates: [contract]", 1))
	run := startFleet(t, c, queue, m, ts)
	for _, target := range []string{"one", "two"} {
		waitForGate(t, c, name+"-"+target, "contract", 2*time.Minute)
	}
	require.NoError(t, c.CancelWorkflow(context.Background(), spec.WorkflowID(name), ""))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	err := run.Get(ctx, nil)
	require.Error(t, err)
	assert.True(t, temporal.IsCanceledError(err), err.Error())
	for _, target := range []string{"one", "two"} {
		assert.Equal(t, workflows.PhaseRolledBack, progress(t, c, name+"-"+target).Phase, target)
	}
	for _, d := range dbs {
		assert.False(t, d.migrated(t), d.name)
	}
	assert.Equal(t, map[string]workflows.TargetStatus{"one": "canceled", "two": "canceled", "three": "not_started"}, fleetStatuses(fleetQuery(t, c, name)))
}
