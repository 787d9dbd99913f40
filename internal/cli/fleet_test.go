package cli

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/mocks"

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

const validTargets = `targets:
  - {name: staging, url_env: STAGING_URL}
  - {name: eu1, url_env: EU1_URL}
waves:
  - {name: staging, targets: [staging]}
  - {name: rest, targets: [eu1]}
gate_between_waves: true
`

func TestStartTargetsStartsTheFleetWithVariableNamesOnly(t *testing.T) {
	h := newHarness(t)
	run := mocks.NewWorkflowRun(t)
	run.On("GetID").Return("zdm-orders")
	h.c.On("ExecuteWorkflow", mock.Anything, mock.MatchedBy(func(o client.StartWorkflowOptions) bool {
		return o.ID == "zdm-orders" && o.TaskQueue == "zdm" && o.WorkflowExecutionErrorWhenAlreadyStarted
	}), mock.Anything, mock.MatchedBy(func(in workflows.FleetInput) bool {
		return in.Migration.Name == "orders" && in.StartedBy == "alice" && len(in.Targets.Targets) == 2 &&
			in.Targets.Targets[1].URLEnv == "EU1_URL" && in.Targets.GateBetweenWaves
	})).Return(run, nil)
	code := h.run("start", "-f", writeFile(t, "m.yaml", validMigration), "--targets", writeFile(t, "targets.yaml", validTargets))
	assert.Equal(t, ExitOK, code, h.err.String())
	out := h.stdout.String()
	assert.Contains(t, out, "started migration orders on table public.orders across 2 databases")
	assert.Contains(t, out, "wave rest     eu1  (after: zdm approve orders --gate wave:rest)")
	assert.Contains(t, out, "zdm status orders")
}

func TestStartTargetsRefusesBadFilesBeforeContactingTemporal(t *testing.T) {
	h := newHarness(t)
	bad := writeFile(t, "targets.yaml", "targets:\n  - {name: eu1, url: postgres://u:secret@h/db}\nwaves: []\n")
	assert.Equal(t, ExitUsage, h.run("start", "-f", writeFile(t, "m.yaml", validMigration), "--targets", bad))
	assert.Contains(t, h.err.String(), bad+`:2: targets[0].url: unknown field "url"`)

	flagged := "name: orders\ntable: orders\noperations:\n  - rename_column: {column: name, to: full_name}\nflags: {dual_write: a, read_new: b}\n"
	assert.Equal(t, ExitUsage, h.run("start", "-f", writeFile(t, "f.yaml", flagged), "--targets", writeFile(t, "t.yaml", validTargets)))
	assert.Contains(t, h.err.String(), "a migration across a fleet cannot name flags")

	assert.Equal(t, ExitUsage, h.run("start", "-f", writeFile(t, "m.yaml", validMigration), "--targets", writeFile(t, "t.yaml", validTargets), "--wait"))
	assert.Zero(t, h.dialed)
}

func TestStatusOfAFleetQueriesTheParentAndEachRunningDatabase(t *testing.T) {
	h := newHarness(t)
	resp := described(t, enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING, "")
	resp.WorkflowExecutionInfo.Type = &commonpb.WorkflowType{Name: "FleetWorkflow"}
	h.c.On("DescribeWorkflowExecution", mock.Anything, "zdm-orders", "").Return(resp, nil)
	h.c.On("QueryWorkflow", mock.Anything, "zdm-orders", "", workflows.QueryFleet).Return(value{workflows.FleetProgress{
		Migration: "orders", Phase: workflows.FleetRunning, Wave: "rest", Concurrency: 1, OnFailure: "stop",
		Targets: []workflows.FleetTarget{
			{Name: "staging", Wave: "staging", WorkflowID: "zdm-orders-staging", Status: workflows.TargetCompleted, Phase: workflows.PhaseCompleted},
			{Name: "eu1", Wave: "rest", WorkflowID: "zdm-orders-eu1", Status: workflows.TargetRunning},
		}}}, nil)
	h.c.On("QueryWorkflow", mock.Anything, "zdm-orders-eu1", "", workflows.QueryProgress).Return(value{workflows.Progress{
		Phase: workflows.PhaseBackfilling, RowsDone: 500, RowsTotal: 1000, Percent: 50}}, nil)
	assert.Equal(t, ExitOK, h.run("status", "orders"))
	assert.Regexp(t, `eu1\s+rest\s+running\s+backfilling\s+orders-eu1\s+\S+ 50\.0%\s+500 / 1,000 rows`, h.stdout.String())

	assert.Equal(t, ExitOK, h.run("status", "orders", "--json"))
	var v FleetView
	require.NoError(t, json.Unmarshal(h.stdout.Bytes(), &v))
	assert.Equal(t, "Running", v.Status)
	assert.EqualValues(t, 500, v.Progress["eu1"].RowsDone)
}
