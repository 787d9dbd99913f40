package workflows

import (
	"go.temporal.io/sdk/workflow"

	"github.com/zdmhq/zdm/internal/plan"
	"github.com/zdmhq/zdm/internal/wire"
)

// The steps past the last gate that contract, rollback, revert and finalize share: each
// retries until it succeeds, since stopping half-way would leave the table between two
// shapes.

// flagsOff moves applications back to the old shape: read_new and dual_write off, then
// waits until applications have seen it.
func (r *run) flagsOff(ctx workflow.Context) error {
	for _, which := range []string{"read_new", "dual_write"} {
		if f := r.flag(which); f != "" && r.isOn(f) {
			if err := r.setFlag(ctx, f, false); err != nil {
				return err
			}
		}
	}
	return r.settle(ctx)
}

// ddlUntilDone runs statements of the plan as the phase's DDL, in one transaction when
// oneTx, retried until it succeeds.
func (r *run) ddlUntilDone(ctx workflow.Context, phase string, stmts []plan.Statement, oneTx bool) (wire.DDLResult, error) {
	p := r.st.Plan
	var res wire.DDLResult
	err := workflow.ExecuteActivity(untilDoneOptions(ctx), wire.RunDDL, wire.DDLInput{
		Migration: p.Migration, Phase: phase, Statements: stmts, LockTimeout: p.LockTimeout,
		OneTransaction: oneTx, Database: p.Database,
	}).Get(ctx, &res)
	return res, err
}

// finish records how the migration ended and releases its table, retried until it
// succeeds.
func (r *run) finish(ctx workflow.Context, status string) error {
	return workflow.ExecuteActivity(untilDoneOptions(ctx), wire.Finish, wire.FinishInput{Migration: r.m.Name, Status: status,
		Database: r.st.Plan.Database}).Get(ctx, nil)
}
