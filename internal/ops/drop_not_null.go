package ops

import (
	"fmt"

	"github.com/zdmhq/zdm/internal/plan"
	"github.com/zdmhq/zdm/internal/spec"
)

// DropNotNull lets a column hold NULL, at contract: relaxing is safe for old code at any
// time, but undoing it would need a scan, so it waits until nobody can reject it.
type DropNotNull struct {
	Column string `yaml:"column" json:"column"`
}

func init() { spec.RegisterOp("drop_not_null", func() spec.Op { return &DropNotNull{} }) }

var _ Operation = (*DropNotNull)(nil)

// CheckFile implements spec.Op.
func (o *DropNotNull) CheckFile(c *spec.OpCheck) {
	c.Ident("column", o.Column)
	c.Claim("column", o.Column)
}

// Moves implements spec.Op: applications need no switch.
func (o *DropNotNull) Moves() *bool { return nil }

// Plan implements Operation.
func (o *DropNotNull) Plan(e *Env) *Change {
	c := e.Column("column", o.Column)
	if c == nil {
		return nil
	}
	if !c.NotNull {
		e.Errorf("column", "nothing to do: remove this operation", "column %q already allows NULL", c.Name)
		return nil
	}
	for _, k := range e.Table.Key {
		if k == c.Name {
			e.Errorf("column", "a key column stays NOT NULL: change the key first", "column %q is part of the key of %s (%s)", c.Name, e.Table, e.Table.KeySource)
			return nil
		}
	}
	return &Change{
		Summary: fmt.Sprintf("%s allows NULL from contract on", c.Name),
		Contract: []plan.Statement{{ID: "contract/drop-not-null/" + c.Name,
			SQL:  fmt.Sprintf("ALTER TABLE %s ALTER COLUMN %s DROP NOT NULL", e.TableIdent(), Ident(c.Name)),
			Lock: plan.LockBriefExclusive, Note: "catalog only"}},
		Notes: []string{fmt.Sprintf("new code may write NULL into %s only after contract", c.Name)},
	}
}

// Undo implements Undoer: there is none. NULLs written during the window would make
// SET NOT NULL fail after a person asked for the revert.
func (o *DropNotNull) Undo(*Env, *Change) *Undo {
	return cannotUndo("rows written with NULL after contract would make NOT NULL fail to come back",
		"move drop_not_null to a migration without undo_window")
}
