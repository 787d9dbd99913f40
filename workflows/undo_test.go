package workflows_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"

	"github.com/zdmhq/zdm/activities"
	"github.com/zdmhq/zdm/internal/plan"
	"github.com/zdmhq/zdm/internal/planner"
	"github.com/zdmhq/zdm/internal/spec"
	"github.com/zdmhq/zdm/workflows"
)

// undoYAML is renameYAML without gates, with a day's undo window.
const undoYAML = `name: customers-full-name
table: customers
operations:
  - rename_column: {column: name, to: full_name}
flags: {dual_write: customers-dual-write, read_new: customers-read-new, app_refresh: 2s}
gates: []
undo_window: 24h
`

// undoDB is a fake database whose plan has an undo window.
func undoDB(t *testing.T, yaml string) (*fakeDB, spec.Migration) {
	env := newEnv()
	m := parse(t, yaml)
	db := newFakeDB(env, m)
	db.plan.Undo = &plan.Undo{Window: m.UndoWindow.D(),
		Contract: []planner.Statement{{ID: "contract/set-aside/name", SQL: "ALTER TABLE customers RENAME COLUMN name TO _zdm_undo_name"}},
		Revert:   []planner.Statement{{ID: "revert/swap-back/name", SQL: "ALTER TABLE customers RENAME COLUMN _zdm_undo_name TO name"}},
		Finalize: []planner.Statement{{ID: "finalize/drop-aside/name", SQL: "ALTER TABLE customers DROP COLUMN IF EXISTS _zdm_undo_name"}},
	}
	db.install()
	return db, m
}

// upToContract are the steps of undoYAML up to its contract: the contract tried with the
// whole revert, and with finalize, before it.
var upToContract = seq("Prepare", "RunDDL expand", "Rehearse rollback", "SetFlag customers-read-new off", "SetFlag customers-dual-write on", "BackfillBounds",
	repeat("BackfillSlice", 3), "Verify", "Rehearse contract and revert", "Rehearse contract and finalize",
	"SetFlag customers-read-new on", "SetFlag customers-dual-write off", "Contract")

func TestUndoWindowRevertByUpdate(t *testing.T) {
	db, m := undoDB(t, undoYAML)
	env := db.env
	var early, upd updateOutcome
	var inWindow workflows.Progress
	var contractAt time.Time
	env.RegisterDelayedCallback(func() {
		env.UpdateWorkflow(workflows.UpdateRevert, "too-early", early.callbacks(), workflows.UndoRequest{By: "ana"})
	}, time.Second)
	env.RegisterDelayedCallback(func() {
		inWindow = progressOf(t, env)
		contractAt = db.only(t, "Contract").At
		env.UpdateWorkflow(workflows.UpdateRevert, "revert", upd.callbacks(), workflows.UndoRequest{By: "ana", Comment: "checkout errors"})
	}, 3*time.Hour)

	runToEnd(t, env, workflows.MigrationInput{Migration: m})

	require.Error(t, early.rejected, "a revert before the window is refused by the validator")
	assert.Contains(t, early.rejected.Error(), "is not in its undo window")
	require.NoError(t, upd.rejected)
	require.NoError(t, upd.err)

	assert.Equal(t, workflows.PhaseUndoWindow, inWindow.Phase)
	assert.WithinDuration(t, contractAt.Add(24*time.Hour), inWindow.UndoUntil, 0, "the window ends a day after contract")
	assert.Equal(t, seq(upToContract, "RunDDL revert", "SetFlag customers-read-new off", "RunDDL rollback", "Finish reverted"), db.labels(),
		"revert: the old shape back first, then applications back to it, then the new shape dropped")
	revert := db.only(t, "RunDDL revert").Input.(activities.DDLInput)
	assert.True(t, revert.OneTransaction)
	assert.Equal(t, "revert/swap-back/name", revert.Statements[0].ID)
	contract := db.only(t, "Contract").Input.(activities.ContractInput)
	assert.Equal(t, db.plan.Undo.Contract, contract.Plan.Contract, "the window's contract sets the old column aside")
	var res workflows.Result
	require.NoError(t, env.GetWorkflowResult(&res))
	assert.Equal(t, workflows.PhaseReverted, res.Status)
	assert.Contains(t, db.notes, "rolled_back")
}

func TestUndoWindowFinalizeBySignal(t *testing.T) {
	db, m := undoDB(t, undoYAML)
	env := db.env
	var early workflows.Progress
	env.RegisterDelayedCallback(func() {
		// Sent during the backfill: refused then, never acted on later.
		env.SignalWorkflow(workflows.SignalRevert, map[string]any{"by": "ana"})
	}, time.Second)
	env.RegisterDelayedCallback(func() { early = progressOf(t, env) }, 2*time.Second)
	env.RegisterDelayedCallback(func() {
		env.SignalWorkflow(workflows.SignalFinalize, map[string]any{"by": "ana", "comment": "all good"})
	}, time.Hour)
	runToEnd(t, env, workflows.MigrationInput{Migration: m})
	assert.Contains(t, early.LastRefusal, "is not in its undo window")
	assert.Equal(t, seq(upToContract, "RunDDL finalize", "Finish completed"), db.labels())
	assert.Less(t, db.only(t, "RunDDL finalize").At.Sub(db.only(t, "Contract").At), 2*time.Hour, "finalized on request, not at the window's end")
	var res workflows.Result
	require.NoError(t, env.GetWorkflowResult(&res))
	assert.Equal(t, workflows.PhaseCompleted, res.Status)
}

func TestUndoWindowFinalizesAtItsEnd(t *testing.T) {
	db, m := undoDB(t, undoYAML)
	env := db.env
	runToEnd(t, env, workflows.MigrationInput{Migration: m})
	assert.Equal(t, seq(upToContract, "RunDDL finalize", "Finish completed"), db.labels())
	assert.Equal(t, 24*time.Hour, db.only(t, "RunDDL finalize").At.Sub(db.only(t, "Contract").At), "finalized when the window ends, on the durable timer")
}

func TestUndoWindowFinalizeGateWaitsAfterTheWindow(t *testing.T) {
	yaml := undoYAML[:len(undoYAML)-len("gates: []\nundo_window: 24h\n")] + "gates: [finalize]\nundo_window: 24h\n"
	for _, c := range []struct {
		approve bool
		want    []string
	}{
		{true, seq(upToContract, "RunDDL finalize", "Finish completed")},
		{false, seq(upToContract, "RunDDL revert", "SetFlag customers-read-new off", "RunDDL rollback", "Finish reverted")},
	} {
		db, m := undoDB(t, yaml)
		env := db.env
		var atGate workflows.Progress
		env.RegisterDelayedCallback(func() {
			atGate = progressOf(t, env)
			sig := workflows.SignalApprove
			if !c.approve {
				sig = workflows.SignalReject
			}
			env.SignalWorkflow(sig, approve("finalize", "ana"))
		}, 48*time.Hour)
		env.ExecuteWorkflow(workflows.MigrationWorkflow, workflows.MigrationInput{Migration: m})
		require.True(t, env.IsWorkflowCompleted())
		require.NoError(t, env.GetWorkflowError())
		assert.Equal(t, "finalize", atGate.AwaitingGate, "the window's end opens the finalize gate")
		assert.Equal(t, workflows.PhaseUndoWindow, atGate.Phase)
		assert.Equal(t, c.want, db.labels())
		assert.GreaterOrEqual(t, db.steps[len(db.steps)-2].At.Sub(db.steps[0].At), 48*time.Hour, "nothing happens before the gate is decided")
	}
}

// A revert whose SQL fails rolls nothing back (that would drop the new shape, which holds
// the live data): the migration waits in its window with the error, and a second request
// finishes it.
func TestUndoWindowFailedRevertWaitsForAPerson(t *testing.T) {
	db, m := undoDB(t, undoYAML)
	env := db.env
	db.fail["RunDDL revert"] = temporal.NewNonRetryableApplicationError("revert/swap-back/name: column is in use", "SQLError", nil)
	var afterFailure workflows.Progress
	var again updateOutcome
	env.RegisterDelayedCallback(func() {
		env.SignalWorkflow(workflows.SignalRevert, map[string]any{"by": "ana"})
	}, time.Hour)
	env.RegisterDelayedCallback(func() {
		afterFailure = progressOf(t, env)
		db.mu.Lock()
		delete(db.fail, "RunDDL revert")
		db.mu.Unlock()
		env.UpdateWorkflow(workflows.UpdateRevert, "again", again.callbacks(), workflows.UndoRequest{By: "ana"})
	}, 2*time.Hour)
	runToEnd(t, env, workflows.MigrationInput{Migration: m})
	require.NoError(t, again.rejected)

	assert.Equal(t, workflows.PhaseUndoWindow, afterFailure.Phase, "back in the window, not rolled back")
	assert.Contains(t, afterFailure.LastError, "revert failed: revert/swap-back/name: column is in use")
	assert.True(t, afterFailure.UndoUntil.IsZero(), "after a failure the migration waits for a person, not for the window's end")
	assert.Equal(t, seq(upToContract, "RunDDL revert", "RunDDL revert", "SetFlag customers-read-new off", "RunDDL rollback", "Finish reverted"), db.labels(),
		"nothing ran between the failed revert and the second request")
	assert.Contains(t, db.notes, "failed")
}
