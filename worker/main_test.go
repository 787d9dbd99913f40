package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/zdmhq/zdm/internal/spec"
	"github.com/zdmhq/zdm/workflows"
)

func TestMetricsAddr(t *testing.T) {
	for _, c := range []struct {
		set          bool
		value, addr  string
		on, explicit bool
	}{
		{set: false, addr: defaultMetricsAddr, on: true},
		{set: true, value: "", on: false, explicit: true},
		{set: true, value: "off", on: false, explicit: true},
		{set: true, value: " OFF ", on: false, explicit: true},
		{set: true, value: "0.0.0.0:9090", addr: "0.0.0.0:9090", on: true, explicit: true},
	} {
		if c.set {
			t.Setenv("ZDM_METRICS_ADDR", c.value)
		} else {
			t.Setenv("ZDM_METRICS_ADDR", "x")
			os.Unsetenv("ZDM_METRICS_ADDR")
		}
		addr, on, explicit := metricsAddr()
		require.Equal(t, c.addr, addr, "%+v", c)
		require.Equal(t, c.on, on, "%+v", c)
		require.Equal(t, c.explicit, explicit, "%+v", c)
	}
}

// A password in DATABASE_URL reaches neither the log nor the error the worker exits with,
// whether the URL does not parse or the server cannot be reached.
func TestDatabaseURLSecretStaysOut(t *testing.T) {
	for _, dsn := range []string{
		"postgres://zdm:hunter2-secret@127.0.0.1:1/zdm?sslmode=disable&connect_timeout=2",
		"postgres://zdm:hunter2-secret@127.0.0.1:notaport/zdm",
		"host=127.0.0.1 port=1 user=zdm password=hunter2-secret connect_timeout=2",
		"host=127.0.0.1 port=1 user=zdm password=hunter2-secret sslmode=bogus",
	} {
		t.Setenv("DATABASE_URL", dsn)
		t.Setenv("ZDM_METRICS_ADDR", "off")
		var logs bytes.Buffer
		err := run(slog.New(slog.NewTextHandler(&logs, nil)))
		require.Error(t, err, dsn)
		require.NotContains(t, err.Error(), "hunter2", dsn)
		require.NotContains(t, logs.String(), "hunter2", dsn)
	}
}

func TestRedactURL(t *testing.T) {
	require.Equal(t, "http://admin:xxxxx@unleash:4242", redactURL("http://admin:s3cret@unleash:4242"))
	require.Equal(t, "http://127.0.0.1:4242", redactURL("http://127.0.0.1:4242"))
	require.NotContains(t, redactURL("http://a:s3cret@[::1"), "s3cret")
}

// need skips an integration test without its environment, or fails it under
// ZDM_INTEGRATION=1 (make test).
func need(t *testing.T, what string, ok bool) {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test: skipped with -short")
	}
	if ok {
		return
	}
	if os.Getenv("ZDM_INTEGRATION") == "1" {
		t.Fatalf("integration test needs %s (run it with make test)", what)
	}
	t.Skipf("integration test needs %s (run it with make test)", what)
}

func temporalCLI(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("ZDM_TEMPORAL_BIN"); p != "" {
		return p
	}
	if p, err := exec.LookPath("temporal"); err == nil {
		return p
	}
	p, _ := filepath.Abs(filepath.Join("..", "bin", "temporal"))
	_, err := os.Stat(p)
	need(t, "a temporal CLI (ZDM_TEMPORAL_BIN, PATH or bin/temporal)", err == nil)
	return p
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().String()
}

// The real worker process, against a real dev server: /metrics carries the Temporal SDK's
// metrics, and the phase gauge of a migration it ran; a password in UNLEASH_URL is not
// logged.
func TestWorkerServesMetrics(t *testing.T) {
	dsn := os.Getenv("DATABASE_URL")
	need(t, "DATABASE_URL", dsn != "")
	cli := temporalCLI(t)

	hostPort := freeAddr(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	srv, err := testsuite.StartDevServer(ctx, testsuite.DevServerOptions{
		ExistingPath:  cli,
		LogLevel:      "error",
		ClientOptions: &client.Options{HostPort: hostPort},
		SearchAttributes: temporal.NewSearchAttributes(
			workflows.MigrationPhase.ValueSet(""), workflows.MigrationTable.ValueSet("")),
		Stdout: io.Discard, Stderr: io.Discard,
	})
	require.NoError(t, err)
	defer srv.Stop()
	c := srv.Client()

	bin := filepath.Join(t.TempDir(), "zdm-worker")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	require.NoError(t, err, "go build ./worker: %s", out)

	b := make([]byte, 4)
	_, _ = rand.Read(b)
	suffix := hex.EncodeToString(b)
	queue, metricsAt := "zdm-metrics-"+suffix, freeAddr(t)
	var logs bytes.Buffer
	cmd := exec.Command(bin)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "DATABASE_URL=" + dsn, "TEMPORAL_ADDRESS=" + hostPort,
		"ZDM_TASK_QUEUE=" + queue, "ZDM_METRICS_ADDR=" + metricsAt,
		"UNLEASH_URL=http://zdm:hunter2-secret@127.0.0.1:4242", "UNLEASH_ADMIN_TOKEN=*:*.not-used-here"}
	cmd.Stdout, cmd.Stderr = &logs, &logs
	require.NoError(t, cmd.Start())
	defer func() {
		_ = cmd.Process.Signal(os.Interrupt)
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("worker log:\n%s", logs.String())
		}
	}()

	get := func() string {
		resp, err := http.Get("http://" + metricsAt + "/metrics")
		if err != nil {
			return ""
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return string(body)
	}
	require.Eventually(t, func() bool { return strings.Contains(get(), "temporal_") }, 30*time.Second, 200*time.Millisecond,
		"the worker serves the Temporal SDK's metrics")

	// A migration of a table that does not exist is refused at validation, touching nothing.
	name := "metrics-check-" + suffix
	m, err := spec.Parse(name+".yaml", []byte(fmt.Sprintf(
		"name: %s\ntable: public.zdm_metrics_check_%s\noperations:\n  - rename_column: {column: a, to: b}\n", name, suffix)))
	require.NoError(t, err)
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: spec.WorkflowID(name), TaskQueue: queue},
		workflows.MigrationWorkflow, workflows.MigrationInput{Migration: *m})
	require.NoError(t, err)
	require.Error(t, run.Get(ctx, nil))

	want := fmt.Sprintf(`zdm_migration_phase{migration=%q,phase="failed"} 1`, name)
	require.Eventually(t, func() bool { return strings.Contains(get(), want) }, 2*phaseInterval+5*time.Second, 500*time.Millisecond,
		"the phase gauge follows the MigrationPhase search attribute")
	page := get()
	for _, name := range []string{"temporal_workflow_failed_total", "temporal_activity_execution_failed_total{activity_type=\"Prepare\"",
		"temporal_workflow_task_execution_latency_seconds_bucket"} {
		require.True(t, strings.Contains(page, name), "/metrics lacks %s", name)
	}
	require.NotContains(t, logs.String(), "hunter2")
	require.Contains(t, logs.String(), "http://zdm:xxxxx@127.0.0.1:4242")
}
