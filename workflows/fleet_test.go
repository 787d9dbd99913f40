package workflows_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/zdmhq/zdm/internal/fleet"
	"github.com/zdmhq/zdm/internal/plan"
	"github.com/zdmhq/zdm/internal/wire"
	"github.com/zdmhq/zdm/workflows"
)

// fakeFleet stands in for the databases' migrations: each child takes an hour of
// workflow time, and the targets in fail fail after ten minutes.
type fakeFleet struct {
	mu       sync.Mutex
	fail     map[string]bool
	started  []string // workflow IDs, in start order
	ended    map[string]time.Time
	startAt  map[string]time.Time
	running  int
	most     int
	envsSeen []string
	checked  []string // the databases the children were told to check against
}

func newFakeFleet(fail ...string) *fakeFleet {
	f := &fakeFleet{fail: map[string]bool{}, ended: map[string]time.Time{}, startAt: map[string]time.Time{}}
	for _, t := range fail {
		f.fail[workflows.TargetWorkflowID("orders-note-lower", t)] = true
	}
	return f
}

func (f *fakeFleet) child(ctx workflow.Context, in workflows.MigrationInput) (*workflows.Result, error) {
	id := workflow.GetInfo(ctx).WorkflowExecution.ID
	f.mu.Lock()
	if in.CheckedAgainst != nil {
		f.checked = append(f.checked, in.CheckedAgainst.Database)
	}
	f.started = append(f.started, id)
	f.startAt[id] = workflow.Now(ctx)
	f.running++
	f.most = max(f.most, f.running)
	f.mu.Unlock()
	d := time.Hour
	if f.fail[id] {
		d = 10 * time.Minute
	}
	err := workflow.Sleep(ctx, d)
	f.mu.Lock()
	f.running--
	f.ended[id] = workflow.Now(ctx)
	f.mu.Unlock()
	if err != nil {
		return nil, err
	}
	if f.fail[id] {
		return nil, temporal.NewNonRetryableApplicationError("migration failed and was rolled back: column \"note\" does not exist", "MigrationFailed", nil)
	}
	return &workflows.Result{Status: workflows.PhaseCompleted}, nil
}

func fleetEnv(t *testing.T, f *fakeFleet) *testsuite.TestWorkflowEnvironment {
	env := newEnv()
	env.RegisterWorkflow(workflows.MigrationWorkflow)
	env.RegisterWorkflow(workflows.FleetWorkflow)
	env.RegisterActivity(acts)
	env.OnWorkflow(workflows.MigrationWorkflow, mock.Anything, mock.Anything).Return(f.child)
	env.OnActivity(acts.CheckTargets, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in wire.CheckTargetsInput) (wire.CheckTargetsResult, error) {
			f.envsSeen = in.URLEnvs
			var res wire.CheckTargetsResult
			for _, e := range in.URLEnvs {
				res.Databases = append(res.Databases, plan.Identity{SystemID: "1", Database: strings.ToLower(e)})
			}
			return res, nil
		})
	return env
}

// targetsFile is a fleet of waves (each a list of target names).
func targetsFile(concurrency int, gate bool, onFailure string, waves ...[]string) fleet.Targets {
	ts := fleet.Targets{Concurrency: concurrency, GateBetweenWaves: gate, OnFailure: onFailure}
	for i, w := range waves {
		ts.Waves = append(ts.Waves, fleet.Wave{Name: fmt.Sprintf("w%d", i+1), Targets: w})
		for _, name := range w {
			ts.Targets = append(ts.Targets, fleet.Target{Name: name, URLEnv: strings.ToUpper(name) + "_URL"})
		}
	}
	return ts
}

func fleetInput(t *testing.T, ts fleet.Targets) workflows.FleetInput {
	return workflows.FleetInput{Migration: parse(t, noFlagsYAML), Targets: ts, StartedBy: "ann"}
}

func fleetProgress(t *testing.T, env *testsuite.TestWorkflowEnvironment) workflows.FleetProgress {
	t.Helper()
	v, err := env.QueryWorkflow(workflows.QueryFleet)
	require.NoError(t, err)
	var p workflows.FleetProgress
	require.NoError(t, v.Get(&p))
	return p
}

func statuses(p workflows.FleetProgress) map[string]workflows.TargetStatus {
	out := map[string]workflows.TargetStatus{}
	for _, t := range p.Targets {
		out[t.Name] = t.Status
	}
	return out
}

func TestFleetWavesInOrderAtMostConcurrency(t *testing.T) {
	f := newFakeFleet()
	env := fleetEnv(t, f)
	ts := targetsFile(2, false, fleet.OnFailureStop, []string{"staging"}, []string{"a", "b", "c", "d", "e"})
	env.ExecuteWorkflow(workflows.FleetWorkflow, fleetInput(t, ts))
	require.True(t, env.IsWorkflowCompleted())
	require.NoError(t, env.GetWorkflowError())

	assert.Equal(t, []string{"STAGING_URL", "A_URL", "B_URL", "C_URL", "D_URL", "E_URL"}, f.envsSeen)
	require.Len(t, f.started, 6)
	staging := workflows.TargetWorkflowID("orders-note-lower", "staging")
	assert.Equal(t, "zdm-orders-note-lower-staging", staging)
	assert.Equal(t, staging, f.started[0])
	for _, id := range f.started[1:] {
		assert.False(t, f.startAt[id].Before(f.ended[staging]), "%s started before the first wave ended", id)
	}
	assert.Equal(t, 2, f.most, "at most concurrency=2 databases at once")
	assert.ElementsMatch(t, []string{"staging_url", "a_url", "b_url", "c_url", "d_url", "e_url"}, f.checked,
		"each migration checks it runs on the database CheckTargets found")
	// Five databases two at a time take three rounds of an hour after the first wave.
	last := f.ended[f.started[5]]
	assert.Equal(t, 4*time.Hour, last.Sub(f.startAt[staging]))

	var res workflows.FleetResult
	require.NoError(t, env.GetWorkflowResult(&res))
	assert.Equal(t, workflows.FleetCompleted, res.Progress.Phase)
	for _, tg := range res.Progress.Targets {
		assert.Equal(t, workflows.TargetCompleted, tg.Status, tg.Name)
		assert.Equal(t, workflows.PhaseCompleted, tg.Phase)
		assert.Equal(t, strings.ToLower(tg.URLEnv), tg.Database.Database)
	}
}

func TestFleetGateBetweenWaves(t *testing.T) {
	for _, approve := range []bool{true, false} {
		t.Run(fmt.Sprintf("approve=%v", approve), func(t *testing.T) {
			f := newFakeFleet()
			env := fleetEnv(t, f)
			ts := targetsFile(3, true, fleet.OnFailureStop, []string{"staging"}, []string{"canary"}, []string{"a", "b"})
			var atGate workflows.FleetProgress
			var wrong, noBy, early updateOutcome
			env.RegisterDelayedCallback(func() {
				// The staging wave is done; the canary wave waits for a person.
				env.UpdateWorkflow(workflows.UpdateApprove, "", early.callbacks(), workflows.Decision{Gate: "wave:w3", By: "bob"})
				env.UpdateWorkflow(workflows.UpdateApprove, "", wrong.callbacks(), workflows.Decision{Gate: "contract", By: "bob"})
				env.UpdateWorkflow(workflows.UpdateApprove, "", noBy.callbacks(), workflows.Decision{Gate: "wave:w2"})
				atGate = fleetProgress(t, env)
				upd := workflows.UpdateApprove
				if !approve {
					upd = workflows.UpdateReject
				}
				var ok updateOutcome
				env.UpdateWorkflow(upd, "", ok.callbacks(), workflows.Decision{Gate: "wave:w2", By: "ann"})
			}, 3*time.Hour)
			var atSecondGate workflows.FleetProgress
			if approve {
				env.RegisterDelayedCallback(func() {
					atSecondGate = fleetProgress(t, env)
					var ok updateOutcome
					env.UpdateWorkflow(workflows.UpdateApprove, "", ok.callbacks(), workflows.Decision{Gate: "wave:w3", By: "ann"})
				}, 6*time.Hour)
			}
			env.ExecuteWorkflow(workflows.FleetWorkflow, fleetInput(t, ts))
			require.True(t, env.IsWorkflowCompleted())
			require.NoError(t, env.GetWorkflowError())

			assert.Equal(t, workflows.FleetAwaiting, atGate.Phase)
			assert.Equal(t, "wave:w2", atGate.AwaitingGate)
			assert.Equal(t, map[string]workflows.TargetStatus{"staging": "completed", "canary": "pending", "a": "pending", "b": "pending"}, statuses(atGate))
			require.Error(t, early.rejected)
			assert.Contains(t, early.rejected.Error(), `waiting at gate "wave:w2", not "wave:w3"`)
			require.Error(t, wrong.rejected)
			assert.Contains(t, wrong.rejected.Error(), "zdm approve orders-note-lower-TARGET --gate contract")
			require.Error(t, noBy.rejected)

			p := fleetProgress(t, env)
			if approve {
				assert.Equal(t, map[string]workflows.TargetStatus{"staging": "completed", "canary": "completed", "a": "pending", "b": "pending"}, statuses(atSecondGate))
				assert.Equal(t, "wave:w3", atSecondGate.AwaitingGate)
				assert.Equal(t, workflows.FleetCompleted, p.Phase)
				assert.Equal(t, map[string]workflows.TargetStatus{"staging": "completed", "canary": "completed", "a": "completed", "b": "completed"}, statuses(p))
				assert.Len(t, f.started, 4)
				assert.Len(t, p.Approvals, 2)
			} else {
				assert.Equal(t, workflows.FleetRejected, p.Phase)
				assert.Equal(t, map[string]workflows.TargetStatus{"staging": "completed", "canary": "not_started", "a": "not_started", "b": "not_started"}, statuses(p))
				assert.Len(t, f.started, 1)
				require.Len(t, p.Approvals, 1)
				assert.False(t, p.Approvals[0].Approved)
			}
		})
	}
}

func TestFleetStopStartsNothingAfterAFailure(t *testing.T) {
	f := newFakeFleet("a")
	env := fleetEnv(t, f)
	// a fails while b runs beside it; c waits for a free slot and never starts; the
	// second wave never starts.
	ts := targetsFile(2, false, fleet.OnFailureStop, []string{"a", "b", "c"}, []string{"d"})
	env.ExecuteWorkflow(workflows.FleetWorkflow, fleetInput(t, ts))
	require.True(t, env.IsWorkflowCompleted())
	err := env.GetWorkflowError()
	require.Error(t, err)
	assert.Contains(t, err.Error(), `1 of 4 databases did not complete: a (failed: migration failed and was rolled back: column "note" does not exist); the fleet stopped (on_failure: stop)`)

	p := fleetProgress(t, env)
	assert.Equal(t, workflows.FleetStopped, p.Phase)
	assert.Equal(t, map[string]workflows.TargetStatus{"a": "failed", "b": "completed", "c": "not_started", "d": "not_started"}, statuses(p))
	assert.ElementsMatch(t, []string{"zdm-orders-note-lower-a", "zdm-orders-note-lower-b"}, f.started)
}

func TestFleetContinueMigratesTheOthersAndReports(t *testing.T) {
	f := newFakeFleet("a")
	env := fleetEnv(t, f)
	ts := targetsFile(1, false, fleet.OnFailureContinue, []string{"a", "b"}, []string{"c"})
	env.ExecuteWorkflow(workflows.FleetWorkflow, fleetInput(t, ts))
	require.True(t, env.IsWorkflowCompleted())
	err := env.GetWorkflowError()
	require.Error(t, err)
	assert.Contains(t, err.Error(), "1 of 3 databases did not complete: a (failed:")
	assert.NotContains(t, err.Error(), "stopped")

	p := fleetProgress(t, env)
	assert.Equal(t, workflows.FleetFailed, p.Phase)
	assert.Equal(t, map[string]workflows.TargetStatus{"a": "failed", "b": "completed", "c": "completed"}, statuses(p))
	assert.Equal(t, 1, f.most)
	assert.Len(t, f.started, 3)
}

func TestFleetUnservedTargetStartsNothing(t *testing.T) {
	f := newFakeFleet()
	env := newEnv()
	env.RegisterWorkflow(workflows.MigrationWorkflow)
	env.RegisterWorkflow(workflows.FleetWorkflow)
	env.RegisterActivity(acts)
	env.OnWorkflow(workflows.MigrationWorkflow, mock.Anything, mock.Anything).Return(f.child)
	env.OnActivity(acts.CheckTargets, mock.Anything, mock.Anything).Return(wire.CheckTargetsResult{},
		temporal.NewNonRetryableApplicationError("the worker serves no target B_URL: nothing was started", wire.ErrUnknownTarget, nil))
	env.ExecuteWorkflow(workflows.FleetWorkflow, fleetInput(t, targetsFile(2, false, fleet.OnFailureStop, []string{"a", "b"})))
	require.True(t, env.IsWorkflowCompleted())
	err := env.GetWorkflowError()
	require.Error(t, err)
	assert.Contains(t, err.Error(), "the worker serves no target B_URL")
	assert.Empty(t, f.started)
	p := fleetProgress(t, env)
	assert.Equal(t, map[string]workflows.TargetStatus{"a": "not_started", "b": "not_started"}, statuses(p))
}

func TestFleetRefusesFlags(t *testing.T) {
	f := newFakeFleet()
	env := fleetEnv(t, f)
	in := fleetInput(t, targetsFile(1, false, fleet.OnFailureStop, []string{"a"}))
	in.Migration = parse(t, changeTypeYAML)
	env.ExecuteWorkflow(workflows.FleetWorkflow, in)
	require.Error(t, env.GetWorkflowError())
	assert.Contains(t, env.GetWorkflowError().Error(), "cannot name flags")
	assert.Empty(t, f.started)
	assert.Nil(t, f.envsSeen)
}

// A database whose own gate a person rejected rolled back: it did not migrate, so the
// stop policy starts no further database.
func TestFleetRejectedDatabaseCountsAsNotCompleted(t *testing.T) {
	f := newFakeFleet()
	env := newEnv()
	env.RegisterWorkflow(workflows.MigrationWorkflow)
	env.RegisterWorkflow(workflows.FleetWorkflow)
	env.RegisterActivity(acts)
	env.OnActivity(acts.CheckTargets, mock.Anything, mock.Anything).Return(wire.CheckTargetsResult{}, nil)
	env.OnWorkflow(workflows.MigrationWorkflow, mock.Anything, mock.Anything).Return(
		func(ctx workflow.Context, in workflows.MigrationInput) (*workflows.Result, error) {
			f.started = append(f.started, workflow.GetInfo(ctx).WorkflowExecution.ID)
			return &workflows.Result{Status: workflows.PhaseRolledBack, Progress: workflows.Progress{
				Approvals: []workflows.Approval{{Gate: "contract", Approved: false, By: "bob"}}}}, nil
		})
	env.ExecuteWorkflow(workflows.FleetWorkflow, fleetInput(t, targetsFile(1, false, fleet.OnFailureStop, []string{"a", "b"})))
	require.Error(t, env.GetWorkflowError())
	assert.Contains(t, env.GetWorkflowError().Error(), "a (rolled_back: rejected at gate contract by bob)")
	assert.Equal(t, map[string]workflows.TargetStatus{"a": "rolled_back", "b": "not_started"}, statuses(fleetProgress(t, env)))
	assert.Len(t, f.started, 1)
}
