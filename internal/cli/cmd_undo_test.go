package cli

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/mocks"

	"github.com/zdmhq/zdm/workflows"
)

func TestRevertSendsTheRequestAsAnUpdate(t *testing.T) {
	h := newHarness(t)
	handle := mocks.NewWorkflowUpdateHandle(t)
	handle.On("Get", mock.Anything, mock.Anything).Return(nil)
	h.c.On("UpdateWorkflow", mock.Anything, mock.MatchedBy(func(o client.UpdateWorkflowOptions) bool {
		return o.WorkflowID == "zdm-orders" && o.UpdateName == workflows.UpdateRevert &&
			o.WaitForStage == client.WorkflowUpdateStageCompleted &&
			assert.Equal(t, []any{workflows.UndoRequest{By: "alice", Comment: "slow reads"}}, o.Args)
	})).Return(handle, nil)
	assert.Equal(t, ExitOK, h.run("revert", "orders", "--comment", "slow reads"))
	assert.Contains(t, h.stdout.String(), "asked migration orders to revert, as alice")
}

func TestFinalizeNeedsBy(t *testing.T) {
	h := newHarness(t)
	delete(h.env, "USER")
	assert.Equal(t, ExitUsage, h.run("finalize", "orders"))
	assert.Contains(t, h.err.String(), "--by is required: say who asks")
	assert.Zero(t, h.dialed)
}
