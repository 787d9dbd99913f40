package workflows_test

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/worker"

	"github.com/zdmhq/zdm/workflows"
)

// TestReplaySavedHistories replays histories recorded from real runs (make test with
// ZDM_RECORD_HISTORY=1 refreshes them): a change to the workflow that would break
// migrations already running fails here.
func TestReplaySavedHistories(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.json"))
	require.NoError(t, err)
	require.NotEmpty(t, files, "no saved histories in workflows/testdata")
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			r := worker.NewWorkflowReplayer()
			r.RegisterWorkflow(workflows.MigrationWorkflow)
			r.RegisterWorkflow(workflows.FleetWorkflow)
			require.NoError(t, r.ReplayWorkflowHistoryFromJSONFile(nil, f))
		})
	}
}
