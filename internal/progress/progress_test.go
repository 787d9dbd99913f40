package progress

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	workflowpb "go.temporal.io/api/workflow/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/zdmhq/zdm/activities"
	"github.com/zdmhq/zdm/workflows"
)

func payload(t *testing.T, v any) *commonpb.Payload {
	p, err := converter.GetDefaultDataConverter().ToPayload(v)
	require.NoError(t, err)
	return p
}

func TestRecordOfReadsPhaseTableAndTheBackfillHeartbeat(t *testing.T) {
	start := time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC)
	beat := start.Add(time.Minute)
	details, err := converter.GetDefaultDataConverter().ToPayloads(activities.SliceProgress{RowsDone: 4200, Batches: 3})
	require.NoError(t, err)
	resp := &workflowservice.DescribeWorkflowExecutionResponse{
		WorkflowExecutionInfo: &workflowpb.WorkflowExecutionInfo{
			Execution: &commonpb.WorkflowExecution{WorkflowId: "zdm-orders", RunId: "run-2"},
			Status:    enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING,
			StartTime: timestamppb.New(start),
			CloseTime: timestamppb.New(start), // ignored while running
			SearchAttributes: &commonpb.SearchAttributes{IndexedFields: map[string]*commonpb.Payload{
				"MigrationPhase": payload(t, "backfilling"),
				"MigrationTable": payload(t, "public.orders"),
			}},
		},
		PendingActivities: []*workflowpb.PendingActivityInfo{
			{ActivityType: &commonpb.ActivityType{Name: "RunDDL"}, Attempt: 1},
			{
				ActivityType: &commonpb.ActivityType{Name: "BackfillSlice"}, Attempt: 2,
				State:             enumspb.PENDING_ACTIVITY_STATE_SCHEDULED,
				HeartbeatDetails:  details,
				LastHeartbeatTime: timestamppb.New(beat),
			},
		},
	}
	r := RecordOf(resp)
	assert.True(t, r.Running())
	assert.Equal(t, "Running", r.StatusName())
	assert.Equal(t, "backfilling", r.Phase)
	assert.Equal(t, "public.orders", r.Table)
	assert.Equal(t, start, r.StartTime)
	assert.True(t, r.CloseTime.IsZero())
	require.Len(t, r.Activities, 2)
	assert.Nil(t, r.Activities[0].Slice)
	sp, at := r.Backfill()
	require.NotNil(t, sp)
	assert.EqualValues(t, 4200, sp.RowsDone)
	assert.Equal(t, beat, at)
}

func TestKeywordIsEmptyWhenUnset(t *testing.T) {
	assert.Equal(t, "", Keyword(nil, workflows.MigrationPhase))
}

func TestRootCauseAndFailureStatus(t *testing.T) {
	app := temporal.NewApplicationError("table public.orders is busy", "TableBusy")
	assert.Equal(t, "table public.orders is busy", RootCause(fmt.Errorf("workflow failed: %w", app)))
	assert.Equal(t, "inner", RootCause(fmt.Errorf("outer: %w", errors.New("inner"))))
	assert.Equal(t, "failed", FailureStatus(app))
	assert.Equal(t, "terminated", FailureStatus(&temporal.TerminatedError{}))
}
