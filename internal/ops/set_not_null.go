package ops

import (
	"fmt"

	"github.com/zdmhq/zdm/internal/plan"
	"github.com/zdmhq/zdm/internal/spec"
)

// SetNotNull makes a column NOT NULL without a scan under an exclusive lock: a CHECK
// (col IS NOT NULL) NOT VALID at expand (new writes are checked from then on), VALIDATE
// after expand (reads and writes go on; a NULL left in the table fails the migration
// here, before any gate), then SET NOT NULL at contract, which the validated check lets
// PostgreSQL accept without reading the table, and the check is dropped.
type SetNotNull struct {
	Column string `yaml:"column" json:"column"`
	// Up, when set, gives rows where the column is NULL a value: the column is then
	// rebuilt as alter_column does (a shadow column filled by the backfill), since those
	// rows must change before the check can hold.
	Up string `yaml:"up" json:"up,omitempty"`
}

func init() { spec.RegisterOp("set_not_null", func() spec.Op { return &SetNotNull{} }) }

var _ Operation = (*SetNotNull)(nil)

// CheckFile implements spec.Op.
func (o *SetNotNull) CheckFile(c *spec.OpCheck) {
	c.Ident("column", o.Column)
	c.Claim("column", o.Column)
}

// Moves implements spec.Op: applications need no switch; they must already have
// stopped writing NULLs. With up, the column is rebuilt under its own name.
func (o *SetNotNull) Moves() *bool {
	if o.Up != "" {
		return ptr(false)
	}
	return nil
}

// Plan implements Operation.
func (o *SetNotNull) Plan(e *Env) *Change {
	if o.Up != "" {
		return (&AlterColumn{Column: o.Column, Up: o.Up, NotNull: ptr(true)}).Plan(e)
	}
	c := e.Column("column", o.Column)
	if c == nil {
		return nil
	}
	if c.NotNull {
		e.Errorf("column", "nothing to do: remove this operation", "column %q is already NOT NULL", c.Name)
		return nil
	}
	tbl := e.TableIdent()
	check := shortName("_zdm_nn_" + c.Name)
	return &Change{
		Summary: fmt.Sprintf("%s becomes NOT NULL (checked NOT VALID, validated, then SET NOT NULL without a scan)", c.Name),
		Expand: []plan.Statement{{ID: "expand/not-null-check/" + c.Name,
			SQL:  AddCheckNotValid(tbl, check, Ident(c.Name)+" IS NOT NULL"),
			Lock: plan.LockBriefExclusive, Note: "NOT VALID: from here a write of NULL fails; existing rows are validated next"}},
		Validate: []plan.Statement{{ID: "validate/" + check,
			SQL:  fmt.Sprintf("ALTER TABLE %s VALIDATE CONSTRAINT %s", tbl, Ident(check)),
			Lock: plan.LockShareUpdExcl, Scans: true, Note: "reads and writes go on; a NULL row fails the migration here, before any gate"}},
		Contract: []plan.Statement{
			{ID: "contract/set-not-null/" + c.Name, SQL: fmt.Sprintf("ALTER TABLE %s ALTER COLUMN %s SET NOT NULL", tbl, Ident(c.Name)),
				Lock: plan.LockBriefExclusive, Note: "no scan: the validated check already proves it"},
			{ID: "contract/drop-check/" + check, SQL: fmt.Sprintf("ALTER TABLE %s DROP CONSTRAINT IF EXISTS %s", tbl, Ident(check)),
				Lock: plan.LockBriefExclusive},
		},
		Rollback: []plan.Statement{{ID: "rollback/drop-check/" + check,
			SQL: fmt.Sprintf("ALTER TABLE %s DROP CONSTRAINT IF EXISTS %s", tbl, Ident(check)), Lock: plan.LockBriefExclusive}},
		Notes: []string{fmt.Sprintf("from expand on, a write of NULL into %s fails: applications must have stopped writing NULLs first", c.Name)},
	}
}

// Shape implements Shaper: with up, the column is rebuilt and replaced at contract.
func (o *SetNotNull) Shape(e *Env, _ *Change, s *Shapes) {
	if o.Up != "" {
		s.Replace(e, o.Column)
	}
}

// Undo implements Undoer: revert makes the column nullable again (with up, the column
// is rebuilt: alter_column's undo).
func (o *SetNotNull) Undo(e *Env, ch *Change) *Undo {
	if ch.Sync != nil {
		return (&AlterColumn{Column: o.Column}).Undo(e, ch)
	}
	return &Undo{
		Says:     "revert makes " + o.Column + " nullable again",
		Contract: ch.Contract,
		Revert: []plan.Statement{{ID: "revert/drop-not-null/" + o.Column,
			SQL:  fmt.Sprintf("ALTER TABLE %s ALTER COLUMN %s DROP NOT NULL", e.TableIdent(), Ident(o.Column)),
			Lock: plan.LockBriefExclusive}},
	}
}
