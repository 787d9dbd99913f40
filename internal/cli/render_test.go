package cli

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zdmhq/zdm/workflows"
)

func TestThousands(t *testing.T) {
	for n, want := range map[int64]string{
		0: "0", 7: "7", 999: "999", 1000: "1,000", 12345: "12,345", 521000: "521,000",
		1000000: "1,000,000", -1234567: "-1,234,567",
	} {
		assert.Equal(t, want, Thousands(n), "%d", n)
	}
}

func TestHumanDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0:                       "0s",
		-time.Second:            "0s",
		400 * time.Millisecond:  "0s",
		2600 * time.Millisecond: "3s",
		65 * time.Second:        "1m05s",
		time.Hour + 3*time.Minute + 59*time.Second: "1h03m", // minutes truncated
		26 * time.Hour: "26h00m",
	} {
		assert.Equal(t, want, HumanDuration(d), "%v", d)
	}
}

func TestBar(t *testing.T) {
	assert.Equal(t, "[#####-----]", Bar(52.1, 10))
	assert.Equal(t, "[----------]", Bar(0, 10))
	assert.Equal(t, "[##########]", Bar(100, 10))
	assert.Equal(t, "[##########]", Bar(140, 10), "clamped")
	assert.Equal(t, "[----------]", Bar(-3, 10), "clamped")
	assert.Equal(t, "[#---]", Bar(25, 4))
}

func TestProgressText(t *testing.T) {
	p := workflows.Progress{RowsDone: 521000, RowsTotal: 1000000, Percent: 52.1, RowsPerSec: 183000.4, ETA: 3 * time.Second}
	assert.Equal(t, "[#####-----] 52.1%  521,000 / 1,000,000 rows  183,000 rows/s  ETA 3s", ProgressText(p, 10))

	// Before the backfill: no total, rate or ETA yet.
	assert.Equal(t, "[----------] 0.0%  0 rows", ProgressText(workflows.Progress{}, 10))

	// A paused backfill has no rate or ETA; a pause left on after the backfill holds
	// nothing, and the backfill's rate still shows.
	p.Phase, p.Paused = workflows.PhaseBackfilling, true
	assert.Equal(t, "[#####-----] 52.1%  521,000 / 1,000,000 rows", ProgressText(p, 10))
	p.Phase, p.ETA = workflows.PhaseAwaiting, 0
	assert.Equal(t, "[#####-----] 52.1%  521,000 / 1,000,000 rows  183,000 rows/s", ProgressText(p, 10))
}

func TestHolding(t *testing.T) {
	for phase, holds := range map[workflows.Phase]bool{
		workflows.PhaseValidating: true, workflows.PhaseExpanding: true, workflows.PhaseBackfilling: true,
		workflows.PhaseVerifying: false, workflows.PhaseAwaiting: false, workflows.PhaseCompleted: false,
	} {
		assert.Equal(t, holds, Holding(workflows.Progress{Phase: phase, Paused: true}), phase)
		assert.False(t, Holding(workflows.Progress{Phase: phase}), phase)
	}
}

func TestLiveLine(t *testing.T) {
	p := workflows.Progress{Phase: workflows.PhaseBackfilling, RowsDone: 10, RowsTotal: 100, Percent: 10, Paused: true, PausedBy: "bob peak traffic"}
	assert.Equal(t, "[#---------] 10.0%  10 / 100 rows  backfilling  PAUSED by bob peak traffic", LiveLine(p, 10))

	p = workflows.Progress{Phase: workflows.PhaseAwaiting, AwaitingGate: "contract", RowsDone: 100, RowsTotal: 100, Percent: 100}
	assert.Equal(t, "[##########] 100.0%  100 / 100 rows  awaiting_approval  awaiting gate contract", LiveLine(p, 10))
}

func TestWorkflowURL(t *testing.T) {
	assert.Equal(t, "http://127.0.0.1:8233/namespaces/default/workflows/zdm-a", workflowURL("http://127.0.0.1:8233/", "default", "zdm-a"))
	assert.Equal(t, "http://ui/namespaces/my%20ns/workflows/zdm-a%2Fb", workflowURL("http://ui", "my ns", "zdm-a/b"))
}

func TestGateHelp(t *testing.T) {
	got := GateHelp("orders", "read_new", "http://ui/namespaces/default/workflows/zdm-orders")
	assert.Contains(t, got, "migration orders waits at gate read_new (approving switches applications to read the new columns)")
	assert.Contains(t, got, "zdm approve orders --gate read_new --by <you>")
	assert.Contains(t, got, "zdm reject orders --gate read_new --by <you> --reason")
	assert.Contains(t, got, `open http://ui/namespaces/default/workflows/zdm-orders, Send a Signal → approve`)
	assert.Contains(t, got, `payload {"gate": "read_new", "by": "<your name>", "comment": "<optional>"}`)
}

func TestRenderStatusFromQuery(t *testing.T) {
	at := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
	v := StatusView{
		Name: "orders", WorkflowID: "zdm-orders", RunID: "r1", UIURL: "http://ui/w", Status: "Running",
		Progress: &workflows.Progress{
			Phase: workflows.PhaseAwaiting, Table: "public.orders", AwaitingGate: "contract",
			Gates: []string{"read_new", "contract"}, RowsDone: 1000, RowsTotal: 1000, Percent: 100,
			Paused: true, PausedBy: "bob", FlagsOn: []string{"orders-dual-write", "orders-read-new"},
			Approvals:   []workflows.Approval{{Gate: "read_new", Approved: true, By: "alice", Comment: "lgtm", At: at, Via: "update"}},
			LastError:   "lock timeout on public.orders",
			LastRefusal: "approve at 2026-05-01T10:00:00Z: unknown gate \"x\"",
			StartedAt:   at, Elapsed: 90 * time.Second,
		},
		Activities: []PendingActivity{{Type: "Contract", State: "Scheduled", Attempt: 3, LastFailure: "lock timeout"}},
	}
	got := RenderStatus(v)
	for _, want := range []string{
		"migration     orders\n",
		"workflow      zdm-orders (run r1)\n",
		"web UI        http://ui/w\n",
		"status        Running\n",
		"phase         awaiting_approval\n",
		"table         public.orders\n",
		"progress      [##########] 100.0%  1,000 / 1,000 rows\n",
		"started       2026-05-01 10:00:00 UTC (elapsed 1m30s)\n",
		"gates         read_new, contract\n",
		"awaiting      gate contract\n",
		"  approve: zdm approve orders --gate contract --by <you>",
		"Send a Signal → approve",
		"paused        yes (bob); resume with: zdm resume orders\n",
		"flags on      orders-dual-write, orders-read-new\n",
		"approvals     read_new approved by alice at 2026-05-01 10:00:00 UTC via update: lgtm\n",
		"last error    lock timeout on public.orders\n",
		"last refusal  approve at",
		"retrying      Contract scheduled, attempt 3, last failure: lock timeout\n",
	} {
		assert.Contains(t, got, want)
	}
	assert.NotContains(t, got, "stale")
}

func TestRenderStatusStale(t *testing.T) {
	rows := int64(50500)
	beat := time.Date(2026, 5, 1, 10, 0, 6, 0, time.UTC)
	v := StatusView{
		Name: "orders", WorkflowID: "zdm-orders", Status: "Running", Stale: true,
		Phase: "backfilling", Table: "public.orders", StartTime: beat.Add(-time.Minute),
		Activities: []PendingActivity{{Type: "BackfillSlice", State: "Started", Attempt: 2, RowsDone: &rows, LastHeartbeat: beat}},
	}
	got := RenderStatus(v)
	assert.Contains(t, got, "phase         backfilling\n")
	assert.Contains(t, got, "table         public.orders\n")
	assert.Contains(t, got, "activities    BackfillSlice started, attempt 2, 50,500 rows done, last heartbeat 2026-05-01 10:00:06 UTC\n")
	assert.True(t, strings.HasSuffix(got, "(worker not answering; figures may be stale)\n"), got)
}

func TestRenderSummary(t *testing.T) {
	assert.Equal(t, "migration orders completed after 1m12s: 1,000,000 rows backfilled\n",
		RenderSummary(Summary{Name: "orders", Status: "completed", Rows: 1000000, Duration: 72 * time.Second}))

	got := RenderSummary(Summary{Name: "orders", Status: "rolled_back", Rows: 5, Duration: time.Second,
		Rejected: &workflows.Approval{Gate: "contract", By: "carol", Comment: "wrong column"}})
	assert.Equal(t, "migration orders rolled back after 1s\n  gate contract rejected by carol: wrong column\n", got)

	got = RenderSummary(Summary{Name: "orders", Status: "failed", Err: "orders.yaml:4: column exists"})
	assert.Equal(t, "migration orders failed\n  error: orders.yaml:4: column exists\n", got)
}

func TestRenderList(t *testing.T) {
	pct := 52.14
	started := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
	got := RenderList([]ListRow{
		{Name: "orders", Table: "public.orders", Phase: "backfilling", Status: "Running", Started: started, Percent: &pct},
		{Name: "users", Status: "Completed", Started: started},
	})
	lines := strings.Split(strings.TrimRight(got, "\n"), "\n")
	require.Len(t, lines, 3)
	assert.Equal(t, strings.Fields("NAME TABLE PHASE STATUS STARTED PROGRESS"), strings.Fields(lines[0]))
	assert.Equal(t, strings.Fields("orders public.orders backfilling Running 2026-05-01 10:00:00 52.1%"), strings.Fields(lines[1]))
	assert.Equal(t, strings.Fields("users - - Completed 2026-05-01 10:00:00 -"), strings.Fields(lines[2]))
}

func TestListQuery(t *testing.T) {
	now := time.Date(2026, 5, 2, 10, 0, 0, 0, time.UTC)
	assert.Equal(t, "WorkflowType = 'MigrationWorkflow' AND (ExecutionStatus = 'Running' OR CloseTime > '2026-05-01T10:00:00Z')", listQuery("", false, now))
	assert.Equal(t, "WorkflowType = 'MigrationWorkflow'", listQuery("", true, now))
	assert.Equal(t, "WorkflowType = 'MigrationWorkflow' AND MigrationPhase = 'awaiting_approval'", listQuery("awaiting_approval", false, now))
}

func TestStatusSaysWhatTheDDLWaitsFor(t *testing.T) {
	v := StatusView{Name: "orders", Status: "Running", Activities: []PendingActivity{
		{Type: "Rehearse", State: "Started", Attempt: 1, Note: "rehearse contract: waiting for autovacuum on public.orders (pid 42)"},
		{Type: "RunDDL", State: "Started", Attempt: 1, Note: "expand"},
	}}
	// Without the worker's answer, from Temporal's record.
	got := RenderStatus(v)
	assert.Contains(t, got, "Rehearse started, attempt 1, rehearse contract: waiting for autovacuum on public.orders (pid 42)\n")
	assert.NotContains(t, got, "expand")
	// With it.
	v.Progress = &workflows.Progress{Phase: workflows.PhaseAwaiting, Table: "public.orders"}
	got = RenderStatus(v)
	assert.Contains(t, got, "waiting       rehearse contract: waiting for autovacuum on public.orders (pid 42)\n")
	assert.NotContains(t, got, "expand")
}
