package workflows_test

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/workflow"

	"github.com/zdmhq/zdm/activities"
	"github.com/zdmhq/zdm/internal/pgexec"
	"github.com/zdmhq/zdm/workflows"
)

// nextInput decodes the input a run continued as new with.
func nextInput(t *testing.T, err error) workflows.MigrationInput {
	t.Helper()
	require.Error(t, err)
	require.True(t, workflow.IsContinueAsNewError(err), "want continue-as-new, got %v", err)
	var can *workflow.ContinueAsNewError
	require.True(t, errors.As(err, &can))
	require.NotNil(t, can.WorkflowType)
	assert.Equal(t, "MigrationWorkflow", can.WorkflowType.Name)
	var in workflows.MigrationInput
	require.NoError(t, converter.GetDefaultDataConverter().FromPayloads(can.Input, &in))
	return in
}

// TestContinueAsNewCarriesTheBackfill runs a backfill that outlasts one run, then feeds
// what it continued with to a second run, which must pick up at the cursor, still paused,
// without planning, expanding or reading the bounds again.
func TestContinueAsNewCarriesTheBackfill(t *testing.T) {
	m := parse(t, renameYAML)
	opts := workflows.Options{SlicesPerRun: 2}

	// Run 1: two slices of a long table, a premature approval, and a pause during the
	// second slice.
	env := newEnv()
	db := newFakeDB(env, m)
	db.bounds = activities.Bounds{Upper: pgexec.Cursor{"900000"}}
	db.slice = slicesOf(10000, 90)
	db.sliceTakes = 10 * time.Second
	db.install()
	start := env.Now().UTC()
	env.RegisterDelayedCallback(func() {
		env.SignalWorkflow(workflows.SignalApprove, approve("read_new", "alice"))
	}, 5*time.Second)
	env.RegisterDelayedCallback(func() {
		env.SignalWorkflow(workflows.SignalPause, map[string]any{"by": "bob"})
	}, 15*time.Second)

	env.ExecuteWorkflow(workflows.MigrationWorkflow, workflows.MigrationInput{Migration: m, Options: opts})

	require.True(t, env.IsWorkflowCompleted())
	next := nextInput(t, env.GetWorkflowError())
	assert.Equal(t, seq("Prepare", "RunDDL expand", "Rehearse rollback", "SetFlag customers-read-new off", "SetFlag customers-dual-write on", "BackfillBounds", repeat("BackfillSlice", 2)), db.labels())

	assert.Equal(t, m, next.Migration)
	assert.Equal(t, opts, next.Options)
	st := next.State
	require.NotNil(t, st)
	assert.Equal(t, workflows.PhaseBackfilling, st.Phase)
	require.NotNil(t, st.Plan)
	assert.Equal(t, db.plan, *st.Plan)
	assert.True(t, st.Expanded)
	assert.True(t, st.BoundsKnown)
	assert.False(t, st.BackfillDone)
	assert.False(t, st.Verified)
	assert.Equal(t, pgexec.Cursor{"20000"}, st.Cursor)
	assert.Equal(t, pgexec.Cursor{"900000"}, st.Upper)
	assert.Equal(t, int64(20000), st.RowsDone)
	assert.Equal(t, int64(4), st.Batches)
	assert.Equal(t, 4*time.Second, st.BackfillActive)
	assert.Equal(t, 1, st.ContinuedAsNew)
	assert.Equal(t, []string{"customers-dual-write"}, st.FlagsOn)
	assert.True(t, st.Paused, "a pause is not lost at continue-as-new")
	assert.Equal(t, "bob", st.PausedBy)
	assert.Contains(t, st.LastRefusal, "not waiting at any gate")
	assert.Empty(t, st.Approvals)
	assert.Equal(t, start, st.StartedAt.UTC())

	// Run 2, in a fresh environment: still paused until resumed, then on to the end.
	env2 := newEnv()
	db2 := newFakeDB(env2, m)
	db2.slice = func(int, activities.SliceInput) activities.SliceProgress {
		return activities.SliceProgress{Cursor: pgexec.Cursor{"900000"}, Rows: 880000, RowsDone: 900000, Batches: 88, Done: true, Elapsed: time.Minute}
	}
	db2.install()
	slicesWhilePaused := -1
	env2.RegisterDelayedCallback(func() {
		slicesWhilePaused = db2.sliceCount()
		env2.SignalWorkflow(workflows.SignalResume, map[string]any{"by": "bob"})
	}, time.Minute)
	env2.RegisterDelayedCallback(func() {
		env2.SignalWorkflow(workflows.SignalApprove, approve("read_new", "alice"))
	}, 2*time.Minute)
	env2.RegisterDelayedCallback(func() {
		env2.SignalWorkflow(workflows.SignalApprove, approve("contract", "bob"))
	}, 3*time.Minute)

	env2.ExecuteWorkflow(workflows.MigrationWorkflow, next)

	require.True(t, env2.IsWorkflowCompleted())
	require.NoError(t, env2.GetWorkflowError())
	assert.Equal(t, 0, slicesWhilePaused)
	assert.Equal(t, []string{"BackfillSlice", "Verify", "RunDDL validate", "Rehearse contract", "SetFlag customers-read-new on",
		"SetFlag customers-dual-write off", "Contract", "Finish completed"}, db2.labels(),
		"no Prepare, expand, dual_write or bounds again")
	in := db2.only(t, "BackfillSlice").Input.(activities.SliceInput)
	assert.Equal(t, pgexec.Cursor{"20000"}, in.Cursor)
	assert.Equal(t, pgexec.Cursor{"900000"}, in.Upper)
	assert.Equal(t, pgexec.Cursor{"900000"}, db2.only(t, "Verify").Input.(activities.VerifyInput).Upper)

	var res workflows.Result
	require.NoError(t, env2.GetWorkflowResult(&res))
	assert.Equal(t, workflows.PhaseCompleted, res.Status)
	assert.Equal(t, int64(900000), res.Progress.RowsDone)
	assert.Equal(t, int64(92), res.Progress.Batches)
	assert.Equal(t, start, res.Progress.StartedAt.UTC(), "the migration started with the first run")
	assert.Len(t, res.Progress.Approvals, 2)
}

// TestContinueAsNewKeepsDecisions checks the decisions of a state survive another
// continue-as-new, and that a gate already decided is not awaited again.
func TestContinueAsNewKeepsDecisions(t *testing.T) {
	m := parse(t, renameYAML)
	plan := planFor(m)
	decidedAt := time.Date(2026, 3, 1, 9, 30, 0, 0, time.UTC)
	readNew := workflows.Approval{Gate: "read_new", Approved: true, By: "alice", Comment: "ok", At: decidedAt, Via: "update"}
	state := func() *workflows.State {
		return &workflows.State{
			Phase: workflows.PhaseBackfilling, Plan: &plan, Expanded: true, BoundsKnown: true,
			FlagsOn: []string{"customers-dual-write"},
			Upper:   pgexec.Cursor{"30000"}, Cursor: pgexec.Cursor{"10000"}, RowsDone: 10000, RowsTotal: 30000,
			ContinuedAsNew: 3,
			Decisions:      map[string]*workflows.Approval{"read_new": &readNew},
			Approvals:      []workflows.Approval{readNew},
			StartedAt:      decidedAt.Add(-time.Hour),
		}
	}

	t.Run("carried", func(t *testing.T) {
		env := newEnv()
		db := newFakeDB(env, m)
		db.slice = slicesOf(5000, 99)
		db.install()

		env.ExecuteWorkflow(workflows.MigrationWorkflow, workflows.MigrationInput{Migration: m, Options: workflows.Options{SlicesPerRun: 1}, State: state()})

		next := nextInput(t, env.GetWorkflowError())
		assert.Equal(t, []string{"BackfillSlice"}, db.labels())
		require.NotNil(t, next.State)
		assert.Equal(t, 4, next.State.ContinuedAsNew)
		require.Contains(t, next.State.Decisions, "read_new")
		assert.Equal(t, readNew, withUTC(*next.State.Decisions["read_new"]))
		require.Len(t, next.State.Approvals, 1)
		assert.Equal(t, readNew, withUTC(next.State.Approvals[0]))
	})

	t.Run("decided gate not awaited", func(t *testing.T) {
		env := newEnv()
		db := newFakeDB(env, m)
		db.slice = slicesOf(30000, 1)
		db.install()
		var atGate workflows.Progress
		env.RegisterDelayedCallback(func() {
			atGate = progressOf(t, env)
			env.SignalWorkflow(workflows.SignalApprove, approve("contract", "bob"))
		}, time.Minute)

		env.ExecuteWorkflow(workflows.MigrationWorkflow, workflows.MigrationInput{Migration: m, State: state()})

		require.True(t, env.IsWorkflowCompleted())
		require.NoError(t, env.GetWorkflowError())
		assert.Equal(t, "contract", atGate.AwaitingGate, "read_new was approved before continue-as-new")
		assert.Equal(t, []string{"BackfillSlice", "Verify", "RunDDL validate", "Rehearse contract", "SetFlag customers-read-new on",
			"SetFlag customers-dual-write off", "Contract", "Finish completed"}, db.labels())
		var res workflows.Result
		require.NoError(t, env.GetWorkflowResult(&res))
		require.Len(t, res.Progress.Approvals, 2)
		assert.Equal(t, readNew, withUTC(res.Progress.Approvals[0]))
	})
}

func TestContinueAsNewWhenTheServerSuggestsIt(t *testing.T) {
	env := newEnv()
	m := parse(t, noFlagsYAML)
	db := newFakeDB(env, m)
	db.install()
	env.SetContinueAsNewSuggested(true)

	env.ExecuteWorkflow(workflows.MigrationWorkflow, workflows.MigrationInput{Migration: m})

	require.True(t, env.IsWorkflowCompleted())
	next := nextInput(t, env.GetWorkflowError())
	assert.Equal(t, []string{"Prepare", "RunDDL expand", "Rehearse rollback", "BackfillBounds", "BackfillSlice"}, db.labels(),
		"well before SlicesPerRun's default of 500")
	require.NotNil(t, next.State)
	assert.Equal(t, pgexec.Cursor{"10000"}, next.State.Cursor)
}
