package metrics

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	commonpb "go.temporal.io/api/common/v1"
	workflowpb "go.temporal.io/api/workflow/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/converter"

	"github.com/zdmhq/zdm/workflows"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// scrape returns the registry's /metrics page as a Prometheus server would read it.
func scrape(t *testing.T, h http.Handler) string {
	t.Helper()
	srv := httptest.NewServer(h)
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, resp.Header.Get("Content-Type"), "text/plain")
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return string(body)
}

func TestZdmMetricsOnScrape(t *testing.T) {
	r := New()
	r.BatchDone("users-email", 1000, 40*time.Millisecond)
	r.BatchDone("users-email", 500, 3*time.Second)
	r.BatchDone("orders-total", 7, time.Millisecond)
	r.LockRetry("users-email", "expand/add_column/email_lower")
	r.LockRetry("users-email", "expand/add_column/email_lower")

	page := scrape(t, r.Handler())
	for _, line := range []string{
		"# TYPE zdm_backfill_rows_total counter",
		`zdm_backfill_rows_total{migration="users-email"} 1500`,
		`zdm_backfill_rows_total{migration="orders-total"} 7`,
		"# TYPE zdm_backfill_batch_duration_seconds histogram",
		`zdm_backfill_batch_duration_seconds_count{migration="users-email"} 2`,
		`zdm_backfill_batch_duration_seconds_sum{migration="users-email"} 3.04`,
		`zdm_backfill_batch_duration_seconds_bucket{migration="users-email",le="0.04"} 1`,
		`zdm_backfill_batch_duration_seconds_bucket{migration="users-email",le="+Inf"} 2`,
		"# TYPE zdm_lock_timeout_retries_total counter",
		`zdm_lock_timeout_retries_total{migration="users-email",statement="expand/add_column/email_lower"} 2`,
	} {
		require.Contains(t, page, line+"\n")
	}
	require.Contains(t, page, "\ngo_goroutines ", "the Go runtime collector is registered")
}

func TestPhaseGaugeFollowsTheMigration(t *testing.T) {
	r := New()
	r.Phase("users-email", "expanding")
	r.Phase("users-email", "backfilling")
	r.Phase("users-email", "backfilling")
	r.Phase("orders-total", "awaiting_approval")
	r.Phase("users-email", "awaiting_approval")

	page := scrape(t, r.Handler())
	require.Contains(t, page, "# TYPE zdm_migration_phase gauge\n")
	for series, want := range map[string]string{
		`zdm_migration_phase{migration="users-email",phase="expanding"}`:          "0",
		`zdm_migration_phase{migration="users-email",phase="backfilling"}`:        "0",
		`zdm_migration_phase{migration="users-email",phase="awaiting_approval"}`:  "1",
		`zdm_migration_phase{migration="orders-total",phase="awaiting_approval"}`: "1",
	} {
		require.Contains(t, page, series+" "+want+"\n")
	}
	at1 := 0
	for _, l := range strings.Split(page, "\n") {
		if strings.HasPrefix(l, MigrationPhase+"{") && strings.HasSuffix(l, " 1") {
			at1++
		}
	}
	require.Equal(t, 2, at1, "exactly one phase per migration at 1")
}

func TestTemporalSDKMetricsShareTheRegistry(t *testing.T) {
	r := New()
	h, closer := r.TemporalHandler(quiet)
	h.WithTags(map[string]string{"namespace": "default", "task_queue": "zdm"}).Counter("temporal_request").Inc(3)
	h.Timer("temporal_activity_execution_latency").Record(250 * time.Millisecond)
	h.Gauge("temporal_num_pollers").Update(2)
	// Tally reports on an interval; closing the scope reports what is pending.
	require.NoError(t, closer.Close())

	page := scrape(t, r.Handler())
	// Prometheus naming: counters end in _total, timers are histograms in seconds.
	require.Contains(t, page, `temporal_request_total{namespace="default",task_queue="zdm"} 3`+"\n")
	require.Contains(t, page, "# TYPE temporal_activity_execution_latency_seconds histogram\n")
	require.Contains(t, page, "temporal_activity_execution_latency_seconds_sum 0.25\n")
	require.Contains(t, page, "temporal_num_pollers 2\n")
	require.NotContains(t, page, "tally_internal")
}

func TestServeAnswersOnItsAddress(t *testing.T) {
	r := New()
	r.BatchDone("m", 1, time.Millisecond)
	ctx, cancel := context.WithCancel(context.Background())
	addr, err := r.Serve(ctx, "127.0.0.1:0", quiet)
	require.NoError(t, err)
	resp, err := http.Get("http://" + addr.String() + "/metrics")
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Contains(t, string(body), `zdm_backfill_rows_total{migration="m"} 1`)

	_, err = r.Serve(context.Background(), addr.String(), quiet)
	require.Error(t, err, "a taken address fails at once")

	cancel()
	require.Eventually(t, func() bool {
		_, err := http.Get("http://" + addr.String() + "/metrics")
		return err != nil
	}, 5*time.Second, 20*time.Millisecond, "the server stops with its context")
}

type fakeLister struct {
	resp *workflowservice.ListWorkflowExecutionsResponse
	err  error
	req  *workflowservice.ListWorkflowExecutionsRequest
}

func (f *fakeLister) ListWorkflow(_ context.Context, req *workflowservice.ListWorkflowExecutionsRequest) (*workflowservice.ListWorkflowExecutionsResponse, error) {
	f.req = req
	return f.resp, f.err
}

func execution(t *testing.T, id, phase string) *workflowpb.WorkflowExecutionInfo {
	t.Helper()
	info := &workflowpb.WorkflowExecutionInfo{Execution: &commonpb.WorkflowExecution{WorkflowId: id, RunId: "r"}}
	if phase != "" {
		p, err := converter.GetDefaultDataConverter().ToPayload(phase)
		require.NoError(t, err)
		info.SearchAttributes = &commonpb.SearchAttributes{IndexedFields: map[string]*commonpb.Payload{
			workflows.MigrationPhase.GetName(): p,
		}}
	}
	return info
}

func TestRefreshPhasesReadsTheSearchAttribute(t *testing.T) {
	r := New()
	f := &fakeLister{resp: &workflowservice.ListWorkflowExecutionsResponse{Executions: []*workflowpb.WorkflowExecutionInfo{
		execution(t, "zdm-users-email", "backfilling"),
		execution(t, "zdm-users-email", "expanding"), // an older run of the same workflow
		execution(t, "zdm-orders-total", "completed"),
		execution(t, "zdm-just-started", ""),
	}}}
	require.NoError(t, r.RefreshPhases(context.Background(), f, "prod"))
	require.Equal(t, "prod", f.req.GetNamespace())
	require.Equal(t, "WorkflowType = 'MigrationWorkflow'", f.req.GetQuery())

	page := scrape(t, r.Handler())
	require.Contains(t, page, `zdm_migration_phase{migration="users-email",phase="backfilling"} 1`+"\n")
	require.NotContains(t, page, `phase="expanding"`)
	require.Contains(t, page, `zdm_migration_phase{migration="orders-total",phase="completed"} 1`+"\n")
	require.NotContains(t, page, "just-started")

	f.err = errors.New("unavailable")
	require.Error(t, r.RefreshPhases(context.Background(), f, "prod"))
	require.Contains(t, scrape(t, r.Handler()), `phase="backfilling"} 1`, "a failed read keeps the last values")
}

// The query names the workflow type the SDK derives from the function the worker registers.
func TestWorkflowTypeName(t *testing.T) {
	full := runtime.FuncForPC(reflect.ValueOf(workflows.MigrationWorkflow).Pointer()).Name()
	require.Equal(t, migrationWorkflowType, full[strings.LastIndex(full, ".")+1:])
}
