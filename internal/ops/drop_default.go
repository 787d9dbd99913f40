package ops

import (
	"fmt"

	"github.com/zdmhq/zdm/internal/plan"
	"github.com/zdmhq/zdm/internal/spec"
)

// DropDefault removes a column's default at contract, once applications no longer rely
// on it (before then, old code's inserts that leave the column out still get it).
type DropDefault struct {
	Column string `yaml:"column" json:"column"`
}

func init() { spec.RegisterOp("drop_default", func() spec.Op { return &DropDefault{} }) }

var _ Operation = (*DropDefault)(nil)

// CheckFile implements spec.Op.
func (o *DropDefault) CheckFile(c *spec.OpCheck) {
	c.Ident("column", o.Column)
	c.Claim("column", o.Column)
}

// Moves implements spec.Op: applications need no switch for a default.
func (o *DropDefault) Moves() *bool { return nil }

// Plan implements Operation.
func (o *DropDefault) Plan(e *Env) *Change {
	c := e.Column("column", o.Column)
	if c == nil {
		return nil
	}
	if c.Default == "" || c.Generated || c.Identity {
		e.Errorf("column", "nothing to do: remove this operation", "column %q has no default to drop", c.Name)
		return nil
	}
	ch := &Change{
		Summary: fmt.Sprintf("default of %s (%s) dropped at contract", c.Name, c.Default),
		Contract: []plan.Statement{{ID: "contract/drop-default/" + c.Name,
			SQL:  fmt.Sprintf("ALTER TABLE %s ALTER COLUMN %s DROP DEFAULT", e.TableIdent(), Ident(c.Name)),
			Lock: plan.LockBriefExclusive, Note: "catalog only"}},
	}
	if c.NotNull {
		ch.Notes = append(ch.Notes, fmt.Sprintf("after contract, inserts that leave out %s fail (NOT NULL, no default)", c.Name))
	}
	for _, d := range c.Dependents {
		if d.Type == "sequence" && d.Own {
			ch.Notes = append(ch.Notes, fmt.Sprintf("%s is owned by %s: the sequence stays, unused by inserts", d.Identity, c.Name))
		}
	}
	return ch
}

// Undo implements Undoer: contract drops the default as without a window; revert sets
// it again.
func (o *DropDefault) Undo(e *Env, ch *Change) *Undo {
	c := e.Table.Column(o.Column)
	return &Undo{
		Says:     "revert sets the default " + c.Default + " again",
		Contract: ch.Contract,
		Revert: []plan.Statement{{ID: "revert/default/" + c.Name,
			SQL:  fmt.Sprintf("ALTER TABLE %s ALTER COLUMN %s SET DEFAULT %s", e.TableIdent(), Ident(c.Name), c.Default),
			Lock: plan.LockBriefExclusive}},
	}
}
