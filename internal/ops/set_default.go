package ops

import (
	"fmt"

	"github.com/zdmhq/zdm/internal/plan"
	"github.com/zdmhq/zdm/internal/spec"
)

// SetDefault gives a column a default at expand: a catalog change under a brief lock,
// which rewrites no row (only ADD COLUMN with a volatile default would). Old code's
// inserts get it at once; rollback restores the default the column had.
type SetDefault struct {
	Column  string `yaml:"column" json:"column"`
	Default string `yaml:"default" json:"default"`
}

func init() { spec.RegisterOp("set_default", func() spec.Op { return &SetDefault{} }) }

var _ Operation = (*SetDefault)(nil)

// CheckFile implements spec.Op.
func (o *SetDefault) CheckFile(c *spec.OpCheck) {
	c.Ident("column", o.Column)
	c.Required("default", o.Default, "`default: \"now()\"`")
	c.Claim("column", o.Column)
}

// Moves implements spec.Op: applications need no switch for a default.
func (o *SetDefault) Moves() *bool { return nil }

// Plan implements Operation.
func (o *SetDefault) Plan(e *Env) *Change {
	c := e.Column("column", o.Column)
	def := e.Expr("default", o.Default)
	if c == nil || def == "" {
		return nil
	}
	if c.Generated || c.Identity {
		e.Errorf("column", "change generated and identity columns by hand", "column %q is a generated or identity column: it takes no default", c.Name)
		return nil
	}
	tbl := e.TableIdent()
	restore := fmt.Sprintf("ALTER TABLE %s ALTER COLUMN %s DROP DEFAULT", tbl, Ident(c.Name))
	was := "none"
	if c.Default != "" {
		restore = fmt.Sprintf("ALTER TABLE %s ALTER COLUMN %s SET DEFAULT %s", tbl, Ident(c.Name), c.Default)
		was = c.Default
	}
	return &Change{
		Summary: fmt.Sprintf("default of %s becomes %s (was %s)", c.Name, def, was),
		Expand: []plan.Statement{{ID: "expand/set-default/" + c.Name,
			SQL:  fmt.Sprintf("ALTER TABLE %s ALTER COLUMN %s SET DEFAULT %s", tbl, Ident(c.Name), def),
			Lock: plan.LockBriefExclusive, Note: "catalog only: no row is rewritten"}},
		Rollback: []plan.Statement{{ID: "rollback/default/" + c.Name, SQL: restore, Lock: plan.LockBriefExclusive}},
		Checks: []plan.Check{{Field: e.Path("default"), Group: e.Field,
			SQL: fmt.Sprintf("EXPLAIN SELECT (%s)::%s", def, c.Type),
			Fix: "write a constant or an expression without column references, of the column's type"}},
	}
}

// Undo implements Undoer: contract changes nothing; revert restores the old default.
func (o *SetDefault) Undo(_ *Env, ch *Change) *Undo {
	return undoByRollback(ch, "revert restores the default "+o.Column+" had before")
}
