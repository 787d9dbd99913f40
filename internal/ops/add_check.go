package ops

import (
	"fmt"

	"github.com/zdmhq/zdm/internal/plan"
	"github.com/zdmhq/zdm/internal/schema"
	"github.com/zdmhq/zdm/internal/spec"
	"github.com/zdmhq/zdm/internal/sqlexpr"
)

// AddCheck adds a CHECK constraint without blocking writes while the table is read: NOT
// VALID at expand (new writes are checked from then on, existing rows are not), then
// VALIDATE after expand (reads and writes go on; a row that breaks it fails the
// migration there, before any gate, and it rolls back). Contract has nothing left to
// do; rollback drops the constraint.
type AddCheck struct {
	Name  string `yaml:"name" json:"name"`
	Check string `yaml:"check" json:"check"`
	// NoInherit keeps the constraint off inheritance children.
	NoInherit bool `yaml:"no_inherit" json:"no_inherit,omitempty"`
	// Up, with Column, fixes the rows that break the check: in them, Column gets Up
	// (an expression over the row). The column is then rebuilt as alter_column does
	// (a shadow column filled by the backfill, kept in step with old code's writes,
	// which Up fixes too), and the check holds on it from expand on.
	Column string `yaml:"column" json:"column,omitempty"`
	Up     string `yaml:"up" json:"up,omitempty"`
}

func init() { spec.RegisterOp("add_check", func() spec.Op { return &AddCheck{} }) }

var _ Operation = (*AddCheck)(nil)

// CheckFile implements spec.Op. A constraint changes no column's definition: it claims
// none, so several constraint operations may name one column.
func (o *AddCheck) CheckFile(c *spec.OpCheck) {
	constraintName(c, "name", o.Name)
	c.Required("check", o.Check, "`check: \"abalance >= 0\"`")
	switch {
	case o.Up != "" && o.Column == "":
		c.Errorf("column", "name the column up gives a value, e.g. `column: abalance`", "is required with up")
	case o.Column != "" && o.Up == "":
		c.Errorf("up", "give the value the column gets in rows that break the check, e.g. `up: \"0\"`, or leave column out", "is required with column")
	case o.Up != "":
		c.Ident("column", o.Column)
		c.Claim("column", o.Column)
	}
}

// Moves implements spec.Op: applications need no switch; they must already write only
// rows that pass the check.
// With up, the column is rebuilt under its own name.
func (o *AddCheck) Moves() *bool {
	if o.Up != "" {
		return ptr(false)
	}
	return nil
}

// Shape implements Shaper: later operations see the constraint (a drop_constraint at
// contract); with up, the column is replaced at contract.
func (o *AddCheck) Shape(e *Env, _ *Change, s *Shapes) {
	s.AddConstraint(e.Table, schema.Constraint{Name: o.Name, Type: "c", Def: "CHECK (" + o.Check + ")", Validated: true}, e.Field)
	if o.Up != "" {
		s.Replace(e, o.Column)
	}
}

// Plan implements Operation.
func (o *AddCheck) Plan(e *Env) *Change {
	freeConstraintName(e, "name", o.Name)
	expr := e.Expr("check", o.Check)
	if expr == "" {
		return nil
	}
	if o.Up != "" {
		up := e.Expr("up", o.Up)
		if up == "" || e.Column("column", o.Column) == nil || len(e.Errs) > 0 {
			return nil
		}
		// Rows the check accepts (true or NULL, as PostgreSQL reads a CHECK) keep their value.
		fixed := fmt.Sprintf("CASE WHEN (%s) IS NOT FALSE THEN %s ELSE (%s) END", expr, Ident(o.Column), up)
		ch := (&AlterColumn{Column: o.Column, Up: fixed, Check: &AlterCheck{Name: o.Name, Constraint: o.Check}, kind: "add_check"}).Plan(e)
		if ch != nil {
			ch.Summary = fmt.Sprintf("CHECK (%s) as %s on %s, rows that break it fixed by up (%s gets %s): %s rebuilt in a shadow column, one backfill",
				expr, o.Name, e.Table, o.Column, up, o.Column)
		}
		return ch
	}
	x, err := sqlexpr.ParseExpr(expr)
	if err != nil {
		e.Errorf("check", "write a single SQL expression over the table's columns", "%s", err)
		return nil
	}
	if x.HasSubquery() {
		e.Errorf("check", "check only the row's own columns; to require a row in another table, use add_foreign_key",
			"PostgreSQL does not allow a subquery in a CHECK constraint")
		return nil
	}
	rowColumns(e, "check", x)
	if len(e.Errs) > 0 {
		return nil
	}
	tbl := e.TableIdent()
	add := AddCheckNotValid(tbl, o.Name, expr)
	summary := fmt.Sprintf("CHECK (%s) as %s on %s: NOT VALID at expand, validated after", expr, o.Name, e.Table)
	if o.NoInherit {
		add = addConstraint(tbl, o.Name, fmt.Sprintf("CHECK (%s) NO INHERIT NOT VALID", expr))
		summary = fmt.Sprintf("CHECK (%s) NO INHERIT as %s on %s: NOT VALID at expand, validated after", expr, o.Name, e.Table)
	}
	return &Change{
		Summary: summary,
		AfterSync: []plan.Statement{{ID: "expand/add-check/" + o.Name, SQL: add, Lock: plan.LockBriefExclusive,
			Note: "NOT VALID: from here every write is checked; existing rows are validated next"}},
		Validate: []plan.Statement{validateConstraint(tbl, o.Name, plan.LockShareUpdExcl,
			"reads and writes go on; a row that breaks the check fails the migration here, before any gate, and it rolls back")},
		Rollback: []plan.Statement{dropConstraint("rollback", tbl, o.Name, plan.LockBriefExclusive)},
		Checks:   []plan.Check{checkExpr(e, "check", x)},
		Notes:    []string{fmt.Sprintf("from expand on, a write into %s that breaks the check fails (23514): applications must already write only rows that pass it", e.Table)},
	}
}

// rowColumns reports the columns x names, bare or qualified by the table's name, that
// the table does not have; references of other shapes are left to the plan's EXPLAIN.
func rowColumns(e *Env, sub string, x *sqlexpr.Expr) {
	seen := map[string]bool{}
	for _, parts := range x.ColumnRefs() {
		if len(parts) == 1 || (len(parts) == 2 && parts[0] == e.Table.Name) {
			if name := parts[len(parts)-1]; name != "*" && !seen[name] {
				seen[name] = true
				e.Column(sub, name)
			}
		}
	}
}

// checkExpr is the plan check of a CHECK's expression x: PostgreSQL reads it as one
// boolean over the table's row (EXPLAIN of a WHERE), and it is immutable, which
// PostgreSQL assumes of a CHECK (evaluated again on every update, dump and restore) but
// does not enforce: PostgreSQL itself decides, as it does for a stored generated
// column, on a temporary copy of the table's columns that goes with the check's
// transaction.
func checkExpr(e *Env, sub string, x *sqlexpr.Expr) plan.Check {
	bare, err := x.RewriteColumnRefs(func(parts []string) []string {
		if len(parts) == 2 && parts[0] == e.Table.Name {
			return parts[1:]
		}
		return nil
	})
	if err != nil {
		bare = x.SQL()
	}
	tbl := e.TableIdent()
	return checkSteps(e.Path(sub), e.Field,
		"write a boolean condition over the table's own columns, with immutable functions and casts only (no now(), random() or settings-dependent casts), e.g. abalance >= 0",
		checkStep{"the check must be one boolean expression over the table's row", fmt.Sprintf("EXPLAIN SELECT 1 FROM %s WHERE (%s)", tbl, x.SQL())},
		checkStep{"", fmt.Sprintf("CREATE TEMP TABLE zdm_check_probe (LIKE %s) ON COMMIT DROP", tbl)},
		checkStep{"the check must give the same answer whenever it is evaluated",
			fmt.Sprintf("ALTER TABLE zdm_check_probe ADD COLUMN zdm_check_probe_value boolean GENERATED ALWAYS AS (%s) STORED", bare)})
}

// Undo implements Undoer: contract changes nothing; revert drops the check.
func (o *AddCheck) Undo(e *Env, ch *Change) *Undo {
	if ch.Sync != nil {
		// With up, the column is rebuilt: its undo is alter_column's.
		return (&AlterColumn{Column: o.Column}).Undo(e, ch)
	}
	return undoByRollback(ch, "revert drops the check "+o.Name)
}
