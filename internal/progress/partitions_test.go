package progress

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	workflowpb "go.temporal.io/api/workflow/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/converter"

	"github.com/zdmhq/zdm/activities"
)

// Each pending partition slice shows its own heartbeat; none of them stands for the
// whole backfill.
func TestPartitionSlicesShowTheirOwnHeartbeat(t *testing.T) {
	details, err := converter.GetDefaultDataConverter().ToPayloads(activities.SliceProgress{RowsDone: 700})
	require.NoError(t, err)
	resp := &workflowservice.DescribeWorkflowExecutionResponse{
		WorkflowExecutionInfo: &workflowpb.WorkflowExecutionInfo{Status: enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING},
		PendingActivities: []*workflowpb.PendingActivityInfo{
			{ActivityType: &commonpb.ActivityType{Name: "BackfillPartitionSlice"}, HeartbeatDetails: details},
		},
	}
	r := RecordOf(resp)
	require.Len(t, r.Activities, 1)
	require.NotNil(t, r.Activities[0].Slice)
	assert.EqualValues(t, 700, r.Activities[0].Slice.RowsDone)
	sp, _ := r.Backfill()
	assert.Nil(t, sp)
}
