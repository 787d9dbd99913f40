package planner

import (
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/zdmhq/zdm/internal/ops"
	"github.com/zdmhq/zdm/internal/plan"
	"github.com/zdmhq/zdm/internal/schema"
	"github.com/zdmhq/zdm/internal/sqlexpr"
)

// UndoTriggerName is the trigger that keeps the columns set aside by a contract with an
// undo window equal to down over every write.
func UndoTriggerName(name string) string { return "zz_zdm_undo_" + name }

// UndoFunctionIdent is its function.
func UndoFunctionIdent(name string) string { return pgx.Identifier{"zdm", "undo_" + name}.Sanitize() }

// renderUndo writes the plan's Undo from each operation's (undos, in the order of
// changes): the contract with the operations' own contracts replaced by theirs, the
// shared undo trigger, and the revert and finalize statements.
func (p planned) renderUndo(t *schema.Table, changes []*ops.Change, undos []*ops.Undo, cs []Change) {
	u := &plan.Undo{Window: 0}
	tbl := p.TableIdent()
	syncing := len(p.Ops) > 0

	// The contract as without a window, each operation's part replaced.
	i := 0
	if syncing {
		u.Contract = append(u.Contract, p.Contract[0]) // the sync trigger goes first
		i = 1
	}
	for k, ch := range changes {
		u.Contract = append(u.Contract, undos[k].Contract...)
		i += len(ch.Contract)
	}
	u.Contract = append(u.Contract, p.Contract[i:]...)

	trigger, fn := UndoTriggerName(p.Migration), UndoFunctionIdent(p.Migration)
	dropTrigger := func(phase string) []Statement {
		return []Statement{
			{ID: phase + "/drop-undo-trigger", SQL: fmt.Sprintf("DROP TRIGGER IF EXISTS %s ON %s", Ident(trigger), tbl), Lock: LockBriefExclusive},
			{ID: phase + "/drop-undo-function", SQL: fmt.Sprintf("DROP FUNCTION IF EXISTS %s()", fn), Lock: LockNone},
		}
	}
	var kept []Op
	for _, op := range p.Ops {
		if op.Old != "" {
			kept = append(kept, op)
		}
	}
	if len(kept) > 0 {
		u.Contract = append(u.Contract, Statement{ID: "contract/undo-function", SQL: p.undoFunction(fn, kept), Lock: LockNone},
			Statement{ID: "contract/undo-trigger", SQL: fmt.Sprintf(`DO $zdm$ BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = %s::regclass AND tgname = %s) THEN
    CREATE TRIGGER %s BEFORE INSERT OR UPDATE ON %s FOR EACH ROW EXECUTE FUNCTION %s();
  END IF;
END $zdm$`, Literal(tbl), Literal(trigger), Ident(trigger), tbl, fn),
				Lock: LockShareRowExcl, Note: "from here every write of new code keeps the old columns set aside in step"})
		u.Revert = append(u.Revert, dropTrigger("revert")...)
		u.Finalize = append(u.Finalize, dropTrigger("finalize")...)
	}
	for k := len(undos) - 1; k >= 0; k-- {
		u.Revert = append(u.Revert, undos[k].Revert...)
	}
	if syncing {
		// Back to the state before contract: the sync trigger keeps both shapes in step
		// while applications move back to the old one.
		for _, s := range p.Expand {
			if s.ID == "expand/sync-function" || s.ID == "expand/sync-trigger" {
				s.ID = "revert/" + strings.TrimPrefix(s.ID, "expand/")
				u.Revert = append(u.Revert, s)
			}
		}
	}
	for k := range undos {
		u.Finalize = append(u.Finalize, undos[k].Finalize...)
		u.Changes = append(u.Changes, plan.UndoChange{Field: cs[k].Field, Kind: cs[k].Kind, Says: undos[k].Says})
	}
	p.Undo = u
}

// undoFunction writes the trigger function that keeps each column set aside equal to
// down over the row as new code writes it (the row as it is after contract).
func (p planned) undoFunction(fn string, kept []Op) string {
	var b strings.Builder
	fmt.Fprintf(&b, "CREATE OR REPLACE FUNCTION %s() RETURNS trigger LANGUAGE plpgsql AS $zdm$\n", fn)
	b.WriteString("#variable_conflict use_column\n")
	fmt.Fprintf(&b, "-- zdm migration %s: keeps the old columns of %s, set aside for the undo window, equal to\n-- down over every write. Dropped at revert or finalize.\nBEGIN\n", p.Migration, p.TableName())
	for _, op := range kept {
		fmt.Fprintf(&b, "  -- %s: %s\n", op.Field, describe(op))
		aside := Ident(ops.AsideName(op.Old))
		if v, ok := p.inlineFinal(op.Down); ok {
			fmt.Fprintf(&b, "  NEW.%s := (%s)::%s;\n", aside, v, op.OldType)
		} else {
			fmt.Fprintf(&b, "  SELECT (%s)::%s INTO NEW.%s FROM (SELECT NEW.*) AS %s;\n", op.Down, op.OldType, aside, Ident(p.Table))
		}
	}
	b.WriteString("  RETURN NEW;\nEND\n$zdm$")
	return b.String()
}

// inlineFinal rewrites expr, written over the row as new code sees it (which is the row
// after contract), to read the trigger's NEW record directly: no query per write. It can
// when the expression has no subquery and names columns bare or qualified by the
// table's name; otherwise the row query is used.
func (p planned) inlineFinal(expr string) (string, bool) {
	x, err := sqlexpr.ParseExpr(expr)
	if err != nil || x.HasSubquery() {
		return "", false
	}
	ok := true
	out, err := x.RewriteColumnRefs(func(parts []string) []string {
		if len(parts) > 2 || (len(parts) == 2 && parts[0] != p.Table) {
			ok = false
			return nil
		}
		return []string{"new", parts[len(parts)-1]}
	})
	if err != nil || !ok {
		return "", false
	}
	return out, true
}
