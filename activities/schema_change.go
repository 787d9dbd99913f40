package activities

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.temporal.io/sdk/activity"

	"github.com/zdmhq/zdm/internal/pgexec"
	"github.com/zdmhq/zdm/internal/planner"
)

// RunDDL runs each statement in its own transaction under the lock timeout, retrying lock
// timeouts with backoff. Every statement is idempotent, so a retried activity is safe.
// It heartbeats while a long statement (VALIDATE CONSTRAINT) runs.
func (a *Activities) RunDDL(ctx context.Context, in DDLInput) (*DDLResult, error) {
	if err := a.onRecordedDatabase(ctx, in.Database); err != nil {
		return nil, err
	}
	note := &waitNote{}
	stop := keepAlive(ctx, 5*time.Second, note.details(in.Phase))
	defer stop()
	run := pgexec.Exec
	if in.OneTransaction {
		run = func(ctx context.Context, pool *pgxpool.Pool, stmts []planner.Statement, lt time.Duration, r pgexec.Retry) (int, error) {
			return pgexec.ExecOneTx(ctx, pool, in.Phase, stmts, lt, r)
		}
	}
	n, err := run(ctx, a.DB, in.Statements, in.LockTimeout, a.retryNoting(ctx, in.Migration, note))
	if err != nil {
		return nil, classify(err)
	}
	activity.GetLogger(ctx).Info("phase statements done", "migration", in.Migration, "phase", in.Phase, "statements", len(in.Statements), "lock_retries", n)
	return &DDLResult{LockRetries: n}, nil
}

// Rehearse runs a phase's statements in a transaction that is rolled back: whatever
// would make them fail is found before anyone approves (contract) or before anything
// depends on them (rollback). A statement that fails is a non-retryable SQLError.
func (a *Activities) Rehearse(ctx context.Context, in DDLInput) (*DDLResult, error) {
	if err := a.onRecordedDatabase(ctx, in.Database); err != nil {
		return nil, err
	}
	note := &waitNote{}
	stop := keepAlive(ctx, 5*time.Second, note.details("rehearse "+in.Phase))
	defer stop()
	n, err := pgexec.Rehearse(ctx, a.DB, "rehearse/"+in.Phase, in.Statements, in.LockTimeout, a.retryNoting(ctx, in.Migration, note))
	if err != nil {
		return nil, classify(fmt.Errorf("the %s statements would fail: %w", in.Phase, err))
	}
	activity.GetLogger(ctx).Info("phase rehearsed and rolled back", "migration", in.Migration, "phase", in.Phase, "statements", len(in.Statements))
	return &DDLResult{LockRetries: n}, nil
}

// Contract runs the plan's contract statements in one short transaction under the lock
// timeout, then those marked Concurrent (DROP INDEX CONCURRENTLY), each on its own. If the sync trigger is already gone the contract committed before (a retried
// activity) and nothing is run.
func (a *Activities) Contract(ctx context.Context, in ContractInput) (*DDLResult, error) {
	p := &in.Plan
	if err := a.onRecordedDatabase(ctx, p.Database); err != nil {
		return nil, err
	}
	note := &waitNote{}
	stop := keepAlive(ctx, 5*time.Second, note.details("contract"))
	defer stop()
	// With a sync trigger, its absence says the contract committed before (a retried
	// activity). Without one, the statements themselves are idempotent.
	var done func(context.Context, pgx.Tx) (bool, error)
	if len(p.Ops) > 0 {
		done = func(ctx context.Context, tx pgx.Tx) (bool, error) {
			exists, err := pgexec.TriggerExists(ctx, tx, p)
			return !exists, err
		}
	}
	n, err := pgexec.ExecOneTxSkip(ctx, a.DB, "contract", p.Contract, p.LockTimeout, a.retryNoting(ctx, p.Migration, note), done)
	if err != nil {
		return nil, classify(err)
	}
	return &DDLResult{LockRetries: n}, nil
}

// Finish releases the table for the next migration. It creates nothing: where zdm's
// bookkeeping table does not exist, there is no claim to release.
func (a *Activities) Finish(ctx context.Context, in FinishInput) error {
	if err := a.onRecordedDatabase(ctx, in.Database); err != nil {
		return err
	}
	if err := pgexec.Release(ctx, a.DB, in.Migration, in.Status, in.RunID); err != nil {
		return err
	}
	return pgexec.FinishRun(ctx, a.DB, in.Migration, in.Status, in.RunID)
}
