package cli

import (
	"context"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/zdmhq/zdm/internal/progress"
	"github.com/zdmhq/zdm/internal/spec"
	"github.com/zdmhq/zdm/workflows"
)

// queryTimeout bounds a progress query: with no worker polling, Temporal would hold it
// until the caller gives up.
const queryTimeout = 3 * time.Second

// queryProgress asks the workflow's worker for the migration's progress.
func queryProgress(ctx context.Context, c client.Client, workflowID string, timeout time.Duration) (*workflows.Progress, error) {
	return progress.Query(ctx, c, workflowID, timeout)
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
	r := progress.RecordOf(resp)
	v := StatusView{
		Name: name, WorkflowID: r.WorkflowID, RunID: r.RunID, UIURL: uiURL,
		Status: r.StatusName(), Phase: r.Phase, Table: r.Table,
		StartTime: r.StartTime, CloseTime: r.CloseTime,
	}
	for _, pa := range r.Activities {
		a := PendingActivity{Type: pa.Type, State: pa.State, Attempt: pa.Attempt,
			LastFailure: pa.LastFailure, LastHeartbeat: pa.LastHeartbeat, Note: pa.Note}
		if pa.Slice != nil {
			rows := pa.Slice.RowsDone
			a.RowsDone = &rows
		}
		v.Activities = append(v.Activities, a)
	}
	return v
}

// keyword reads a Keyword search attribute, or "" when it is not set.
func keyword(sa *commonpb.SearchAttributes, key temporal.SearchAttributeKeyKeyword) string {
	return progress.Keyword(sa, key)
}

func running(resp *workflowservice.DescribeWorkflowExecutionResponse) bool {
	return resp.GetWorkflowExecutionInfo().GetStatus() == enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING
}

// outcome reads how a closed migration ended from its history, which needs no worker.
// The final progress comes with it when the workflow returned a result.
func outcome(ctx context.Context, c client.Client, name string) (Summary, *workflows.Progress) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	o := progress.OutcomeOf(ctx, c, spec.WorkflowID(name))
	s := Summary{Name: name, Status: o.Status, Err: o.Err}
	if o.Result == nil {
		return s, nil
	}
	res := o.Result
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

// rootCause is the innermost message of a workflow failure.
func rootCause(err error) string { return progress.RootCause(err) }
