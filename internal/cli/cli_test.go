package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	workflowpb "go.temporal.io/api/workflow/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/mocks"
	"go.temporal.io/sdk/temporal"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/zdmhq/zdm/activities"
	"github.com/zdmhq/zdm/workflows"
)

// harness runs zdm commands against a mocked Temporal client.
type harness struct {
	t           *testing.T
	c           *mocks.Client
	env         map[string]string
	tty         bool
	dialErr     error
	dialed      int
	stdout, err bytes.Buffer
}

func newHarness(t *testing.T) *harness {
	return &harness{t: t, c: mocks.NewClient(t), env: map[string]string{"USER": "alice"}}
}

func (h *harness) run(args ...string) int {
	h.c.On("Close").Return().Maybe()
	h.stdout.Reset()
	h.err.Reset()
	app := &App{
		Stdout: &h.stdout,
		Stderr: &h.err,
		Getenv: func(k string) string { return h.env[k] },
		Dial: func(_ context.Context, opts client.Options) (client.Client, error) {
			h.dialed++
			assert.Equal(h.t, h.env["TEMPORAL_ADDRESS"], opts.HostPort)
			if h.dialErr != nil {
				return nil, h.dialErr
			}
			return h.c, nil
		},
		Terminal:     func() (bool, int) { return h.tty, 80 },
		Now:          func() time.Time { return time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC) },
		PollInterval: time.Millisecond,
	}
	if h.env["TEMPORAL_ADDRESS"] == "" {
		h.env["TEMPORAL_ADDRESS"] = DefaultAddress
	}
	return app.Run(context.Background(), args)
}

// value is a query answer.
type value struct{ v any }

func (v value) HasValue() bool { return v.v != nil }
func (v value) Get(ptr any) error {
	b, err := json.Marshal(v.v)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, ptr)
}

func payload(t *testing.T, v any) *commonpb.Payload {
	p, err := converter.GetDefaultDataConverter().ToPayload(v)
	require.NoError(t, err)
	return p
}

func described(t *testing.T, st enumspb.WorkflowExecutionStatus, phase string) *workflowservice.DescribeWorkflowExecutionResponse {
	start := time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC)
	info := &workflowpb.WorkflowExecutionInfo{
		Execution: &commonpb.WorkflowExecution{WorkflowId: "zdm-orders", RunId: "run-1"},
		Status:    st,
		StartTime: timestamppb.New(start),
		SearchAttributes: &commonpb.SearchAttributes{IndexedFields: map[string]*commonpb.Payload{
			"MigrationPhase": payload(t, phase),
			"MigrationTable": payload(t, "public.orders"),
		}},
	}
	if st != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
		info.CloseTime = timestamppb.New(start.Add(72 * time.Second))
	}
	return &workflowservice.DescribeWorkflowExecutionResponse{WorkflowExecutionInfo: info}
}

const validMigration = `name: orders
table: orders
operations:
  - add_column: {column: total_eur, type: numeric, backfill: "total_cents / 100.0"}
gates: [contract]
`

func writeFile(t *testing.T, name, body string) string {
	p := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.WriteFile(p, []byte(body), 0o600))
	return p
}

func TestStartBadFileExits2WithFileAndLineAndContactsNothing(t *testing.T) {
	h := newHarness(t)
	bad := writeFile(t, "bad.yaml", "name: orders\ntable: orders\noperations:\n  - drop_tabel: {}\n")
	assert.Equal(t, ExitUsage, h.run("start", "-f", bad))
	assert.Contains(t, h.err.String(), bad+":4:")
	assert.NotContains(t, h.err.String(), "--help", "a file mistake is not a usage mistake")
	assert.Zero(t, h.dialed)
	assert.Empty(t, h.stdout.String())
}

func TestStartUsageErrors(t *testing.T) {
	h := newHarness(t)
	assert.Equal(t, ExitUsage, h.run("start"))
	assert.Contains(t, h.err.String(), "zdm start -f FILE")
	assert.Equal(t, ExitUsage, h.run("start", "-f", filepath.Join(t.TempDir(), "missing.yaml")))
	assert.Contains(t, h.err.String(), "missing.yaml")
	assert.Equal(t, ExitUsage, h.run("start", "--frob"))
	assert.Contains(t, h.err.String(), "unknown flag: --frob")
	assert.Equal(t, ExitUsage, h.run("frob"))
	assert.Equal(t, ExitUsage, h.run("status"))
	assert.Contains(t, h.err.String(), "run 'zdm status --help' for usage")
	assert.Zero(t, h.dialed)
}

func TestStartStartsTheWorkflowAndSaysWhereToSeeIt(t *testing.T) {
	h := newHarness(t)
	h.env["ZDM_UI_URL"] = "http://ui.example:8233"
	h.env["TEMPORAL_ADDRESS"] = "127.0.0.1:7533"
	run := mocks.NewWorkflowRun(t)
	run.On("GetID").Return("zdm-orders")
	run.On("GetRunID").Return("run-1")
	h.c.On("ExecuteWorkflow", mock.Anything, mock.MatchedBy(func(o client.StartWorkflowOptions) bool {
		table, _ := o.TypedSearchAttributes.GetKeyword(workflows.MigrationTable)
		return o.ID == "zdm-orders" && o.TaskQueue == "zdm" &&
			o.WorkflowIDReusePolicy == enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE &&
			o.WorkflowIDConflictPolicy == enumspb.WORKFLOW_ID_CONFLICT_POLICY_FAIL &&
			o.WorkflowExecutionErrorWhenAlreadyStarted && table == "public.orders"
	}), mock.Anything, mock.MatchedBy(func(in workflows.MigrationInput) bool {
		return in.Migration.Name == "orders" && in.State == nil
	})).Return(run, nil)

	assert.Equal(t, ExitOK, h.run("start", "-f", writeFile(t, "m.yaml", validMigration)))
	out := h.stdout.String()
	assert.Contains(t, out, "started migration orders on table public.orders")
	assert.Contains(t, out, "workflow  zdm-orders")
	assert.Contains(t, out, "run       run-1")
	assert.Contains(t, out, "http://ui.example:8233/namespaces/default/workflows/zdm-orders")
	assert.Contains(t, out, "zdm watch orders")
}

func TestStartRefusesARunningMigration(t *testing.T) {
	h := newHarness(t)
	h.c.On("ExecuteWorkflow", mock.Anything, mock.Anything, mock.Anything, mock.Anything).
		Return(nil, serviceerror.NewWorkflowExecutionAlreadyStarted("already started", "", "run-0"))
	assert.Equal(t, ExitFailed, h.run("start", "-f", writeFile(t, "m.yaml", validMigration)))
	assert.Equal(t, "zdm: migration orders is already running (see zdm status orders)\n", h.err.String())
}

func TestUnreachableTemporalExits3(t *testing.T) {
	h := newHarness(t)
	h.env["TEMPORAL_ADDRESS"] = "127.0.0.1:1"
	h.dialErr = errors.New("failed reaching server: connection refused")
	assert.Equal(t, ExitUnreachable, h.run("status", "orders"))
	assert.Equal(t, "zdm: cannot reach Temporal at 127.0.0.1:1: failed reaching server: connection refused (start it with 'make up', or set TEMPORAL_ADDRESS)\n", h.err.String())
}

func TestAddressFlagBeatsEnvironment(t *testing.T) {
	h := newHarness(t)
	h.dialErr = errors.New("refused")
	h.env["TEMPORAL_ADDRESS"] = "10.0.0.1:7233"
	// The dialer asserts the address it gets equals TEMPORAL_ADDRESS; here the flag
	// wins, so check the message instead.
	app := &App{Stdout: &h.stdout, Stderr: &h.err, Getenv: func(k string) string { return h.env[k] },
		Dial: func(_ context.Context, o client.Options) (client.Client, error) {
			assert.Equal(t, "10.0.0.2:7233", o.HostPort)
			assert.Equal(t, "prod", o.Namespace)
			return nil, errors.New("refused")
		}}
	assert.Equal(t, ExitUnreachable, app.Run(context.Background(), []string{"--address", "10.0.0.2:7233", "--namespace", "prod", "status", "orders"}))
}

func TestStatusOfUnknownMigrationExits4(t *testing.T) {
	h := newHarness(t)
	h.c.On("DescribeWorkflowExecution", mock.Anything, "zdm-orders", "").Return(nil, serviceerror.NewNotFound("workflow not found"))
	assert.Equal(t, ExitNotFound, h.run("status", "orders"))
	assert.Equal(t, "zdm: no migration named orders (workflow zdm-orders not found)\n", h.err.String())
}

func TestStatusShowsTheQueriedProgress(t *testing.T) {
	h := newHarness(t)
	h.c.On("DescribeWorkflowExecution", mock.Anything, "zdm-orders", "").Return(described(t, enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING, "awaiting_approval"), nil)
	h.c.On("QueryWorkflow", mock.Anything, "zdm-orders", "", "progress").Return(value{workflows.Progress{
		Migration: "orders", Table: "public.orders", Phase: workflows.PhaseAwaiting, AwaitingGate: "contract",
		Gates: []string{"contract"}, RowsDone: 521000, RowsTotal: 1000000, Percent: 52.1, RowsPerSec: 183000, ETA: 3 * time.Second,
	}}, nil)
	assert.Equal(t, ExitOK, h.run("status", "orders"))
	out := h.stdout.String()
	assert.Contains(t, out, "[#####-----] 52.1%  521,000 / 1,000,000 rows  183,000 rows/s  ETA 3s")
	assert.Contains(t, out, "awaiting      gate contract")
	assert.Contains(t, out, "zdm approve orders --gate contract --by <you>")
	assert.Contains(t, out, "http://127.0.0.1:8233/namespaces/default/workflows/zdm-orders, Send a Signal → approve")

	assert.Equal(t, ExitOK, h.run("status", "orders", "--json"))
	var v StatusView
	require.NoError(t, json.Unmarshal(h.stdout.Bytes(), &v))
	assert.Equal(t, "contract", v.Progress.AwaitingGate)
	assert.Equal(t, "Running", v.Status)
	assert.False(t, v.Stale)
}

func TestStatusFallsBackToTemporalsRecordWhenNoWorkerAnswers(t *testing.T) {
	h := newHarness(t)
	d := described(t, enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING, "backfilling")
	beat, err := converter.GetDefaultDataConverter().ToPayloads(activities.SliceProgress{RowsDone: 50500})
	require.NoError(t, err)
	d.PendingActivities = []*workflowpb.PendingActivityInfo{{
		ActivityType:      &commonpb.ActivityType{Name: "BackfillSlice"},
		State:             enumspb.PENDING_ACTIVITY_STATE_SCHEDULED,
		Attempt:           2,
		HeartbeatDetails:  beat,
		LastHeartbeatTime: timestamppb.New(time.Date(2026, 5, 1, 9, 1, 0, 0, time.UTC)),
	}}
	h.c.On("DescribeWorkflowExecution", mock.Anything, "zdm-orders", "").Return(d, nil)
	h.c.On("QueryWorkflow", mock.Anything, "zdm-orders", "", "progress").Return(nil, context.DeadlineExceeded)
	assert.Equal(t, ExitOK, h.run("status", "orders"))
	out := h.stdout.String()
	assert.Contains(t, out, "phase         backfilling\n")
	assert.Contains(t, out, "table         public.orders\n")
	assert.Contains(t, out, "BackfillSlice scheduled, attempt 2, 50,500 rows done")
	assert.Contains(t, out, "(worker not answering; figures may be stale)")
}

func TestStatusOfEndedMigrationWithoutWorkerReadsTheResult(t *testing.T) {
	h := newHarness(t)
	h.c.On("DescribeWorkflowExecution", mock.Anything, "zdm-orders", "").Return(described(t, enumspb.WORKFLOW_EXECUTION_STATUS_FAILED, "failed"), nil)
	h.c.On("QueryWorkflow", mock.Anything, "zdm-orders", "", "progress").Return(nil, context.DeadlineExceeded)
	run := mocks.NewWorkflowRun(t)
	run.On("Get", mock.Anything, mock.Anything).Return(temporal.NewNonRetryableApplicationError("migration failed and was rolled back: disk full", "MigrationFailed", nil))
	h.c.On("GetWorkflow", mock.Anything, "zdm-orders", "").Return(run)
	assert.Equal(t, ExitOK, h.run("status", "orders"))
	out := h.stdout.String()
	assert.Contains(t, out, "status        Failed\n")
	assert.Contains(t, out, "failure       migration failed and was rolled back: disk full\n")
	assert.NotContains(t, out, "stale")
}

func TestApproveSendsTheDecisionAsAnUpdate(t *testing.T) {
	h := newHarness(t)
	handle := mocks.NewWorkflowUpdateHandle(t)
	handle.On("Get", mock.Anything, mock.Anything).Return(nil)
	h.c.On("UpdateWorkflow", mock.Anything, mock.MatchedBy(func(o client.UpdateWorkflowOptions) bool {
		return o.WorkflowID == "zdm-orders" && o.UpdateName == "approve" &&
			o.WaitForStage == client.WorkflowUpdateStageCompleted &&
			assert.Equal(t, []any{workflows.Decision{Gate: "contract", By: "alice", Comment: "lgtm"}}, o.Args)
	})).Return(handle, nil)
	assert.Equal(t, ExitOK, h.run("approve", "orders", "--gate", "contract", "--comment", "lgtm"))
	assert.Contains(t, h.stdout.String(), "approved gate contract of migration orders as alice")
}

func TestRejectSendsTheReasonAsComment(t *testing.T) {
	h := newHarness(t)
	handle := mocks.NewWorkflowUpdateHandle(t)
	handle.On("Get", mock.Anything, mock.Anything).Return(nil)
	h.c.On("UpdateWorkflow", mock.Anything, mock.MatchedBy(func(o client.UpdateWorkflowOptions) bool {
		return o.UpdateName == "reject" &&
			assert.Equal(t, []any{workflows.Decision{Gate: "read_new", By: "bob", Comment: "too slow"}}, o.Args)
	})).Return(handle, nil)
	assert.Equal(t, ExitOK, h.run("reject", "orders", "--gate", "read_new", "--by", "bob", "--reason", "too slow"))
	assert.Contains(t, h.stdout.String(), "the migration now rolls back")
}

func TestApproveWrongGatePrintsTheValidatorsError(t *testing.T) {
	h := newHarness(t)
	handle := mocks.NewWorkflowUpdateHandle(t)
	handle.On("Get", mock.Anything, mock.Anything).Return(temporal.NewApplicationError(`migration orders is waiting at gate "contract", not "read_new"`, ""))
	h.c.On("UpdateWorkflow", mock.Anything, mock.Anything).Return(handle, nil)
	assert.Equal(t, ExitFailed, h.run("approve", "orders", "--gate", "read_new"))
	assert.Equal(t, "zdm: approve refused: migration orders is waiting at gate \"contract\", not \"read_new\"\n", h.err.String())
}

func TestApproveNeedsGateAndBy(t *testing.T) {
	h := newHarness(t)
	delete(h.env, "USER")
	assert.Equal(t, ExitUsage, h.run("approve", "orders", "--gate", "contract"))
	assert.Contains(t, h.err.String(), "--by is required")
	assert.Equal(t, ExitUsage, h.run("approve", "orders", "--by", "x"))
	assert.Contains(t, h.err.String(), "--gate is required")
	assert.Zero(t, h.dialed)
}

func TestApproveAnEndedMigrationIsRefused(t *testing.T) {
	h := newHarness(t)
	h.c.On("UpdateWorkflow", mock.Anything, mock.Anything).Return(nil, serviceerror.NewNotFound("workflow execution already completed"))
	h.c.On("DescribeWorkflowExecution", mock.Anything, "zdm-orders", "").Return(described(t, enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED, "completed"), nil)
	assert.Equal(t, ExitFailed, h.run("approve", "orders", "--gate", "contract"))
	assert.Contains(t, h.err.String(), "migration orders has already ended (Completed, phase completed)")
}

func TestApproveUnknownMigrationExits4(t *testing.T) {
	h := newHarness(t)
	h.c.On("UpdateWorkflow", mock.Anything, mock.Anything).Return(nil, serviceerror.NewNotFound("workflow not found"))
	h.c.On("DescribeWorkflowExecution", mock.Anything, "zdm-orders", "").Return(nil, serviceerror.NewNotFound("workflow not found"))
	assert.Equal(t, ExitNotFound, h.run("approve", "orders", "--gate", "contract"))
}

func TestPauseAndResumeSignal(t *testing.T) {
	h := newHarness(t)
	h.c.On("SignalWorkflow", mock.Anything, "zdm-orders", "", "pause", workflows.PauseRequest{By: "bob", Reason: "peak"}).Return(nil).Once()
	assert.Equal(t, ExitOK, h.run("pause", "orders", "--by", "bob", "--reason", "peak"))
	h.c.On("SignalWorkflow", mock.Anything, "zdm-orders", "", "resume", workflows.PauseRequest{By: "alice"}).Return(nil).Once()
	assert.Equal(t, ExitOK, h.run("resume", "orders"))
	assert.Contains(t, h.stdout.String(), "sent resume to migration orders")
}

func TestCancelAsksTheWorkflowToRollBack(t *testing.T) {
	h := newHarness(t)
	h.c.On("DescribeWorkflowExecution", mock.Anything, "zdm-orders", "").Return(described(t, enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING, "backfilling"), nil)
	h.c.On("CancelWorkflow", mock.Anything, "zdm-orders", "").Return(nil).Once()
	assert.Equal(t, ExitOK, h.run("cancel", "orders"))
	assert.Contains(t, h.stdout.String(), "asked migration orders to cancel: it rolls back unless its contract has begun")
}

// Cancelling a migration that has ended promises no rollback: it says how the migration
// ended, that nothing was done, and exits 1.
func TestCancelAnEndedMigrationDoesNothingAndExits1(t *testing.T) {
	for _, tc := range []struct {
		status enumspb.WorkflowExecutionStatus
		phase  string
		says   string
	}{
		{enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED, "completed", "(Completed, phase completed)"},
		{enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED, "rolled_back", "(Completed, phase rolled_back)"},
		{enumspb.WORKFLOW_EXECUTION_STATUS_FAILED, "failed", "(Failed, phase failed)"},
	} {
		t.Run(tc.phase+" "+tc.status.String(), func(t *testing.T) {
			h := newHarness(t)
			h.c.On("DescribeWorkflowExecution", mock.Anything, "zdm-orders", "").Return(described(t, tc.status, tc.phase), nil)
			assert.Equal(t, ExitFailed, h.run("cancel", "orders"))
			assert.Equal(t, "zdm: migration orders has already ended "+tc.says+": there is nothing to cancel, and nothing was done\n", h.err.String())
			assert.Empty(t, h.stdout.String(), "no promise of a rollback")
			h.c.AssertNotCalled(t, "CancelWorkflow", mock.Anything, mock.Anything, mock.Anything)
		})
	}
}

func TestCancelUnknownMigrationExits4(t *testing.T) {
	h := newHarness(t)
	h.c.On("DescribeWorkflowExecution", mock.Anything, "zdm-orders", "").Return(nil, serviceerror.NewNotFound("workflow not found"))
	assert.Equal(t, ExitNotFound, h.run("cancel", "orders"))
}

// After zdm pause, status says the backfill is paused and by whom, without a rate or ETA
// that a held backfill does not have.
func TestStatusOfAPausedBackfill(t *testing.T) {
	h := newHarness(t)
	h.c.On("DescribeWorkflowExecution", mock.Anything, "zdm-orders", "").Return(described(t, enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING, "backfilling"), nil)
	h.c.On("QueryWorkflow", mock.Anything, "zdm-orders", "", "progress").Return(value{workflows.Progress{
		Migration: "orders", Table: "public.orders", Phase: workflows.PhaseBackfilling,
		RowsDone: 521000, RowsTotal: 1000000, Percent: 52.1, RowsPerSec: 183000, Paused: true, PausedBy: "bob peak traffic",
	}}, nil)
	assert.Equal(t, ExitOK, h.run("status", "orders"))
	out := h.stdout.String()
	assert.Contains(t, out, "phase         backfilling, paused by bob peak traffic\n")
	assert.Contains(t, out, "progress      [#####-----] 52.1%  521,000 / 1,000,000 rows  (paused: no rate or ETA until resumed)\n")
	assert.Contains(t, out, "paused        yes (bob peak traffic); resume with: zdm resume orders\n")
	assert.NotContains(t, out, "rows/s")
	assert.NotContains(t, out, "  ETA", "no ETA figure")
}

// watch moves the rows to the running slice's heartbeat, but computes no ETA while paused.
func TestWatchOfAPausedBackfillShowsNoRateOrETA(t *testing.T) {
	h := newHarness(t)
	d := described(t, enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING, "backfilling")
	beat, err := converter.GetDefaultDataConverter().ToPayloads(activities.SliceProgress{RowsDone: 40})
	require.NoError(t, err)
	d.PendingActivities = []*workflowpb.PendingActivityInfo{{
		ActivityType: &commonpb.ActivityType{Name: "BackfillSlice"}, State: enumspb.PENDING_ACTIVITY_STATE_STARTED,
		Attempt: 1, HeartbeatDetails: beat,
	}}
	h.c.On("DescribeWorkflowExecution", mock.Anything, "zdm-orders", "").Return(d, nil)
	progressAnswers(h,
		workflows.Progress{Phase: workflows.PhaseBackfilling, RowsDone: 10, RowsTotal: 100, Percent: 10, RowsPerSec: 10, Paused: true, PausedBy: "bob"},
		workflows.Progress{Phase: workflows.PhaseAwaiting, AwaitingGate: "contract", RowsDone: 100, RowsTotal: 100, Percent: 100},
	)
	assert.Equal(t, ExitAtGate, h.run("watch", "orders"))
	out := h.stdout.String()
	assert.Contains(t, out, "[########------------] 40.0%  40 / 100 rows  backfilling  PAUSED by bob\n")
	assert.NotContains(t, out, "rows/s")
	assert.NotContains(t, out, "ETA")
}

func progressAnswers(h *harness, answers ...workflows.Progress) {
	i := 0
	h.c.On("QueryWorkflow", mock.Anything, "zdm-orders", "", "progress").Return(
		func(context.Context, string, string, string, ...any) (converter.EncodedValue, error) {
			p := answers[min(i, len(answers)-1)]
			i++
			return value{p}, nil
		})
}

func TestWatchStopsAtAGateWithExit5(t *testing.T) {
	h := newHarness(t)
	h.c.On("DescribeWorkflowExecution", mock.Anything, "zdm-orders", "").Return(described(t, enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING, "backfilling"), nil)
	progressAnswers(h,
		workflows.Progress{Phase: workflows.PhaseBackfilling, RowsDone: 10, RowsTotal: 100, Percent: 10},
		workflows.Progress{Phase: workflows.PhaseAwaiting, AwaitingGate: "contract", RowsDone: 100, RowsTotal: 100, Percent: 100},
	)
	assert.Equal(t, ExitAtGate, h.run("watch", "orders"))
	out := h.stdout.String()
	assert.Contains(t, out, "10:00:00 [##------------------] 10.0%  10 / 100 rows  backfilling\n")
	assert.Contains(t, out, "awaiting gate contract\n")
	assert.Contains(t, out, "migration orders waits at gate contract")
	assert.Contains(t, out, "zdm approve orders --gate contract")
	assert.Empty(t, h.err.String())
}

func TestWatchOnATerminalRedrawsOneLine(t *testing.T) {
	h := newHarness(t)
	h.tty = true
	h.c.On("DescribeWorkflowExecution", mock.Anything, "zdm-orders", "").Return(described(t, enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING, "backfilling"), nil)
	progressAnswers(h,
		workflows.Progress{Phase: workflows.PhaseBackfilling, Percent: 10},
		workflows.Progress{Phase: workflows.PhaseAwaiting, AwaitingGate: "contract", Percent: 100},
	)
	assert.Equal(t, ExitAtGate, h.run("watch", "orders"))
	out := h.stdout.String()
	assert.Contains(t, out, "\r[##------------------] 10.0%  0 rows  backfilling\x1b[K\r")
	assert.NotContains(t, out, "10:00:00", "no timestamps on a terminal")
}

// The workflow learns of rows once per slice; watch shows the running slice's heartbeat.
func TestWatchShowsRowsOfTheRunningSlice(t *testing.T) {
	h := newHarness(t)
	d := described(t, enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING, "backfilling")
	beat, err := converter.GetDefaultDataConverter().ToPayloads(activities.SliceProgress{RowsDone: 40})
	require.NoError(t, err)
	d.PendingActivities = []*workflowpb.PendingActivityInfo{{
		ActivityType: &commonpb.ActivityType{Name: "BackfillSlice"}, State: enumspb.PENDING_ACTIVITY_STATE_STARTED,
		Attempt: 1, HeartbeatDetails: beat,
	}}
	h.c.On("DescribeWorkflowExecution", mock.Anything, "zdm-orders", "").Return(d, nil)
	progressAnswers(h,
		workflows.Progress{Phase: workflows.PhaseBackfilling, RowsDone: 10, RowsTotal: 100, Percent: 10, RowsPerSec: 10},
		workflows.Progress{Phase: workflows.PhaseAwaiting, AwaitingGate: "contract", RowsDone: 100, RowsTotal: 100, Percent: 100},
	)
	assert.Equal(t, ExitAtGate, h.run("watch", "orders"))
	assert.Contains(t, h.stdout.String(), "40.0%  40 / 100 rows")
}

func finalRun(t *testing.T, res *workflows.Result, err error) *mocks.WorkflowRun {
	run := mocks.NewWorkflowRun(t)
	run.On("Get", mock.Anything, mock.Anything).Return(func(_ context.Context, ptr any) error {
		if err != nil {
			return err
		}
		*ptr.(*workflows.Result) = *res
		return nil
	})
	return run
}

func TestWatchEndsWithTheOutcome(t *testing.T) {
	for _, tc := range []struct {
		name   string
		status enumspb.WorkflowExecutionStatus
		res    *workflows.Result
		err    error
		code   int
		out    string
	}{
		{"completed", enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED,
			&workflows.Result{Status: workflows.PhaseCompleted, Progress: workflows.Progress{RowsDone: 1000000, Elapsed: 72 * time.Second}}, nil,
			ExitOK, "migration orders completed after 1m12s: 1,000,000 rows backfilled\n"},
		{"rejected", enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED,
			&workflows.Result{Status: workflows.PhaseRolledBack, Progress: workflows.Progress{Elapsed: 5 * time.Second,
				Approvals: []workflows.Approval{{Gate: "contract", By: "carol", Comment: "no"}}}}, nil,
			ExitFailed, "migration orders rolled back after 5s\n  gate contract rejected by carol: no\n"},
		{"failed", enumspb.WORKFLOW_EXECUTION_STATUS_FAILED, nil,
			temporal.NewNonRetryableApplicationError("migration failed and was rolled back: disk full", "MigrationFailed", nil),
			ExitFailed, "migration orders failed after 1m12s\n  error: migration failed and was rolled back: disk full\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			progressAnswers(h,
				workflows.Progress{Phase: workflows.PhaseContracting, Percent: 100},
				workflows.Progress{Phase: workflows.PhaseCompleted, Percent: 100},
			)
			h.c.On("DescribeWorkflowExecution", mock.Anything, "zdm-orders", "").Return(described(t, tc.status, "x"), nil)
			h.c.On("GetWorkflow", mock.Anything, "zdm-orders", "").Return(finalRun(t, tc.res, tc.err))
			assert.Equal(t, tc.code, h.run("watch", "orders"))
			assert.Contains(t, h.stdout.String(), tc.out)
		})
	}
}

func TestWatchKeepsGoingWhileTheWorkerIsAway(t *testing.T) {
	h := newHarness(t)
	calls := 0
	h.c.On("QueryWorkflow", mock.Anything, "zdm-orders", "", "progress").Return(
		func(context.Context, string, string, string, ...any) (converter.EncodedValue, error) {
			calls++
			if calls < 3 {
				return nil, context.DeadlineExceeded
			}
			return value{workflows.Progress{Phase: workflows.PhaseAwaiting, AwaitingGate: "contract"}}, nil
		})
	h.c.On("DescribeWorkflowExecution", mock.Anything, "zdm-orders", "").Return(described(t, enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING, "backfilling"), nil)
	assert.Equal(t, ExitAtGate, h.run("watch", "orders"))
	assert.Contains(t, h.stdout.String(), "worker not answering; phase backfilling\n")
}

func TestWatchUnknownMigrationExits4(t *testing.T) {
	h := newHarness(t)
	h.c.On("QueryWorkflow", mock.Anything, "zdm-orders", "", "progress").Return(nil, serviceerror.NewNotFound("not found"))
	h.c.On("DescribeWorkflowExecution", mock.Anything, "zdm-orders", "").Return(nil, serviceerror.NewNotFound("not found"))
	assert.Equal(t, ExitNotFound, h.run("watch", "orders"))
}

func TestListShowsMigrationsAndSkipsContinuedRuns(t *testing.T) {
	h := newHarness(t)
	exec := func(id string, st enumspb.WorkflowExecutionStatus, phase string, start time.Time) *workflowpb.WorkflowExecutionInfo {
		return &workflowpb.WorkflowExecutionInfo{
			Execution: &commonpb.WorkflowExecution{WorkflowId: id},
			Status:    st,
			StartTime: timestamppb.New(start),
			SearchAttributes: &commonpb.SearchAttributes{IndexedFields: map[string]*commonpb.Payload{
				"MigrationPhase": payload(t, phase), "MigrationTable": payload(t, "public.x"),
			}},
		}
	}
	t0 := time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC)
	h.c.On("ListWorkflow", mock.Anything, mock.MatchedBy(func(r *workflowservice.ListWorkflowExecutionsRequest) bool {
		return r.Namespace == "default" && r.Query == "WorkflowType = 'MigrationWorkflow' AND MigrationPhase = 'backfilling'"
	})).Return(&workflowservice.ListWorkflowExecutionsResponse{Executions: []*workflowpb.WorkflowExecutionInfo{
		exec("zdm-old", enumspb.WORKFLOW_EXECUTION_STATUS_CONTINUED_AS_NEW, "backfilling", t0),
		exec("zdm-orders", enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING, "backfilling", t0.Add(time.Hour)),
		exec("zdm-users", enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING, "backfilling", t0),
	}}, nil)
	h.c.On("QueryWorkflow", mock.Anything, "zdm-orders", "", "progress").Return(value{workflows.Progress{Phase: workflows.PhaseBackfilling, Percent: 42}}, nil)
	h.c.On("QueryWorkflow", mock.Anything, "zdm-users", "", "progress").Return(nil, context.DeadlineExceeded)
	assert.Equal(t, ExitOK, h.run("list", "--phase", "backfilling"))
	out := h.stdout.String()
	assert.Regexp(t, `(?s)NAME.*\norders +public\.x +backfilling +Running +.* 42\.0%\nusers +public\.x +backfilling +Running +.* -\n$`, out)
	assert.NotContains(t, out, "old")

	assert.Equal(t, ExitUsage, h.run("list", "--phase", "nope"))
	assert.Contains(t, h.err.String(), "unknown phase \"nope\"")
}

func TestWatchInterruptedLeavesTheMigrationRunning(t *testing.T) {
	h := newHarness(t)
	ctx, cancel := context.WithCancel(context.Background())
	h.c.On("QueryWorkflow", mock.Anything, "zdm-orders", "", "progress").Return(
		func(context.Context, string, string, string, ...any) (converter.EncodedValue, error) {
			cancel() // Ctrl-C while the query is out
			return nil, context.Canceled
		})
	h.c.On("Close").Return().Maybe()
	app := &App{Stdout: &h.stdout, Stderr: &h.err, Getenv: func(string) string { return "" },
		Dial:     func(context.Context, client.Options) (client.Client, error) { return h.c, nil },
		Terminal: func() (bool, int) { return false, 0 }, Now: time.Now, PollInterval: time.Millisecond}
	assert.Equal(t, ExitInterrupted, app.Run(ctx, []string{"watch", "orders"}))
	assert.Contains(t, h.stdout.String(), "stopped watching; migration orders goes on")
	assert.Empty(t, h.err.String())
}
