// Package progress reads where a migration is, for every program that shows it (the zdm
// CLI, the Slack bot): the worker's answer to the progress query when a worker gives
// one, and otherwise what Temporal itself recorded of the workflow, which needs no
// worker: its status, its search attributes, its pending activities and their last
// heartbeats, and the result of a run that has ended.
package progress

import (
	"context"
	"errors"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	workflowpb "go.temporal.io/api/workflow/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"

	"github.com/zdmhq/zdm/activities"
	"github.com/zdmhq/zdm/internal/wire"
	"github.com/zdmhq/zdm/workflows"
)

// Query asks the workflow's worker for the migration's progress. With no worker polling,
// Temporal holds a query until the caller gives up, so it is always bounded by timeout.
func Query(ctx context.Context, c client.Client, workflowID string, timeout time.Duration) (*workflows.Progress, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	v, err := c.QueryWorkflow(ctx, workflowID, "", workflows.QueryProgress)
	if err != nil {
		return nil, err
	}
	var p workflows.Progress
	if err := v.Get(&p); err != nil {
		return nil, err
	}
	return &p, nil
}

// Keyword reads a Keyword search attribute, or "" when it is not set.
func Keyword(sa *commonpb.SearchAttributes, key temporal.SearchAttributeKeyKeyword) string {
	p, ok := sa.GetIndexedFields()[key.GetName()]
	if !ok {
		return ""
	}
	var s string
	if err := converter.GetDefaultDataConverter().FromPayload(p, &s); err != nil {
		return ""
	}
	return s
}

// SliceHeartbeat is the last progress a pending backfill slice heartbeated, or nil when
// the activity is not a backfill slice or has not heartbeated yet. A partition's slice
// heartbeats its partition's progress alone.
func SliceHeartbeat(pa *workflowpb.PendingActivityInfo) *activities.SliceProgress {
	switch pa.GetActivityType().GetName() {
	case wire.BackfillSlice, wire.BackfillPartitionSlice:
	default:
		return nil
	}
	if pa.GetHeartbeatDetails() == nil {
		return nil
	}
	var sp activities.SliceProgress
	if converter.GetDefaultDataConverter().FromPayloads(pa.GetHeartbeatDetails(), &sp) != nil {
		return nil
	}
	return &sp
}

// HeartbeatNote is what a DDL activity last heartbeated ("rehearse contract: waiting
// for autovacuum on public.accounts (pid 42)"), or "" for other activities.
func HeartbeatNote(pa *workflowpb.PendingActivityInfo) string {
	if pa.GetActivityType().GetName() == "BackfillSlice" || pa.GetHeartbeatDetails() == nil {
		return ""
	}
	var note string
	if converter.GetDefaultDataConverter().FromPayloads(pa.GetHeartbeatDetails(), &note) != nil {
		return ""
	}
	return note
}

// Record is what Temporal keeps of a migration's latest run, read without its worker.
type Record struct {
	WorkflowID string
	RunID      string
	Status     enumspb.WorkflowExecutionStatus
	Phase      string // search attribute MigrationPhase
	Table      string // search attribute MigrationTable
	StartTime  time.Time
	CloseTime  time.Time // zero while running
	Activities []PendingActivity
}

// Running says whether the run has not ended.
func (r Record) Running() bool { return r.Status == enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING }

// StatusName is Temporal's name of the status: Running, Completed, Failed...
func (r Record) StatusName() string { return r.Status.String() }

// Backfill is the latest heartbeat of a pending backfill slice, if there is one (a
// partition's slice counts one partition only: it is listed among the activities).
func (r Record) Backfill() (*activities.SliceProgress, time.Time) {
	for _, a := range r.Activities {
		if a.Slice != nil && a.Type == wire.BackfillSlice {
			return a.Slice, a.LastHeartbeat
		}
	}
	return nil, time.Time{}
}

// PendingActivity is an activity Temporal has scheduled or started and not seen end.
type PendingActivity struct {
	Type          string
	State         string // Scheduled, Started, CancelRequested...
	Attempt       int32
	LastHeartbeat time.Time
	LastFailure   string
	// Slice is the committed progress of a backfill slice, from its last heartbeat.
	Slice *activities.SliceProgress
	// Note is a DDL activity's last heartbeat: its step, and what it waits for.
	Note string
}

// RecordOf reads a DescribeWorkflowExecution answer.
func RecordOf(resp *workflowservice.DescribeWorkflowExecutionResponse) Record {
	info := resp.GetWorkflowExecutionInfo()
	r := Record{
		WorkflowID: info.GetExecution().GetWorkflowId(),
		RunID:      info.GetExecution().GetRunId(),
		Status:     info.GetStatus(),
		Phase:      Keyword(info.GetSearchAttributes(), workflows.MigrationPhase),
		Table:      Keyword(info.GetSearchAttributes(), workflows.MigrationTable),
	}
	if t := info.GetStartTime(); t != nil {
		r.StartTime = t.AsTime()
	}
	if t := info.GetCloseTime(); t != nil && !r.Running() {
		r.CloseTime = t.AsTime()
	}
	for _, pa := range resp.GetPendingActivities() {
		a := PendingActivity{
			Type:        pa.GetActivityType().GetName(),
			State:       pa.GetState().String(),
			Attempt:     pa.GetAttempt(),
			LastFailure: pa.GetLastFailure().GetMessage(),
			Slice:       SliceHeartbeat(pa),
			Note:        HeartbeatNote(pa),
		}
		if t := pa.GetLastHeartbeatTime(); t != nil {
			a.LastHeartbeat = t.AsTime()
		}
		r.Activities = append(r.Activities, a)
	}
	return r
}

// Outcome is how a migration's workflow ended.
type Outcome struct {
	// Status is the workflow's final phase (completed, rolled_back) when it returned a
	// result, else failed, canceled, terminated or timed_out.
	Status string
	// Err is why it failed, as a person can act on it.
	Err string
	// Result is what the workflow returned, with its final progress; nil when it failed.
	Result *workflows.Result
}

// OutcomeOf reads how the latest run of a workflow that has ended finished, from its
// history, which needs no worker. Call it only for a closed workflow: for a running one
// it waits until the run ends or ctx is done.
func OutcomeOf(ctx context.Context, c client.Client, workflowID string) Outcome {
	var res workflows.Result
	if err := c.GetWorkflow(ctx, workflowID, "").Get(ctx, &res); err != nil {
		return Outcome{Status: FailureStatus(err), Err: RootCause(err)}
	}
	return Outcome{Status: string(res.Status), Result: &res}
}

// FailureStatus names how a workflow that returned err ended.
func FailureStatus(err error) string {
	var canceled *temporal.CanceledError
	var terminated *temporal.TerminatedError
	var timeout *temporal.TimeoutError
	switch {
	case errors.As(err, &canceled):
		return "canceled"
	case errors.As(err, &terminated):
		return "terminated"
	case errors.As(err, &timeout):
		return "timed_out"
	}
	return string(workflows.PhaseFailed)
}

// RootCause is the innermost message of a workflow failure: the part a person can act
// on, without the chain of wrappers Temporal adds.
func RootCause(err error) string {
	var app *temporal.ApplicationError
	if errors.As(err, &app) && app.Message() != "" {
		return app.Message()
	}
	for {
		next := errors.Unwrap(err)
		if next == nil {
			return err.Error()
		}
		err = next
	}
}
