package e2e

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/worker"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/zdmhq/zdm/activities"
	"github.com/zdmhq/zdm/internal/demoapp"
	"github.com/zdmhq/zdm/internal/flags"
	"github.com/zdmhq/zdm/internal/spec"
	"github.com/zdmhq/zdm/internal/testenv"
	"github.com/zdmhq/zdm/workflows"
)

func need(t *testing.T, vars ...string) { t.Helper(); testenv.Need(t, vars...) }

func randomSuffix() string { return testenv.Suffix() }

// testDB creates a database of the test's own and drops it afterwards.
func testDB(t *testing.T) (dsn string, pool *pgxpool.Pool) {
	t.Helper()
	return testenv.DB(t, "zdm_e2e")
}

func temporalBin(t *testing.T) string { t.Helper(); return testenv.TemporalBin(t) }

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// devServer is a real Temporal dev server with a persistent SQLite file, which a test
// may stop and start again.
type devServer struct {
	t        *testing.T
	hostPort string
	dbFile   string
	server   *testsuite.DevServer
	Client   client.Client
}

// shared is the dev server the tests of this package share: each uses task queues and
// workflow IDs of its own, and one server costs far less than one per test on two cores.
var shared struct {
	once sync.Once
	srv  *devServer
	dir  string
}

func TestMain(m *testing.M) {
	code := m.Run()
	if shared.srv != nil {
		shared.srv.stop()
	}
	if shared.dir != "" {
		_ = os.RemoveAll(shared.dir)
	}
	os.Exit(code)
}

// startDevServer returns the package's shared dev server, started on first use.
func startDevServer(t *testing.T) *devServer {
	t.Helper()
	bin := temporalBin(t)
	shared.once.Do(func() {
		dir, err := os.MkdirTemp("", "zdm-e2e-temporal")
		require.NoError(t, err)
		shared.dir = dir
		shared.srv = &devServer{t: t, hostPort: fmt.Sprintf("127.0.0.1:%d", freePort(t)), dbFile: filepath.Join(dir, "temporal.db")}
		shared.srv.start(bin)
	})
	if shared.srv == nil || shared.srv.Client == nil {
		t.Fatal("the shared Temporal dev server did not start")
	}
	return shared.srv
}

// startOwnDevServer starts a dev server for this test alone, which it may restart.
func startOwnDevServer(t *testing.T) *devServer {
	t.Helper()
	bin := temporalBin(t)
	d := &devServer{t: t, hostPort: fmt.Sprintf("127.0.0.1:%d", freePort(t)), dbFile: filepath.Join(t.TempDir(), "temporal.db")}
	d.start(bin)
	t.Cleanup(d.stop)
	return d
}

func (d *devServer) start(bin string) {
	d.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	srv, err := testsuite.StartDevServer(ctx, testsuite.DevServerOptions{
		ExistingPath:  bin,
		DBFilename:    d.dbFile,
		LogLevel:      "error",
		ClientOptions: &client.Options{HostPort: d.hostPort},
		SearchAttributes: temporal.NewSearchAttributes(
			workflows.MigrationPhase.ValueSet(""), workflows.MigrationTable.ValueSet("")),
		Stdout: devNull{}, Stderr: devNull{},
	})
	require.NoError(d.t, err, "start Temporal dev server")
	d.server = srv
	c, err := client.Dial(client.Options{HostPort: d.hostPort})
	require.NoError(d.t, err)
	d.Client = c
}

func (d *devServer) stop() {
	if d.Client != nil {
		d.Client.Close()
		d.Client = nil
	}
	if d.server != nil {
		_ = d.server.Stop()
		d.server = nil
	}
}

// restart stops the server and starts it again on the same port and SQLite file.
func (d *devServer) restart(down time.Duration) {
	d.stop()
	time.Sleep(down)
	d.start(temporalBin(d.t))
}

type devNull struct{}

func (devNull) Write(p []byte) (int, error) { return len(p), nil }

// inProcessWorker runs the workflow and activities inside the test process.
func inProcessWorker(t *testing.T, c client.Client, queue, dsn string, withFlags bool) worker.Worker {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), dsn)
	require.NoError(t, err)
	acts := &activities.Activities{DB: pool}
	if withFlags {
		cfg, err := flags.ConfigFromEnv()
		require.NoError(t, err)
		acts.Flags = flags.New(cfg)
	}
	w := worker.New(c, queue, worker.Options{WorkerStopTimeout: 10 * time.Second})
	w.RegisterWorkflow(workflows.MigrationWorkflow)
	w.RegisterActivity(acts)
	require.NoError(t, w.Start())
	t.Cleanup(func() {
		w.Stop()
		pool.Close()
	})
	return w
}

var buildOnce sync.Once
var workerBin string
var buildErr error

// workerBinary builds bin/zdm-worker once for tests that need a real process to kill.
func workerBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "zdm-e2e-bin")
		if err != nil {
			buildErr = err
			return
		}
		workerBin = filepath.Join(dir, "zdm-worker")
		_, file, _, _ := runtime.Caller(0)
		cmd := exec.Command("go", "build", "-o", workerBin, "./worker")
		cmd.Dir = filepath.Join(filepath.Dir(file), "..", "..")
		out, err := cmd.CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build ./worker: %v\n%s", err, out)
		}
	})
	require.NoError(t, buildErr)
	return workerBin
}

// workerProcess is bin/zdm-worker running as its own process.
type workerProcess struct {
	cmd *exec.Cmd
	log *os.File
}

func startWorkerProcess(t *testing.T, hostPort, queue, dsn string, withFlags bool) *workerProcess {
	t.Helper()
	logf, err := os.Create(filepath.Join(t.TempDir(), fmt.Sprintf("worker-%d.log", time.Now().UnixNano())))
	require.NoError(t, err)
	cmd := exec.Command(workerBinary(t))
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "DATABASE_URL=" + dsn, "TEMPORAL_ADDRESS=" + hostPort,
		"ZDM_TASK_QUEUE=" + queue, "ZDM_STOP_TIMEOUT=10s", "ZDM_METRICS_ADDR=off"}
	if withFlags {
		for _, v := range []string{"UNLEASH_URL", "UNLEASH_ADMIN_TOKEN", "UNLEASH_ENVIRONMENT"} {
			cmd.Env = append(cmd.Env, v+"="+os.Getenv(v))
		}
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	require.NoError(t, cmd.Start())
	p := &workerProcess{cmd: cmd, log: logf}
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			_ = p.cmd.Process.Kill()
			_ = p.cmd.Wait()
		}
		if t.Failed() {
			out, _ := os.ReadFile(logf.Name())
			t.Logf("worker log:\n%s", out)
		}
		logf.Close()
	})
	return p
}

func (p *workerProcess) kill9(t *testing.T) {
	t.Helper()
	require.NoError(t, p.cmd.Process.Kill())
	_ = p.cmd.Wait()
}

// migration parses a migration file held in a string.
func migration(t *testing.T, yaml string) spec.Migration {
	t.Helper()
	m, err := spec.Parse(t.Name()+".yaml", []byte(yaml))
	require.NoError(t, err)
	return *m
}

// start starts a migration on queue and returns its handle.
func start(t *testing.T, c client.Client, queue string, m spec.Migration, opts workflows.Options) client.WorkflowRun {
	t.Helper()
	run, err := c.ExecuteWorkflow(context.Background(), client.StartWorkflowOptions{
		ID:        spec.WorkflowID(m.Name),
		TaskQueue: queue,
	}, workflows.MigrationWorkflow, workflows.MigrationInput{Migration: m, Options: opts})
	require.NoError(t, err)
	return run
}

// progress queries the running migration, retrying while the worker is away.
func progress(t *testing.T, c client.Client, name string) workflows.Progress {
	t.Helper()
	var p workflows.Progress
	var err error
	for i := 0; i < 50; i++ {
		var v interface{ Get(any) error }
		v, err = c.QueryWorkflow(context.Background(), spec.WorkflowID(name), "", workflows.QueryProgress)
		if err == nil {
			if err = v.Get(&p); err == nil {
				return p
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	require.NoError(t, err, "query progress of %s", name)
	return p
}

func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	testenv.WaitFor(t, timeout, what, cond)
}

// waitForGate waits until the migration waits at gate.
func waitForGate(t *testing.T, c client.Client, name, gate string, timeout time.Duration) workflows.Progress {
	t.Helper()
	var p workflows.Progress
	waitFor(t, timeout, "gate "+gate, func() bool {
		p = progress(t, c, name)
		if p.Phase.Final() {
			t.Fatalf("migration ended (%s) before gate %s: %s", p.Phase, gate, p.LastError)
		}
		return p.AwaitingGate == gate
	})
	return p
}

// approve approves gate through the update the CLI uses.
func approve(t *testing.T, c client.Client, name, gate string) {
	t.Helper()
	h, err := c.UpdateWorkflow(context.Background(), client.UpdateWorkflowOptions{
		WorkflowID: spec.WorkflowID(name), UpdateName: workflows.UpdateApprove,
		Args: []any{workflows.Decision{Gate: gate, By: "e2e"}}, WaitForStage: client.WorkflowUpdateStageCompleted,
	})
	require.NoError(t, err)
	require.NoError(t, h.Get(context.Background(), nil))
}

func result(t *testing.T, run client.WorkflowRun, timeout time.Duration) (*workflows.Result, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var res workflows.Result
	err := run.Get(ctx, &res)
	if errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("migration did not finish within %s", timeout)
	}
	return &res, err
}

func scalar[T any](t *testing.T, pool *pgxpool.Pool, sql string, args ...any) T {
	t.Helper()
	var v T
	require.NoError(t, pool.QueryRow(context.Background(), sql, args...).Scan(&v), sql)
	return v
}

func exec1(t *testing.T, pool *pgxpool.Pool, sql string, args ...any) {
	t.Helper()
	_, err := pool.Exec(context.Background(), sql, args...)
	require.NoError(t, err, sql)
}

func updateOpts(name, update string, d workflows.Decision) client.UpdateWorkflowOptions {
	return client.UpdateWorkflowOptions{
		WorkflowID: spec.WorkflowID(name), UpdateName: update,
		Args: []any{d}, WaitForStage: client.WorkflowUpdateStageCompleted,
	}
}

// recordHistory saves the run's history to workflows/testdata when ZDM_RECORD_HISTORY=1,
// for the replay test that keeps the workflow deterministic across code changes.
func recordHistory(t *testing.T, c client.Client, run client.WorkflowRun, file string) {
	t.Helper()
	if os.Getenv("ZDM_RECORD_HISTORY") != "1" {
		return
	}
	var events []*historypb.HistoryEvent
	it := c.GetWorkflowHistory(context.Background(), run.GetID(), run.GetRunID(), false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		e, err := it.Next()
		require.NoError(t, err)
		events = append(events, e)
	}
	b, err := protojson.MarshalOptions{Indent: "  "}.Marshal(&historypb.History{Events: events})
	require.NoError(t, err)
	_, file0, _, _ := runtime.Caller(0)
	path := filepath.Join(filepath.Dir(file0), "..", "..", "workflows", "testdata", file)
	require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
	require.NoError(t, os.WriteFile(path, b, 0o644))
	t.Logf("history of %s saved to %s (%d events)", run.GetID(), path, len(events))
}

// unleashClient is the Unleash admin client of the environment (stack.sh env).
func unleashClient(t *testing.T) *flags.Client {
	t.Helper()
	cfg, err := flags.ConfigFromEnv()
	require.NoError(t, err)
	return flags.New(cfg)
}

// archiveFlagsAtEnd archives m's flags when the test ends.
func archiveFlagsAtEnd(t *testing.T, fc *flags.Client, m spec.Migration) {
	t.Cleanup(func() {
		_ = fc.Archive(context.Background(), m.Flags.DualWrite)
		_ = fc.Archive(context.Background(), m.Flags.ReadNew)
	})
}

// flaggedAppConfig is the demo application on dsn, reading and writing through the
// Unleash flags named, which it reads again every 500ms.
func flaggedAppConfig(dsn, dualWrite, readNew string) demoapp.Config {
	cfg := demoapp.DefaultConfig()
	cfg.DatabaseURL = dsn
	cfg.UnleashURL = os.Getenv("UNLEASH_URL")
	cfg.UnleashToken = os.Getenv("UNLEASH_API_TOKEN")
	cfg.DualWriteFlag, cfg.ReadNewFlag = dualWrite, readNew
	cfg.RefreshInterval = 500 * time.Millisecond
	return cfg
}

// runApp runs app until the test ends and waits until it is busy; stop stops it and
// returns how its Run ended.
func runApp(t *testing.T, app *demoapp.App) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- app.Run(ctx) }()
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() { cancel(); err = <-done })
		return err
	}
	t.Cleanup(func() { _ = stop() })
	waitFor(t, 30*time.Second, "demo app running", func() bool { return app.Stats().Ops > 50 })
	return stop
}

// flagged is what the tests of applications on Unleash flags start with: a database of
// the test's own seeded with rows of the demo table, a dev server, an in-process worker
// with Unleash on its own task queue, and the Unleash admin client.
type flagged struct {
	dsn   string
	pool  *pgxpool.Pool
	srv   *devServer
	queue string
	fc    *flags.Client
}

func newFlagged(t *testing.T, rows int64) flagged {
	t.Helper()
	need(t, "UNLEASH_URL", "UNLEASH_ADMIN_TOKEN", "UNLEASH_API_TOKEN")
	f := flagged{srv: startDevServer(t), queue: "zdm-e2e-" + randomSuffix()}
	f.dsn, f.pool = testDB(t)
	inProcessWorker(t, f.srv.Client, f.queue, f.dsn, true)
	require.NoError(t, demoapp.Seed(context.Background(), f.pool, "public.customers", rows))
	f.fc = unleashClient(t)
	return f
}
