package cli

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/zdmhq/zdm/workflows"
)

func TestRenderFleetShowsEachDatabaseWithLiveProgress(t *testing.T) {
	v := FleetView{Name: "orders-note", WorkflowID: "zdm-orders-note", Status: "running",
		Fleet: &workflows.FleetProgress{Migration: "orders-note", Phase: workflows.FleetRunning, Wave: "rest",
			Concurrency: 2, OnFailure: "continue", Targets: []workflows.FleetTarget{
				{Name: "staging", Wave: "staging", WorkflowID: "zdm-orders-note-staging", Status: workflows.TargetCompleted, Phase: workflows.PhaseCompleted},
				{Name: "eu1", Wave: "rest", WorkflowID: "zdm-orders-note-eu1", Status: workflows.TargetRunning},
				{Name: "us1", Wave: "rest", WorkflowID: "zdm-orders-note-us1", Status: workflows.TargetRunning},
				{Name: "ap1", Wave: "rest", WorkflowID: "zdm-orders-note-ap1", Status: workflows.TargetFailed, Error: `column "note" does not exist`},
			}},
		Progress: map[string]*workflows.Progress{
			"eu1": {Phase: workflows.PhaseBackfilling, RowsDone: 250, RowsTotal: 1000, Percent: 25},
			"us1": {Phase: workflows.PhaseAwaiting, AwaitingGate: "contract", Percent: 100},
		}}
	out := RenderFleet(v)
	assert.Contains(t, out, "orders-note (fleet)")
	assert.Contains(t, out, "at most 2 at once per wave; on a failure: continue")
	assert.Regexp(t, `staging\s+staging\s+completed\s+completed\s+orders-note-staging\s+-`, out)
	assert.Regexp(t, `eu1\s+rest\s+running\s+backfilling\s+orders-note-eu1\s+\S+ 25\.0%\s+250 / 1,000 rows`, out)
	assert.Regexp(t, `us1\s+rest\s+running\s+awaiting_approval \(gate contract\)\s+orders-note-us1`, out)
	assert.Regexp(t, `ap1\s+rest\s+failed\s+-\s+orders-note-ap1\s+column "note" does not exist`, out)

	v.Fleet, v.QueryError = nil, "context deadline exceeded"
	assert.Contains(t, RenderFleet(v), "no worker answered (context deadline exceeded)")
}
