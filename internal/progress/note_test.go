package progress

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	commonpb "go.temporal.io/api/common/v1"
	workflowpb "go.temporal.io/api/workflow/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/converter"

	"github.com/zdmhq/zdm/activities"
)

func TestRecordOfReadsWhatADDLActivityWaitsFor(t *testing.T) {
	dc := converter.GetDefaultDataConverter()
	note, err := dc.ToPayloads("rehearse contract: waiting for autovacuum on public.orders (pid 42)")
	require.NoError(t, err)
	slice, err := dc.ToPayloads(activities.SliceProgress{RowsDone: 1})
	require.NoError(t, err)
	r := RecordOf(&workflowservice.DescribeWorkflowExecutionResponse{
		WorkflowExecutionInfo: &workflowpb.WorkflowExecutionInfo{Execution: &commonpb.WorkflowExecution{WorkflowId: "zdm-orders"}},
		PendingActivities: []*workflowpb.PendingActivityInfo{
			{ActivityType: &commonpb.ActivityType{Name: "Rehearse"}, Attempt: 1, HeartbeatDetails: note},
			{ActivityType: &commonpb.ActivityType{Name: "BackfillSlice"}, Attempt: 1, HeartbeatDetails: slice},
			{ActivityType: &commonpb.ActivityType{Name: "RunDDL"}, Attempt: 1},
		},
	})
	require.Len(t, r.Activities, 3)
	assert.Equal(t, "rehearse contract: waiting for autovacuum on public.orders (pid 42)", r.Activities[0].Note)
	assert.Empty(t, r.Activities[1].Note, "a slice's heartbeat is its progress, not a note")
	assert.Empty(t, r.Activities[2].Note)
}
