package ops

import (
	"fmt"
	"strings"

	"github.com/zdmhq/zdm/internal/plan"
)

// Undoer is implemented by operations that can keep the old shape restorable for a
// migration's undo_window: contract then sets the old shape aside instead of
// destroying it, revert brings it back, finalize drops what was set aside.
//
// Revert runs in one transaction and leaves the table as it stood just before contract
// (old and new shape side by side, the sync trigger keeping them in step), so that old
// and new code both work; the workflow then switches the flags back and runs the plan's
// Rollback, exactly as a rejection at the contract gate would.
type Undoer interface {
	Undo(e *Env, ch *Change) *Undo
}

// Undo is one operation's undo.
type Undo struct {
	// Says, in one line, what revert brings back and what finalize drops (zdm plan).
	Says string
	// Contract replaces the operation's Change.Contract when the migration has an
	// undo window.
	Contract []plan.Statement
	// Revert undoes Contract: back to the state before contract. Idempotent.
	Revert []plan.Statement
	// Finalize drops what Contract set aside. Idempotent.
	Finalize []plan.Statement
	// Cannot, when set, says why the operation cannot be undone; Fix what to do.
	Cannot, Fix string
}

// cannotUndo is the undo of an operation that has none.
func cannotUndo(why, fix string) *Undo { return &Undo{Cannot: why, Fix: fix} }

// undoByRollback is the undo of an operation whose contract changes nothing (or
// nothing revert needs back): the contract runs as without a window, and revert is
// the plan's rollback.
func undoByRollback(ch *Change, says string) *Undo {
	return &Undo{Says: says, Contract: ch.Contract}
}

// AsideName is the name contract gives a column, index or constraint it keeps for the
// undo window: zdm's own, so that finalize may drop it.
func AsideName(name string) string { return shortName("_zdm_undo_" + name) }

// PlanUndo asks the operation op for its undo, or reports (in e) why the migration
// cannot have an undo window.
func PlanUndo(e *Env, op any, ch *Change) *Undo {
	u, ok := op.(Undoer)
	if !ok {
		e.Errorf("", "remove undo_window, or move this operation to a migration without one",
			"undo_window is set, but zdm does not know how to undo this operation after contract")
		return nil
	}
	x := u.Undo(e, ch)
	if x == nil {
		return nil
	}
	if x.Cannot != "" {
		e.Errorf("", x.Fix, "undo_window is set, but this operation cannot be undone after contract: %s", x.Cannot)
		return nil
	}
	return x
}

// ifColumn wraps statements in a DO block that runs them only while table tbl (quoted)
// has column col: the guard that makes a sequence of renames idempotent.
func ifColumn(tbl, col string, stmts []string) string {
	body := ""
	for _, s := range stmts {
		body += "    " + s + ";\n"
	}
	return fmt.Sprintf(`DO $zdm$ BEGIN
  IF EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = %s::regclass AND attname = %s AND NOT attisdropped) THEN
%s  END IF;
END $zdm$`, Literal(tbl), Literal(col), body)
}

// withPrefix is stmts with their IDs' phase replaced by prefix.
func withPrefix(stmts []plan.Statement, prefix string) []plan.Statement {
	out := make([]plan.Statement, len(stmts))
	for i, s := range stmts {
		if j := strings.IndexByte(s.ID, '/'); j >= 0 {
			s.ID = s.ID[j+1:]
		}
		s.ID = prefix + s.ID
		out[i] = s
	}
	return out
}
