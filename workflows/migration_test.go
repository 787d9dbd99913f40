package workflows_test

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"

	"github.com/zdmhq/zdm/activities"
	"github.com/zdmhq/zdm/internal/pgexec"
	"github.com/zdmhq/zdm/internal/planner"
	"github.com/zdmhq/zdm/internal/spec"
	"github.com/zdmhq/zdm/internal/wire"
	"github.com/zdmhq/zdm/workflows"
)

func TestHappyPathRunsEveryStepInOrderAndPassesBothGates(t *testing.T) {
	env := newEnv()
	m := parse(t, renameYAML)
	db := newFakeDB(env, m)
	db.install()
	start := env.Now().UTC()

	var atReadNew, atContract workflows.Progress
	var stepsAtReadNew, stepsAtContract []string
	var upd updateOutcome
	env.RegisterDelayedCallback(func() {
		atReadNew, stepsAtReadNew = progressOf(t, env), db.labels()
		env.SignalWorkflow(workflows.SignalApprove, approve("read_new", "alice"))
	}, time.Minute)
	env.RegisterDelayedCallback(func() {
		atContract, stepsAtContract = progressOf(t, env), db.labels()
		env.UpdateWorkflow(workflows.UpdateApprove, "approve-contract", upd.callbacks(),
			workflows.Decision{Gate: "contract", By: "bob", Comment: "dashboards are green"})
	}, 2*time.Minute)

	env.ExecuteWorkflow(workflows.MigrationWorkflow, workflows.MigrationInput{Migration: m})

	require.True(t, env.IsWorkflowCompleted())
	require.NoError(t, env.GetWorkflowError())

	upTo := seq("Prepare", "RunDDL expand", "Rehearse rollback", "SetFlag customers-read-new off", "SetFlag customers-dual-write on", "BackfillBounds",
		repeat("BackfillSlice", 3), "Verify", "RunDDL validate", "Rehearse contract")
	assert.Equal(t, upTo, stepsAtReadNew, "steps before the read_new gate: the contract was already tried and rolled back")
	assert.Equal(t, seq(upTo, "SetFlag customers-read-new on"), stepsAtContract, "steps before the contract gate")
	assert.Equal(t, seq(upTo, "SetFlag customers-read-new on", "SetFlag customers-dual-write off", "Contract", "Finish completed"),
		db.labels(), "read_new stays on after contract: the renamed column is where the application reads")

	// What the gates showed a person.
	assert.Equal(t, workflows.PhaseAwaiting, atReadNew.Phase)
	assert.Equal(t, "read_new", atReadNew.AwaitingGate)
	assert.Equal(t, int64(30000), atReadNew.RowsDone)
	assert.Equal(t, int64(30000), atReadNew.RowsTotal, "a finished backfill's total is what it did, not the estimate")
	assert.Equal(t, 100.0, atReadNew.Percent)
	assert.Equal(t, int64(6), atReadNew.Batches)
	assert.InDelta(t, 5000.0, atReadNew.RowsPerSec, 0.001, "30000 rows in 3 slices of 2s")
	assert.Equal(t, 3+2, atReadNew.LockRetries, "one per slice, one per DDL phase")
	assert.Equal(t, []string{"read_new", "contract"}, atReadNew.Gates)
	assert.Equal(t, "customers-full-name", atReadNew.Migration)
	assert.Equal(t, "public.customers", atReadNew.Table)
	assert.Empty(t, atReadNew.Approvals)
	assert.Equal(t, []string{"customers-dual-write"}, atReadNew.FlagsOn)
	assert.Equal(t, time.Minute, atReadNew.Elapsed)

	assert.Equal(t, workflows.PhaseAwaiting, atContract.Phase)
	assert.Equal(t, "contract", atContract.AwaitingGate)
	assert.ElementsMatch(t, []string{"customers-dual-write", "customers-read-new"}, atContract.FlagsOn)
	require.Len(t, atContract.Approvals, 1)

	// The update answered with the progress after its decision.
	assert.True(t, upd.accepted)
	assert.NoError(t, upd.rejected)
	require.NoError(t, upd.err)
	updated, ok := upd.result.(workflows.Progress)
	require.True(t, ok, "update result is %T", upd.result)
	assert.Empty(t, updated.AwaitingGate)
	assert.Len(t, updated.Approvals, 2)

	var res workflows.Result
	require.NoError(t, env.GetWorkflowResult(&res))
	assert.Equal(t, workflows.PhaseCompleted, res.Status)
	assert.Equal(t, workflows.PhaseCompleted, res.Progress.Phase)
	assert.Equal(t, []string{"customers-read-new"}, res.Progress.FlagsOn)
	assert.Empty(t, res.Progress.LastError)
	assert.Equal(t, 3+2+2, res.Progress.LockRetries, "contract's lock retries count too")
	require.Len(t, res.Progress.Approvals, 2)
	ap := res.Progress.Approvals
	assert.Equal(t, workflows.Approval{Gate: "read_new", Approved: true, By: "alice", Via: "signal", At: start.Add(time.Minute)}, withUTC(ap[0]))
	assert.Equal(t, workflows.Approval{Gate: "contract", Approved: true, By: "bob", Comment: "dashboards are green", Via: "update", At: start.Add(2 * time.Minute)}, withUTC(ap[1]))

	// Inputs: each activity got what the plan and the file say.
	p := db.plan
	prep := db.only(t, "Prepare").Input.(activities.PrepareInput)
	assert.Equal(t, m.Name, prep.Migration.Name)
	assert.False(t, prep.DryRun)

	expand := db.only(t, "RunDDL expand").Input.(activities.DDLInput)
	assert.Equal(t, activities.DDLInput{Migration: m.Name, Phase: "expand", Statements: p.Expand, LockTimeout: 50 * time.Millisecond}, expand)
	validate := db.only(t, "RunDDL validate").Input.(activities.DDLInput)
	assert.Equal(t, p.Validate, validate.Statements)

	dualOn := db.only(t, "SetFlag customers-dual-write on")
	flag := dualOn.Input.(activities.FlagInput)
	assert.Equal(t, m.Name, flag.Migration)
	assert.Contains(t, flag.Description, m.Name)
	assert.Contains(t, flag.Description, "public.customers")

	target := pgexec.TargetOf(&p)
	assert.Equal(t, activities.BoundsInput{Target: target}, db.only(t, "BackfillBounds").Input)
	slices := db.calls("BackfillSlice")
	require.Len(t, slices, 3)
	for i, want := range []pgexec.Cursor{nil, {"10000"}, {"20000"}} {
		in := slices[i].Input.(activities.SliceInput)
		assert.Equal(t, activities.SliceInput{Target: target, Cursor: want, Upper: pgexec.Cursor{"30000"}, BatchSize: 5000, Budget: 5 * time.Second, MaxAppP99: spec.DefaultMaxAppP99, FileBatchSize: 5000}, in,
			"slice %d starts where the previous one ended", i+1)
	}
	assert.Equal(t, activities.VerifyInput{Target: target, Upper: pgexec.Cursor{"30000"}, Mode: wire.VerifySampled, Trigger: p.Trigger},
		db.only(t, "Verify").Input, "each batch proved its rows: verify samples")
	assert.Equal(t, activities.ContractInput{Plan: p}, db.only(t, "Contract").Input)
	assert.Equal(t, activities.FinishInput{Migration: m.Name, Status: pgexec.StatusCompleted}, db.only(t, "Finish completed").Input)

	// Contract waits until applications have seen dual_write go off.
	off := db.only(t, "SetFlag customers-dual-write off").At
	assert.Equal(t, settleTime, db.only(t, "Contract").At.Sub(off))

	assert.Equal(t, []string{"gate read_new", "gate contract", "completed"}, db.notes, "the team hears of each gate and of the end")
	readOn := db.only(t, "SetFlag customers-read-new on").At
	assert.Equal(t, settleTime, db.noteAt["gate contract"].Sub(readOn),
		"the contract gate opens once applications can have seen read_new")
}

func withUTC(a workflows.Approval) workflows.Approval {
	a.At = a.At.UTC()
	return a
}

func TestChangeTypeSwitchesBothFlagsOffBeforeContract(t *testing.T) {
	env := newEnv()
	m := parse(t, changeTypeYAML)
	db := newFakeDB(env, m)
	db.slice = slicesOf(30000, 1)
	db.install()
	require.False(t, db.plan.FlagsFinalReadNew())
	require.Empty(t, db.plan.Validate, "change_type adds no check to validate")

	env.RegisterDelayedCallback(func() {
		env.SignalWorkflow(workflows.SignalApprove, approve("contract", "carol"))
	}, time.Minute)
	env.ExecuteWorkflow(workflows.MigrationWorkflow, workflows.MigrationInput{Migration: m})

	require.True(t, env.IsWorkflowCompleted())
	require.NoError(t, env.GetWorkflowError())
	assert.Equal(t, []string{
		"Prepare", "RunDDL expand", "Rehearse rollback", "SetFlag accounts-read-new off", "SetFlag accounts-dual-write on", "BackfillBounds", "BackfillSlice", "Verify", "Rehearse contract",
		// no read_new gate: reads switch once dual_write has settled
		"SetFlag accounts-read-new on",
		// the new type lands under the old name: reads go back to it, writes stop doubling
		"SetFlag accounts-read-new off", "SetFlag accounts-dual-write off",
		"Contract", "Finish completed",
	}, db.labels())

	dualOn := db.only(t, "SetFlag accounts-dual-write on").At
	assert.Equal(t, 2*time.Second, db.only(t, "SetFlag accounts-read-new on").At.Sub(dualOn), "1s refresh + 1s margin")
	assert.Equal(t, 2*time.Second, db.only(t, "Contract").At.Sub(db.only(t, "SetFlag accounts-dual-write off").At))

	var res workflows.Result
	require.NoError(t, env.GetWorkflowResult(&res))
	assert.Equal(t, workflows.PhaseCompleted, res.Status)
	assert.Empty(t, res.Progress.FlagsOn)
}

func TestNoFlagsNoGatesRunsStraightThrough(t *testing.T) {
	env := newEnv()
	m := parse(t, noFlagsYAML)
	db := newFakeDB(env, m)
	db.install()

	env.ExecuteWorkflow(workflows.MigrationWorkflow, workflows.MigrationInput{Migration: m})

	require.True(t, env.IsWorkflowCompleted())
	require.NoError(t, env.GetWorkflowError())
	assert.Equal(t, seq("Prepare", "RunDDL expand", "Rehearse rollback", "BackfillBounds", repeat("BackfillSlice", 3), "Verify", "Rehearse contract", "Contract", "Finish completed"), db.labels())
}

func TestAnOperationThatFillsNoColumnSkipsBackfillAndVerify(t *testing.T) {
	env := newEnv()
	m := parse(t, noFlagsYAML)
	db := newFakeDB(env, m)
	db.plan.Ops, db.plan.NoBackfill = nil, true
	db.plan.Validate = []planner.Statement{{ID: "validate/fk", SQL: "ALTER TABLE t VALIDATE CONSTRAINT fk"}}
	db.install()

	env.ExecuteWorkflow(workflows.MigrationWorkflow, workflows.MigrationInput{Migration: m})

	require.True(t, env.IsWorkflowCompleted())
	require.NoError(t, env.GetWorkflowError())
	assert.Equal(t, seq("Prepare", "RunDDL expand", "Rehearse rollback", "RunDDL validate", "Rehearse contract", "Contract", "Finish completed"), db.labels(),
		"no bounds, slices or verification; the validation still runs")
}

func TestRejectAtContractRollsBack(t *testing.T) {
	env := newEnv()
	m := parse(t, renameYAML)
	db := newFakeDB(env, m)
	db.install()
	start := env.Now().UTC()

	env.RegisterDelayedCallback(func() {
		env.SignalWorkflow(workflows.SignalApprove, approve("read_new", "alice"))
	}, time.Minute)
	env.RegisterDelayedCallback(func() {
		env.SignalWorkflow(workflows.SignalReject, map[string]any{"gate": "contract", "by": "carol", "comment": "error rate doubled"})
	}, 2*time.Minute)
	env.ExecuteWorkflow(workflows.MigrationWorkflow, workflows.MigrationInput{Migration: m})

	require.True(t, env.IsWorkflowCompleted())
	require.NoError(t, env.GetWorkflowError(), "a rejection is an outcome, not a failure")
	assert.Equal(t, seq("Prepare", "RunDDL expand", "Rehearse rollback", "SetFlag customers-read-new off", "SetFlag customers-dual-write on", "BackfillBounds",
		repeat("BackfillSlice", 3), "Verify", "RunDDL validate", "Rehearse contract", "SetFlag customers-read-new on",
		// reads leave the new columns before writes stop filling them
		"SetFlag customers-read-new off", "SetFlag customers-dual-write off",
		"RunDDL rollback", "Finish rolled_back"), db.labels())
	assert.Empty(t, db.calls("Contract"))

	rb := db.only(t, "RunDDL rollback")
	assert.Equal(t, activities.DDLInput{Migration: m.Name, Phase: "rollback", Statements: db.plan.Rollback, LockTimeout: 50 * time.Millisecond}, rb.Input)
	assert.Equal(t, settleTime, rb.At.Sub(db.only(t, "SetFlag customers-dual-write off").At), "columns are dropped only once applications stopped using them")
	assert.Equal(t, activities.FinishInput{Migration: m.Name, Status: pgexec.StatusRolledBack}, db.only(t, "Finish rolled_back").Input)

	var res workflows.Result
	require.NoError(t, env.GetWorkflowResult(&res))
	assert.Equal(t, workflows.PhaseRolledBack, res.Status)
	assert.Equal(t, workflows.PhaseRolledBack, res.Progress.Phase)
	assert.Empty(t, res.Progress.FlagsOn)
	assert.Empty(t, res.Progress.AwaitingGate)
	assert.Empty(t, res.Progress.LastError)
	require.Len(t, res.Progress.Approvals, 2)
	assert.Equal(t, workflows.Approval{Gate: "contract", Approved: false, By: "carol", Comment: "error rate doubled", Via: "signal", At: start.Add(2 * time.Minute)},
		withUTC(res.Progress.Approvals[1]))
	assert.Equal(t, []string{"gate read_new", "gate contract", "rolled_back"}, db.notes)
}

func TestRejectAtReadNewByUpdateRollsBackWithoutTouchingReads(t *testing.T) {
	env := newEnv()
	m := parse(t, renameYAML)
	db := newFakeDB(env, m)
	db.install()

	var upd updateOutcome
	env.RegisterDelayedCallback(func() {
		env.UpdateWorkflow(workflows.UpdateReject, "", upd.callbacks(), workflows.Decision{Gate: "read_new", By: "dave"})
	}, time.Minute)
	env.ExecuteWorkflow(workflows.MigrationWorkflow, workflows.MigrationInput{Migration: m})

	require.True(t, env.IsWorkflowCompleted())
	require.NoError(t, env.GetWorkflowError())
	require.NoError(t, upd.rejected)
	require.NoError(t, upd.err)
	assert.Equal(t, seq("Prepare", "RunDDL expand", "Rehearse rollback", "SetFlag customers-read-new off", "SetFlag customers-dual-write on", "BackfillBounds",
		repeat("BackfillSlice", 3), "Verify", "RunDDL validate", "Rehearse contract",
		"SetFlag customers-dual-write off", "RunDDL rollback", "Finish rolled_back"), db.labels())

	var res workflows.Result
	require.NoError(t, env.GetWorkflowResult(&res))
	assert.Equal(t, workflows.PhaseRolledBack, res.Status)
	require.Len(t, res.Progress.Approvals, 1)
	assert.False(t, res.Progress.Approvals[0].Approved)
	assert.Equal(t, "update", res.Progress.Approvals[0].Via)
}

func TestFailureBeforeContractRollsBack(t *testing.T) {
	sqlErr := temporal.NewNonRetryableApplicationError(`column "full_name" of relation "customers" already exists with another type`, activities.ErrSQL, nil)
	cases := []struct {
		name    string
		failing string
		err     error
		cause   string
		want    []string
	}{{
		name:    "verify finds mismatched rows",
		failing: "Verify",
		err: temporal.NewNonRetryableApplicationError("verification found 2 row(s) whose new columns differ from the up expression of the old (keys 17, 4242)",
			activities.ErrMismatch, nil),
		cause: "verification found 2 row(s)",
		want: seq("Prepare", "RunDDL expand", "Rehearse rollback", "SetFlag customers-read-new off", "SetFlag customers-dual-write on", "BackfillBounds", repeat("BackfillSlice", 3), "Verify",
			"SetFlag customers-dual-write off", "RunDDL rollback", "Finish rolled_back"),
	}, {
		name:    "expand fails: no flag was switched",
		failing: "RunDDL expand",
		err:     sqlErr,
		cause:   "already exists with another type",
		want:    seq("Prepare", "RunDDL expand", "RunDDL rollback", "Finish rolled_back"),
	}, {
		name:    "the contract would fail: found before anyone is asked to approve",
		failing: "Rehearse contract",
		err: temporal.NewNonRetryableApplicationError(`the contract statements would fail: contract/default/abalance: invalid input syntax for type bigint: "n/a"`,
			activities.ErrSQL, nil),
		cause: "the contract statements would fail",
		want: seq("Prepare", "RunDDL expand", "Rehearse rollback", "SetFlag customers-read-new off", "SetFlag customers-dual-write on", "BackfillBounds", repeat("BackfillSlice", 3), "Verify",
			"RunDDL validate", "Rehearse contract", "SetFlag customers-dual-write off", "RunDDL rollback", "Finish rolled_back"),
	}, {
		name:    "dual_write cannot be switched on: nothing to switch off",
		failing: "SetFlag customers-dual-write on",
		err:     temporal.NewNonRetryableApplicationError("flag customers-dual-write is archived", activities.ErrFlagsUnavailable, nil),
		cause:   "flag customers-dual-write is archived",
		want:    seq("Prepare", "RunDDL expand", "Rehearse rollback", "SetFlag customers-read-new off", "SetFlag customers-dual-write on", "RunDDL rollback", "Finish rolled_back"),
	}, {
		name:    "a backfill batch violates a constraint",
		failing: "BackfillSlice",
		err:     temporal.NewNonRetryableApplicationError("backfill batch after [4000]: value too long for type character varying(40)", activities.ErrSQL, nil),
		cause:   "value too long",
		want: seq("Prepare", "RunDDL expand", "Rehearse rollback", "SetFlag customers-read-new off", "SetFlag customers-dual-write on", "BackfillBounds", "BackfillSlice",
			"SetFlag customers-dual-write off", "RunDDL rollback", "Finish rolled_back"),
	}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			env := newEnv()
			m := parse(t, renameYAML)
			db := newFakeDB(env, m)
			db.fail[tc.failing] = tc.err
			db.install()

			env.ExecuteWorkflow(workflows.MigrationWorkflow, workflows.MigrationInput{Migration: m})

			require.True(t, env.IsWorkflowCompleted())
			err := env.GetWorkflowError()
			require.Error(t, err)
			assert.ErrorContains(t, err, "rolled back")
			assert.ErrorContains(t, err, tc.cause)
			var app *temporal.ApplicationError
			require.True(t, errors.As(err, &app), "%T", err)
			assert.Equal(t, "MigrationFailed", app.Type())
			assert.True(t, app.NonRetryable())

			assert.Equal(t, tc.want, db.labels())
			assert.Len(t, db.calls(tc.failing), 1, "a non-retryable error is not retried")

			p := progressOf(t, env)
			assert.Equal(t, workflows.PhaseRolledBack, p.Phase)
			assert.Contains(t, p.LastError, tc.cause)
			assert.Empty(t, p.FlagsOn)
		})
	}
}

func TestInvalidMigrationFailsWithoutRollback(t *testing.T) {
	env := newEnv()
	m := parse(t, renameYAML)
	db := newFakeDB(env, m)
	const msg = `migration.yaml:4: operations[0].rename_column.column: column "name" does not exist in public.customers; use "nom"`
	db.fail["Prepare"] = temporal.NewNonRetryableApplicationError(msg, activities.ErrInvalidMigration, nil)
	db.install()

	env.ExecuteWorkflow(workflows.MigrationWorkflow, workflows.MigrationInput{Migration: m})

	require.True(t, env.IsWorkflowCompleted())
	err := env.GetWorkflowError()
	require.Error(t, err)
	assert.ErrorContains(t, err, msg)
	assert.NotContains(t, err.Error(), "rolled back")
	assert.Equal(t, []string{"Prepare", "Finish failed"}, db.labels(),
		"nothing was changed, so nothing is undone; only a claim this run may hold is released")

	p := progressOf(t, env)
	assert.Equal(t, workflows.PhaseFailed, p.Phase)
	assert.Equal(t, msg, p.LastError)
}

func TestCancelAtGateRollsBack(t *testing.T) {
	env := newEnv()
	m := parse(t, renameYAML)
	db := newFakeDB(env, m)
	db.install()

	env.RegisterDelayedCallback(env.CancelWorkflow, time.Minute)
	env.ExecuteWorkflow(workflows.MigrationWorkflow, workflows.MigrationInput{Migration: m})

	require.True(t, env.IsWorkflowCompleted())
	err := env.GetWorkflowError()
	require.Error(t, err)
	assert.True(t, temporal.IsCanceledError(err), "%v", err)
	assert.Equal(t, seq("Prepare", "RunDDL expand", "Rehearse rollback", "SetFlag customers-read-new off", "SetFlag customers-dual-write on", "BackfillBounds",
		repeat("BackfillSlice", 3), "Verify", "RunDDL validate", "Rehearse contract",
		"SetFlag customers-dual-write off", "RunDDL rollback", "Finish rolled_back"), db.labels())
}
