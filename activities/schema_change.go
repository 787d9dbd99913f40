package activities

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
	"go.temporal.io/sdk/activity"

	"github.com/zdmhq/zdm/internal/pgexec"
	"github.com/zdmhq/zdm/internal/planner"
)

// DDLInput is a list of statements of one phase.
type DDLInput struct {
	Migration   string              `json:"migration"`
	Phase       string              `json:"phase"`
	Statements  []planner.Statement `json:"statements"`
	LockTimeout time.Duration       `json:"lock_timeout"`
}

// DDLResult tells how hard the statements had to try.
type DDLResult struct {
	LockRetries int `json:"lock_retries"`
}

// RunDDL runs each statement in its own transaction under the lock timeout, retrying lock
// timeouts with backoff. Every statement is idempotent, so a retried activity is safe.
// It heartbeats while a long statement (VALIDATE CONSTRAINT) runs.
func (a *Activities) RunDDL(ctx context.Context, in DDLInput) (*DDLResult, error) {
	stop := keepAlive(ctx, 5*time.Second, func() any { return in.Phase })
	defer stop()
	n, err := pgexec.Exec(ctx, a.DB, in.Statements, in.LockTimeout, a.retry(ctx, in.Migration))
	if err != nil {
		return nil, classify(err)
	}
	activity.GetLogger(ctx).Info("phase statements done", "migration", in.Migration, "phase", in.Phase, "statements", len(in.Statements), "lock_retries", n)
	return &DDLResult{LockRetries: n}, nil
}

// ContractInput is the plan to contract.
type ContractInput struct {
	Plan planner.Plan `json:"plan"`
}

// Contract runs the plan's contract statements in one short transaction under the lock
// timeout. If the sync trigger is already gone the contract committed before (a retried
// activity) and nothing is run.
func (a *Activities) Contract(ctx context.Context, in ContractInput) (*DDLResult, error) {
	p := &in.Plan
	stop := keepAlive(ctx, 5*time.Second, func() any { return "contract" })
	defer stop()
	n, err := pgexec.ExecTx(ctx, a.DB, "contract", p.Contract, p.LockTimeout, a.retry(ctx, p.Migration),
		func(ctx context.Context, tx pgx.Tx) (bool, error) {
			exists, err := pgexec.TriggerExists(ctx, tx, p)
			return !exists, err
		})
	if err != nil {
		return nil, classify(err)
	}
	return &DDLResult{LockRetries: n}, nil
}

// FinishInput records how a migration ended.
type FinishInput struct {
	Migration string `json:"migration"`
	Status    string `json:"status"`
	// RunID, when set, releases the claim only if this run holds it.
	RunID string `json:"run_id,omitempty"`
}

// Finish releases the table for the next migration. It creates nothing: where zdm's
// bookkeeping table does not exist, there is no claim to release.
func (a *Activities) Finish(ctx context.Context, in FinishInput) error {
	return pgexec.Release(ctx, a.DB, in.Migration, in.Status, in.RunID)
}
