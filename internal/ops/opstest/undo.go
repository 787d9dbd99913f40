package opstest

// The undo window's lifecycle: contract keeps the old shape aside, new code writes,
// revert brings the old shape back with those writes (the catalog exactly as before the
// migration), and, run again, finalize leaves nothing of zdm's.

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zdmhq/zdm/internal/pgexec"
	"github.com/zdmhq/zdm/internal/planner"
)

// RehearseUndo tries, in transactions that are rolled back, what the workflow tries
// before the contract gate: the contract with its window followed by the whole revert,
// and followed by finalize.
func RehearseUndo(ctx context.Context, pool *pgxpool.Pool, p *planner.Plan) error {
	u := p.Undo
	if _, err := pgexec.Rehearse(ctx, pool, "rehearse/revert", append(append([]planner.Statement{}, u.Contract...), p.RevertAll()...), p.LockTimeout, pgexec.DefaultRetry); err != nil {
		return fmt.Errorf("revert rehearsal: %w", err)
	}
	if _, err := pgexec.Rehearse(ctx, pool, "rehearse/finalize", append(append([]planner.Statement{}, u.Contract...), u.Finalize...), p.LockTimeout, pgexec.DefaultRetry); err != nil {
		return fmt.Errorf("finalize rehearsal: %w", err)
	}
	return nil
}

// ContractWithWindow runs the contract of the undo window in one transaction.
func ContractWithWindow(ctx context.Context, pool *pgxpool.Pool, p *planner.Plan) error {
	_, err := pgexec.ExecOneTx(ctx, pool, "contract", p.Undo.Contract, p.LockTimeout, pgexec.DefaultRetry)
	return err
}

// Revert runs the revert statements in one transaction: the table stands as before
// contract, both shapes kept in step.
func Revert(ctx context.Context, pool *pgxpool.Pool, p *planner.Plan) error {
	_, err := pgexec.ExecOneTx(ctx, pool, "revert", p.Undo.Revert, p.LockTimeout, pgexec.DefaultRetry)
	return err
}

// Finalize drops what the window kept, and releases the table.
func Finalize(ctx context.Context, pool *pgxpool.Pool, p *planner.Plan) error {
	if _, err := pgexec.ExecOneTx(ctx, pool, "finalize", p.Undo.Finalize, p.LockTimeout, pgexec.DefaultRetry); err != nil {
		return err
	}
	return pgexec.Release(ctx, pool, p.Migration, pgexec.StatusCompleted, "")
}

// UndoCase is a lifecycle case with an undo window.
type UndoCase struct {
	Case
	// Reverted runs after revert and rollback: the old shape holds what new code wrote
	// during the window (FinalWrite's rows, keyed from 3,000,000 in the usual writers).
	Reverted func(t *testing.T, pool *pgxpool.Pool)
}

// RunUndo runs c twice in one database, with undo_window: 24h added to its file: once
// to revert after new code wrote during the window, once to finalize.
func RunUndo(t *testing.T, c UndoCase) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), caseTimeout)
	defer cancel()
	r := newRun(t, ctx, c.Case, strings.TrimRight(c.Migration, "\n")+"\nundo_window: 24h\n")
	dsn, before, attached, columns := r.setUp("zdm_undo")

	deployed, newCode := r.deploy(dsn)
	defer deployed.Close()

	for _, end := range []string{"revert", "finalize"} {
		p, err := r.plan("plan (" + end + ")")
		require.NoError(t, err, "plan")
		require.NotNil(t, p.Undo, "a plan with undo_window carries its undo")
		r.phase("expand", func() error { return Expand(ctx, r.pool, p, "run-"+end) })
		wait := r.startWrites("during backfill and verify", r.c.Writes, r.old(), r.new())
		r.phase("backfill", func() error { _, _, err := Backfill(ctx, r.pool, p, r.c.BatchSize); return err })
		r.phase("verify", func() error { return Verify(ctx, r.pool, p) })
		wait()
		r.phase("rehearse revert and finalize", func() error { return RehearseUndo(ctx, r.pool, p) })
		// What a drop operation drops is still there (set aside) until finalize: what is
		// carried is checked after finalize, the whole catalog after revert.
		r.phase("contract with the undo window", func() error { return ContractWithWindow(ctx, r.pool, p) })
		r.writes("during the undo window", finalWrites*5, true, newCode)

		if end == "revert" {
			r.phase("revert", func() error { return Revert(ctx, r.pool, p) })
			r.phase("old and new shape agree on every row after revert", func() error { return Consistent(ctx, r.pool, p) })
			// Flags back: old code and new code (as before contract) both work again.
			r.writes("after revert, before the rollback", 20, true, r.old(), r.new())
			r.phase("rollback", func() error { return Rollback(ctx, r.pool, p) })
			assert.Equal(t, before, r.snapshot(), "revert and rollback must leave the catalog exactly as before the migration (-before +after)")
			r.writes("after revert", 20, false, r.old())
			if c.Reverted != nil {
				r.logf("check the reverted data")
				c.Reverted(t, r.pool)
			}
			continue
		}
		r.phase("finalize", func() error { return Finalize(ctx, r.pool, p) })
		r.noLeftovers()
		if r.table != "" && c.FinalTable != "-" {
			r.carried(attached, columns, Moved(p))
		}
		r.writes("after finalize", finalWrites, true, newCode)
		if c.Check != nil {
			c.Check(t, deployed)
		}
	}
	r.logf("done")
}
