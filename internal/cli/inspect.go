package cli

import (
	"context"
	"errors"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"

	"github.com/zdmhq/zdm/activities"
	"github.com/zdmhq/zdm/internal/spec"
	"github.com/zdmhq/zdm/workflows"
)

// queryTimeout bounds a progress query: with no worker polling, Temporal would hold it
// until the caller gives up.
const queryTimeout = 3 * time.Second

// queryProgress asks the workflow's worker for the migration's progress.
func queryProgress(ctx context.Context, c client.Client, workflowID string, timeout time.Duration) (*workflows.Progress, error) {
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

// describe reads Temporal's own record of the migration's latest run.
func (e *env) describe(ctx context.Context, c client.Client, name string) (*workflowservice.DescribeWorkflowExecutionResponse, error) {
	ctx, cancel := context.WithTimeout(ctx, dialTimeout)
	defer cancel()
	resp, err := c.DescribeWorkflowExecution(ctx, spec.WorkflowID(name), "")
	if err != nil {
		return nil, e.temporalError(name, err)
	}
	return resp, nil
}

// viewOf is the status of a migration as Temporal records it, without its worker.
func viewOf(name, uiURL string, resp *workflowservice.DescribeWorkflowExecutionResponse) StatusView {
	info := resp.GetWorkflowExecutionInfo()
	v := StatusView{
		Name:       name,
		WorkflowID: info.GetExecution().GetWorkflowId(),
		RunID:      info.GetExecution().GetRunId(),
		UIURL:      uiURL,
		Status:     info.GetStatus().String(),
		Phase:      keyword(info.GetSearchAttributes(), workflows.MigrationPhase),
		Table:      keyword(info.GetSearchAttributes(), workflows.MigrationTable),
	}
	if t := info.GetStartTime(); t != nil {
		v.StartTime = t.AsTime()
	}
	if t := info.GetCloseTime(); t != nil && info.GetStatus() != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
		v.CloseTime = t.AsTime()
	}
	for _, pa := range resp.GetPendingActivities() {
		a := PendingActivity{
			Type:        pa.GetActivityType().GetName(),
			State:       pa.GetState().String(),
			Attempt:     pa.GetAttempt(),
			LastFailure: pa.GetLastFailure().GetMessage(),
		}
		if t := pa.GetLastHeartbeatTime(); t != nil {
			a.LastHeartbeat = t.AsTime()
		}
		var sp activities.SliceProgress
		if a.Type == "BackfillSlice" && pa.GetHeartbeatDetails() != nil &&
			converter.GetDefaultDataConverter().FromPayloads(pa.GetHeartbeatDetails(), &sp) == nil {
			a.RowsDone = &sp.RowsDone
		}
		v.Activities = append(v.Activities, a)
	}
	return v
}

// keyword reads a Keyword search attribute, or "" when it is not set.
func keyword(sa *commonpb.SearchAttributes, key temporal.SearchAttributeKeyKeyword) string {
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

func running(resp *workflowservice.DescribeWorkflowExecutionResponse) bool {
	return resp.GetWorkflowExecutionInfo().GetStatus() == enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING
}

// outcome reads how a closed migration ended from its history, which needs no worker.
// The final progress comes with it when the workflow returned a result.
func outcome(ctx context.Context, c client.Client, name string) (Summary, *workflows.Progress) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	s := Summary{Name: name}
	var res workflows.Result
	err := c.GetWorkflow(ctx, spec.WorkflowID(name), "").Get(ctx, &res)
	if err != nil {
		s.Status = failureStatus(err)
		s.Err = rootCause(err)
		return s, nil
	}
	s.Status = string(res.Status)
	s.Rows = res.Progress.RowsDone
	s.Duration = res.Progress.Elapsed
	for i := len(res.Progress.Approvals) - 1; i >= 0; i-- {
		if ap := res.Progress.Approvals[i]; !ap.Approved {
			s.Rejected = &ap
			break
		}
	}
	return s, &res.Progress
}

func failureStatus(err error) string {
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

// rootCause is the innermost message of a workflow failure: the part a person can act
// on, without the chain of wrappers Temporal adds.
func rootCause(err error) string {
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
