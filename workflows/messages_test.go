package workflows_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zdmhq/zdm/workflows"
)

// TestBadDecisionsAreRefusedAndTheGateKeepsWaiting sends every kind of wrong decision a
// person can type, checks each leaves the migration where it was with the reason in the
// progress query, and then lets a correct approval through.
func TestBadDecisionsAreRefusedAndTheGateKeepsWaiting(t *testing.T) {
	env := newEnv()
	m := parse(t, renameYAML)
	db := newFakeDB(env, m)
	db.sliceTakes = 10 * time.Second // the backfill runs from 0s to 30s
	db.install()

	// An approval that would be right at the gate, sent while the backfill still runs.
	var early workflows.Progress
	env.RegisterDelayedCallback(func() {
		env.SignalWorkflow(workflows.SignalApprove, approve("read_new", "alice"))
	}, 5*time.Second)
	env.RegisterDelayedCallback(func() { early = progressOf(t, env) }, 6*time.Second)

	// At the read_new gate (reached at 30s): one bad signal a minute, each looked at 30s later.
	bad := []struct {
		signal  string
		payload any
		reason  string
	}{
		{workflows.SignalApprove, approve("contract", "alice"), `waiting at gate "read_new", not "contract"`},
		{workflows.SignalApprove, approve("read-new", "alice"), `unknown gate "read-new"`},
		{workflows.SignalApprove, map[string]any{"gate": "read_new"}, `"by" is required`},
		{workflows.SignalApprove, approve("read_new", "   "), `"by" is required`},
		{workflows.SignalApprove, map[string]any{"gate": "read_new", "by": "alice", "approved": true}, `unknown field "approved"`},
		{workflows.SignalApprove, "yes", "malformed payload"},
		{workflows.SignalApprove, nil, "no payload"},
		{workflows.SignalReject, approve("contract", "mallory"), `waiting at gate "read_new", not "contract"`},
		{workflows.SignalReject, map[string]any{"gate": "read_new", "by": "mallory", "reason": "typo"}, `unknown field "reason"`},
	}
	seen := make([]workflows.Progress, len(bad))
	for i, b := range bad {
		at := time.Duration(i+1) * time.Minute
		env.RegisterDelayedCallback(func() { env.SignalWorkflow(b.signal, b.payload) }, at)
		env.RegisterDelayedCallback(func() { seen[i] = progressOf(t, env) }, at+30*time.Second)
	}

	// Then updates for the wrong gate, which their validator rejects.
	var wrongGate, noBy updateOutcome
	afterBad := time.Duration(len(bad)+1) * time.Minute
	env.RegisterDelayedCallback(func() {
		env.UpdateWorkflow(workflows.UpdateApprove, "", wrongGate.callbacks(), workflows.Decision{Gate: "contract", By: "bob"})
		env.UpdateWorkflow(workflows.UpdateReject, "", noBy.callbacks(), workflows.Decision{Gate: "read_new"})
	}, afterBad)

	// Still at the gate; now the right approvals.
	var stillWaiting workflows.Progress
	var stepsWhileWaiting []string
	env.RegisterDelayedCallback(func() {
		stillWaiting, stepsWhileWaiting = progressOf(t, env), db.labels()
		env.SignalWorkflow(workflows.SignalApprove, approve("read_new", "alice"))
	}, afterBad+time.Minute)
	env.RegisterDelayedCallback(func() {
		env.SignalWorkflow(workflows.SignalApprove, approve("contract", "bob"))
	}, afterBad+2*time.Minute)

	env.ExecuteWorkflow(workflows.MigrationWorkflow, workflows.MigrationInput{Migration: m})

	require.True(t, env.IsWorkflowCompleted())
	require.NoError(t, env.GetWorkflowError())

	assert.Equal(t, workflows.PhaseBackfilling, early.Phase)
	assert.Empty(t, early.Approvals)
	assert.True(t, strings.HasPrefix(early.LastRefusal, "approve at "), early.LastRefusal)
	assert.Contains(t, early.LastRefusal, "not waiting at any gate (phase backfilling)")

	for i, b := range bad {
		p := seen[i]
		name := fmt.Sprintf("%s %v", b.signal, b.payload)
		assert.Equal(t, workflows.PhaseAwaiting, p.Phase, name)
		assert.Equal(t, "read_new", p.AwaitingGate, name)
		assert.Empty(t, p.Approvals, name)
		assert.True(t, strings.HasPrefix(p.LastRefusal, b.signal+" at "), "%s: %s", name, p.LastRefusal)
		assert.Contains(t, p.LastRefusal, b.reason, name)
	}
	assert.Contains(t, seen[2].LastRefusal, `"gate": "<gate>"`, "a refusal says what to send instead")

	require.Error(t, wrongGate.rejected)
	assert.Contains(t, wrongGate.rejected.Error(), `waiting at gate "read_new", not "contract"`)
	assert.False(t, wrongGate.accepted)
	require.Error(t, noBy.rejected)
	assert.Contains(t, noBy.rejected.Error(), `"by" is required`)
	assert.False(t, noBy.accepted)

	assert.Equal(t, workflows.PhaseAwaiting, stillWaiting.Phase)
	assert.Equal(t, "read_new", stillWaiting.AwaitingGate)
	assert.Empty(t, stillWaiting.Approvals)
	assert.False(t, labelsContain(stepsWhileWaiting, "SetFlag customers-read-new on"), "%v", stepsWhileWaiting)
	assert.False(t, labelsContain(db.labels(), "RunDDL rollback"), "a refused reject rolls nothing back")

	var res workflows.Result
	require.NoError(t, env.GetWorkflowResult(&res))
	assert.Equal(t, workflows.PhaseCompleted, res.Status)
	require.Len(t, res.Progress.Approvals, 2)
	assert.Equal(t, "read_new", res.Progress.Approvals[0].Gate)
	assert.Equal(t, "contract", res.Progress.Approvals[1].Gate)
}

func TestPauseHoldsTheBackfillUntilResume(t *testing.T) {
	env := newEnv()
	m := parse(t, noFlagsYAML)
	db := newFakeDB(env, m)
	db.sliceTakes = 10 * time.Second
	db.install()
	start := env.Now()

	// The first slice runs from 0s to 10s; the pause arrives during it.
	env.RegisterDelayedCallback(func() {
		env.SignalWorkflow(workflows.SignalPause, map[string]any{"by": "bob", "reason": "month-end batch jobs"})
	}, 5*time.Second)
	var paused workflows.Progress
	slicesWhilePaused := -1
	env.RegisterDelayedCallback(func() {
		paused, slicesWhilePaused = progressOf(t, env), db.sliceCount()
		env.SignalWorkflow(workflows.SignalResume, nil)
	}, time.Hour)
	var resumed workflows.Progress
	env.RegisterDelayedCallback(func() { resumed = progressOf(t, env) }, time.Hour+5*time.Second)

	env.ExecuteWorkflow(workflows.MigrationWorkflow, workflows.MigrationInput{Migration: m})

	require.True(t, env.IsWorkflowCompleted())
	require.NoError(t, env.GetWorkflowError())

	assert.Equal(t, 1, slicesWhilePaused, "the slice running when the pause came finishes; no other starts")
	assert.Equal(t, workflows.PhaseBackfilling, paused.Phase)
	assert.True(t, paused.Paused)
	assert.Equal(t, "bob month-end batch jobs", paused.PausedBy)
	assert.Equal(t, int64(10000), paused.RowsDone)
	assert.False(t, resumed.Paused)
	assert.Empty(t, resumed.PausedBy)

	slices := db.calls("BackfillSlice")
	require.Len(t, slices, 3)
	assert.Equal(t, 10*time.Second, slices[0].At.Sub(start))
	assert.Equal(t, time.Hour+10*time.Second, slices[1].At.Sub(start), "the second slice starts at resume")
	assert.Equal(t, seq("Prepare", "RunDDL expand", "Rehearse rollback", "BackfillBounds", repeat("BackfillSlice", 3), "Verify", "Rehearse contract", "Contract", "Finish completed"), db.labels())

	var res workflows.Result
	require.NoError(t, env.GetWorkflowResult(&res))
	assert.Equal(t, workflows.PhaseCompleted, res.Status)
	assert.False(t, res.Progress.Paused)
}

func TestMalformedPauseIsRefusedAndDoesNotPause(t *testing.T) {
	env := newEnv()
	m := parse(t, noFlagsYAML)
	db := newFakeDB(env, m)
	db.sliceTakes = 10 * time.Second
	db.install()

	env.RegisterDelayedCallback(func() {
		env.SignalWorkflow(workflows.SignalPause, map[string]any{"who": "bob"})
	}, 5*time.Second)
	var p workflows.Progress
	env.RegisterDelayedCallback(func() { p = progressOf(t, env) }, 6*time.Second)

	env.ExecuteWorkflow(workflows.MigrationWorkflow, workflows.MigrationInput{Migration: m})

	require.True(t, env.IsWorkflowCompleted())
	require.NoError(t, env.GetWorkflowError())
	assert.False(t, p.Paused)
	assert.True(t, strings.HasPrefix(p.LastRefusal, "pause at "), p.LastRefusal)
	assert.Contains(t, p.LastRefusal, `unknown field "who"`)
	assert.Contains(t, p.LastRefusal, `"reason"`, "the help names the pause payload's fields")
	assert.NotContains(t, p.LastRefusal, `"gate"`, "a pause has no gate")
	assert.Len(t, db.calls("BackfillSlice"), 3)
}
