package opstest

// The only file of the harness that calls the engine: one function per phase, each a few
// lines over the same calls the workflow's activities make. When the engine's API
// changes, these are re-pointed and nothing else.

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/zdmhq/zdm/activities"
	"github.com/zdmhq/zdm/internal/pgexec"
	"github.com/zdmhq/zdm/internal/planner"
	"github.com/zdmhq/zdm/internal/spec"
)

// PlanResult is the engine's plan of a migration, as the phases take it.
type PlanResult = planner.Plan

// Plan parses the migration file and plans it against the live table, as the workflow's
// Prepare does: the table is inspected and every expression EXPLAIN-checked. It changes
// nothing.
func Plan(ctx context.Context, pool *pgxpool.Pool, file string, yaml []byte) (*planner.Plan, error) {
	m, err := spec.Parse(file, yaml)
	if err != nil {
		return nil, err
	}
	return activities.Plan(ctx, &activities.Activities{DB: pool}, m, false)
}

// Expand claims the table for run runID and runs the plan's expand statements.
func Expand(ctx context.Context, pool *pgxpool.Pool, p *planner.Plan, runID string) error {
	if err := pgexec.EnsureState(ctx, pool); err != nil {
		return err
	}
	if _, err := pgexec.Claim(ctx, pool, p.Migration, p.Claims(), runID); err != nil {
		return fmt.Errorf("claim: %w", err)
	}
	if _, err := pgexec.Exec(ctx, pool, p.Expand, p.LockTimeout, pgexec.DefaultRetry); err != nil {
		return err
	}
	// As the workflow does: whatever would make the rollback fail is found now.
	if _, err := pgexec.Rehearse(ctx, pool, "rehearse/rollback", p.Rollback, p.LockTimeout, pgexec.DefaultRetry); err != nil {
		return fmt.Errorf("rollback rehearsal: %w", err)
	}
	return nil
}

// Backfill runs batches of size rows from the committed cursor up to the largest key the
// table holds now. It returns the rows updated and the batches run.
func Backfill(ctx context.Context, pool *pgxpool.Pool, p *planner.Plan, size int) (rows int64, batches int, err error) {
	if p.NoBackfill {
		return 0, 0, nil
	}
	target := pgexec.TargetOf(p)
	upper, err := pgexec.Upper(ctx, pool, target)
	if err != nil || upper == nil {
		return 0, 0, err // an empty table has nothing to backfill
	}
	st, err := pgexec.ReadProgress(ctx, pool, p.Migration)
	if err != nil {
		return 0, 0, err
	}
	bf := &pgexec.Backfiller{Pool: pool, Target: target, Upper: upper, Size: size}
	cursor := st.Cursor
	for {
		b, err := bf.Next(ctx, cursor)
		if err != nil {
			return rows, batches, err
		}
		rows, batches, cursor = rows+b.Rows, batches+1, b.Cursor
		if b.Done {
			return rows, batches, nil
		}
	}
}

// ErrMismatch is returned when rows' new columns differ from what their old columns say
// they should be.
var ErrMismatch = errors.New("backfill mismatch")

// Consistent counts the rows, up to the largest key the table holds now, whose new
// columns differ from what their old columns say they should be; there must be none.
func Consistent(ctx context.Context, pool *pgxpool.Pool, p *planner.Plan) error {
	if p.NoBackfill {
		return nil
	}
	target := pgexec.TargetOf(p)
	upper, err := pgexec.Upper(ctx, pool, target)
	if err != nil || upper == nil {
		return err
	}
	n, sample, err := pgexec.Mismatches(ctx, pool, target, nil, upper)
	if err != nil {
		return err
	}
	if n != 0 {
		return fmt.Errorf("%w: %d rows, keys %v, are not what their old columns say (mismatch when %s)", ErrMismatch, n, sample, target.Mismatch)
	}
	return nil
}

// Verify checks that the backfill left no mismatch (Consistent), then runs the plan's
// validate statements (NOT VALID checks validated, copies of indexes built).
func Verify(ctx context.Context, pool *pgxpool.Pool, p *planner.Plan) error {
	if err := Consistent(ctx, pool, p); err != nil {
		return err
	}
	if _, err := pgexec.Exec(ctx, pool, p.Validate, p.LockTimeout, pgexec.DefaultRetry); err != nil {
		return err
	}
	// As the workflow does before any gate: the contract is tried and rolled back.
	if _, err := pgexec.Rehearse(ctx, pool, "rehearse/contract", p.Contract, p.LockTimeout, pgexec.DefaultRetry); err != nil {
		return fmt.Errorf("contract rehearsal: %w", err)
	}
	return nil
}

// Contract runs the plan's contract statements in one transaction.
func Contract(ctx context.Context, pool *pgxpool.Pool, p *planner.Plan) error {
	_, err := pgexec.ExecOneTxSkip(ctx, pool, "contract", p.Contract, p.LockTimeout, pgexec.DefaultRetry, nil)
	return err
}

// Rollback undoes expand and releases the table.
func Rollback(ctx context.Context, pool *pgxpool.Pool, p *planner.Plan) error {
	run := pgexec.Exec
	if p.RollbackTx {
		run = func(ctx context.Context, pool *pgxpool.Pool, stmts []planner.Statement, lt time.Duration, r pgexec.Retry) (int, error) {
			return pgexec.ExecOneTx(ctx, pool, "rollback", stmts, lt, r)
		}
	}
	if _, err := run(ctx, pool, p.Rollback, p.LockTimeout, pgexec.DefaultRetry); err != nil {
		return err
	}
	return pgexec.Release(ctx, pool, p.Migration, pgexec.StatusRolledBack, "")
}

// Moved maps each column the plan replaces (change_type, rename_column) to the name its
// data has after contract.
func Moved(p *planner.Plan) map[string]string {
	out := map[string]string{}
	for _, op := range p.Ops {
		if op.Old != "" {
			out[op.Old] = op.Final
		}
	}
	return out
}
