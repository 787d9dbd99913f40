package ops

import (
	"fmt"

	"github.com/zdmhq/zdm/internal/plan"
	"github.com/zdmhq/zdm/internal/schema"
	"github.com/zdmhq/zdm/internal/spec"
)

// RenameColumn renames a column without breaking code that still uses the old name: the
// new name is added beside the old, the trigger keeps them equal both ways, and contract
// drops the old name.
type RenameColumn struct {
	Column string `yaml:"column" json:"column"`
	To     string `yaml:"to" json:"to"`
}

func init() { spec.RegisterOp("rename_column", func() spec.Op { return &RenameColumn{} }) }

var _ Operation = (*RenameColumn)(nil)

// CheckFile implements spec.Op.
func (o *RenameColumn) CheckFile(c *spec.OpCheck) {
	c.Ident("column", o.Column)
	c.Ident("to", o.To)
	c.Claim("column", o.Column)
	c.Claim("to", o.To)
	if o.Column != "" && o.Column == o.To {
		c.Errorf("to", "give the new name", "is the same as column")
	}
}

// Moves implements spec.Op: applications move to the new name.
func (o *RenameColumn) Moves() *bool { return ptr(true) }

// Plan implements Operation.
func (o *RenameColumn) Plan(e *Env) *Change {
	c := e.Column("column", o.Column)
	e.Fresh("to", o.To)
	if c == nil || !movable(e, "column", c) {
		return nil
	}
	r := replacement{sub: "column", old: c, newName: o.To, final: o.To}
	sync := &plan.Op{Kind: "rename_column", Field: e.Field, Old: o.Column, New: o.To, Final: o.To,
		OldType: c.Type, NewType: c.Type, Up: Ident(o.Column), Down: Ident(o.To),
		NotNull: c.NotNull, CheckName: notNullCheckName(o.To, c.NotNull)}
	ch := &Change{
		Summary: fmt.Sprintf("%s renamed to %s", o.Column, o.To),
		Sync:    sync,
		Expand:  []plan.Statement{addColumn(e, o.To, c.Type, r.collation())},
	}
	sync.NewIncomparable = !e.comparable(c.Type)
	sync.OldIncomparable = sync.NewIncomparable
	r.carry(e, ch, sync)
	ch.Contract = append([]plan.Statement{{ID: "contract/drop-old/" + o.Column,
		SQL: fmt.Sprintf("ALTER TABLE %s DROP COLUMN %s", e.TableIdent(), Ident(o.Column)), Lock: plan.LockBriefExclusive}}, ch.Contract...)
	beforeDrop(ch)
	ch.Rollback = append(ch.Rollback, dropColumnRollback(e, o.To))
	ch.Notes = append(ch.Notes, fmt.Sprintf("after contract, code that still uses %s fails: the dual_write flag moves applications to %s first", o.Column, o.To))
	return ch
}

// Shape implements Shaper: later operations see the new name, not the old one.
func (o *RenameColumn) Shape(e *Env, ch *Change, s *Shapes) {
	s.AddColumn(e.Table, schema.Column{Name: o.To, Type: ch.Sync.NewType}, e.Field)
	s.Replace(e, o.Column)
}

// Undo implements Undoer: the old column is renamed aside and kept equal to the new one.
func (o *RenameColumn) Undo(e *Env, ch *Change) *Undo {
	c := e.Table.Column(o.Column)
	return replacement{sub: "column", old: c, newName: o.To, final: o.To}.undo(e, ch, ch.Sync)
}
