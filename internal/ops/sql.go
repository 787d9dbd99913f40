package ops

import (
	"fmt"
	"strings"

	"github.com/zdmhq/zdm/internal/plan"
	"github.com/zdmhq/zdm/internal/spec"
	"github.com/zdmhq/zdm/internal/sqlexpr"
)

// SQL runs SQL a person wrote, for what no operation covers: up at expand, down at
// rollback, nothing at contract. zdm checks that both parse and that each can run the
// way zdm runs it (one transaction per script, or alone outside any for the few
// statements PostgreSQL refuses in a transaction), and says what locks it can tell from
// the statements' kinds; it cannot prove the SQL online.
type SQL struct {
	Up   string `yaml:"up" json:"up"`
	Down string `yaml:"down" json:"down"`
	// Transaction, when set, says how the scripts must run: true, each in one
	// transaction (a statement that cannot is refused); false, outside any (a script
	// that could run in one is refused). Unset, the statements decide.
	Transaction *bool `yaml:"transaction" json:"transaction,omitempty"`
	// Irreversible would let a migration go without down; it is refused: a rollback
	// must leave the schema as it began.
	Irreversible bool `yaml:"irreversible" json:"irreversible,omitempty"`
}

func init() { spec.RegisterOp("sql", func() spec.Op { return &SQL{} }) }

var _ Operation = (*SQL)(nil)

// Tableless implements spec.Tableless: raw SQL needs no table; a `table:` key names
// one it changes, which is then claimed like any operation's.
func (o *SQL) Tableless() {}

// Moves implements spec.Op: zdm cannot know whom the SQL concerns.
func (o *SQL) Moves() *bool { return nil }

// CheckFile implements spec.Op: everything about the scripts is known without a
// database.
func (o *SQL) CheckFile(c *spec.OpCheck) {
	if o.Irreversible {
		c.Errorf("irreversible", "remove it and write down, the SQL that undoes up", "zdm's rollback must leave the schema as it began: an irreversible sql operation is not supported")
	}
	up := o.script(c, "up", o.Up)
	if strings.TrimSpace(o.Down) == "" {
		if !o.Irreversible {
			c.Errorf("down", "write the SQL that undoes up (e.g. DROP VIEW IF EXISTS ... for a CREATE VIEW), so that a rollback leaves the schema as it began", "is required")
		}
		return
	}
	down := o.script(c, "down", o.Down)
	if o.Transaction != nil && !*o.Transaction && up != nil && down != nil && !up[0].NoTransaction && !down[0].NoTransaction {
		c.Errorf("transaction", "remove `transaction: false`: both scripts run in one transaction each, all or nothing",
			"no statement here needs to run outside a transaction")
	}
}

// script checks one script (field sub) and returns its statements, nil when it is
// refused.
func (o *SQL) script(c *spec.OpCheck, sub, src string) []sqlexpr.Statement {
	if strings.TrimSpace(src) == "" {
		c.Errorf(sub, "write the SQL to run, e.g. `"+sub+": CREATE VIEW ...`", "is required")
		return nil
	}
	stmts, err := sqlexpr.Statements(src)
	if err != nil {
		c.Errorf(sub, "write SQL that PostgreSQL's parser accepts", "%s", err)
		return nil
	}
	ok := true
	for i, s := range stmts {
		at := fmt.Sprintf("statement %d (line %d), %s,", i+1, s.Line, s.Kind)
		if len(stmts) == 1 {
			at = s.Kind
		}
		switch {
		case s.TransactionControl:
			c.Errorf(sub, "remove it: zdm runs each script in a transaction of its own",
				"%s controls the transaction: zdm runs the script in one transaction and retries it whole", at)
		case s.AddsEnumValue:
			c.Errorf(sub, "use the add_enum_value operation, which adds the value at contract",
				"%s cannot be undone (PostgreSQL cannot remove an enum value), so a rollback could not restore the type", at)
		case s.Setting != "" && !s.SettingLocal:
			c.Errorf(sub, "write SET LOCAL, which lasts until the script's transaction ends",
				"%s would stay on zdm's pooled connection after the script", at)
		case s.Setting == "lock_timeout" || s.Setting == "statement_timeout":
			c.Errorf(sub, "remove it: zdm sets "+s.Setting+" itself (the migration's lock_timeout)",
				"%s would change how long the script may queue behind the application", at)
		case s.NoTransaction && len(stmts) > 1:
			c.Errorf(sub, "split the script into two sql operations, one holding the "+s.Kind+" alone",
				"%s cannot run in a transaction, so it must be alone in %s: zdm runs the rest of a script in one transaction", at, sub)
		case s.NoTransaction && o.Transaction != nil && *o.Transaction:
			c.Errorf("transaction", "remove `transaction: true`: zdm runs a lone "+s.Kind+" outside any transaction",
				"%s in %s cannot run in a transaction", s.Kind, sub)
		default:
			continue
		}
		ok = false
	}
	if !ok {
		return nil
	}
	return stmts
}

// Plan implements Operation.
func (o *SQL) Plan(e *Env) *Change {
	up, err := sqlexpr.Statements(o.Up)
	if err != nil {
		e.Errorf("up", "write SQL that PostgreSQL's parser accepts", "%s", err)
	}
	down, err := sqlexpr.Statements(o.Down)
	if err != nil {
		e.Errorf("down", "write SQL that PostgreSQL's parser accepts", "%s", err)
	}
	if len(e.Errs) > 0 {
		return nil
	}
	where := "on no table"
	if e.TableName != "" {
		where = "on " + e.TableName
	}
	return &Change{
		Summary:  fmt.Sprintf("raw SQL %s: %s at expand; rollback: %s", where, kinds(up), kinds(down)),
		Raw:      true,
		Expand:   []plan.Statement{rawStatement("expand/sql", o.Up, up)},
		Rollback: []plan.Statement{rawStatement("rollback/sql", o.Down, down)},
		Notes: []string{
			"raw SQL: zdm runs it as written and cannot prove it online; zdm lint (a later version) will check it",
			"write the statements so that they can run again (IF NOT EXISTS, IF EXISTS, CREATE OR REPLACE): a retried step runs its script again",
		},
	}
}

// rawStatement is a script as one statement of the plan: run as written, in one
// transaction (several statements sent at once run in the step's transaction, all or
// nothing), or alone outside any when PostgreSQL refuses it in one.
func rawStatement(id, src string, stmts []sqlexpr.Statement) plan.Statement {
	// zdm plan ends each statement with its own ";".
	sql := strings.TrimSuffix(strings.TrimSpace(src), ";")
	s := plan.Statement{ID: id, SQL: sql, Lock: lockOf(stmts), Note: "written by hand"}
	for _, st := range stmts {
		s.Scans, s.Rewrites = s.Scans || st.Scans, s.Rewrites || st.Rewrites
	}
	if len(stmts) == 1 && stmts[0].NoTransaction {
		s.Concurrent, s.Index = true, stmts[0].Index
		if s.Index != "" {
			s.Note += "; an invalid index of that name left by a failed try is dropped first"
		}
	}
	return s
}

// lockOf describes a script's locks, statement by statement, as far as their kinds say.
func lockOf(stmts []sqlexpr.Statement) string {
	const unknown = "unknown: written by hand"
	if len(stmts) == 1 {
		if stmts[0].Lock == "" {
			return unknown
		}
		return stmts[0].Lock
	}
	var parts []string
	seen := map[string]bool{}
	for _, s := range stmts {
		l := s.Lock
		if l == "" {
			l = unknown
		}
		p := s.Kind + ": " + l
		if !seen[p] {
			seen[p] = true
			parts = append(parts, p)
		}
	}
	return strings.Join(parts, "; ") + " (each held until the script's transaction ends)"
}

// kinds lists a script's statement kinds: "CREATE VIEW, COMMENT".
func kinds(stmts []sqlexpr.Statement) string {
	var out []string
	for _, s := range stmts {
		out = append(out, s.Kind)
	}
	return strings.Join(out, ", ")
}

// Undo implements Undoer: revert runs down (the rollback); without down there is none.
func (o *SQL) Undo(_ *Env, ch *Change) *Undo {
	if strings.TrimSpace(o.Down) == "" {
		return cannotUndo("it has no down", "write down: the SQL that undoes up, or move this operation to a migration without undo_window")
	}
	return undoByRollback(ch, "revert runs down, as written")
}
