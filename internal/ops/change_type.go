package ops

import (
	"fmt"
	"strings"

	"github.com/zdmhq/zdm/internal/plan"
	"github.com/zdmhq/zdm/internal/spec"
)

// ChangeType changes a column's type. A shadow column of the new type is filled from the
// old one (Up) and kept in step both ways (Down computes the old value from a write of
// the new); at contract the old column is dropped and the shadow takes its name and
// everything attached to it.
type ChangeType struct {
	Column string `yaml:"column" json:"column"`
	Type   string `yaml:"type" json:"type"`
	Up     string `yaml:"up" json:"up,omitempty"`
	Down   string `yaml:"down" json:"down,omitempty"`
}

func init() { spec.RegisterOp("change_type", func() spec.Op { return &ChangeType{} }) }

var _ Operation = (*ChangeType)(nil)

// CheckFile implements spec.Op.
func (o *ChangeType) CheckFile(c *spec.OpCheck) {
	c.Ident("column", o.Column)
	c.Required("type", o.Type, "`type: bigint`")
	c.Claim("column", o.Column)
}

// Moves implements spec.Op: the new type lands under the old name.
func (o *ChangeType) Moves() *bool { return ptr(false) }

// Plan implements Operation.
func (o *ChangeType) Plan(e *Env) *Change {
	shadow := ShadowName(o.Column)
	e.Fresh("column", shadow)
	c := e.Column("column", o.Column)
	typ := e.Type("type", o.Type)
	up, down := Ident(o.Column), Ident(o.Column)
	if strings.TrimSpace(o.Up) != "" {
		up = e.Expr("up", o.Up)
	}
	if strings.TrimSpace(o.Down) != "" {
		down = e.Expr("down", o.Down)
	}
	if c == nil || typ == nil || !movable(e, "column", c) {
		return nil
	}
	if typ.Name == c.Type {
		e.Errorf("type", "nothing to do: remove this operation", "column %q is already of type %s", o.Column, c.Type)
		return nil
	}
	r := replacement{sub: "column", old: c, newName: shadow, final: o.Column, newType: typ}
	sync := &plan.Op{Kind: "change_type", Field: e.Field, Old: o.Column, New: shadow, Final: o.Column,
		OldType: c.Type, NewType: typ.Name, Up: up, Down: down, NotNull: c.NotNull,
		CheckName: notNullCheckName(o.Column, c.NotNull), InPlace: true,
		NewIncomparable: !typ.Comparable, OldIncomparable: !e.comparable(c.Type), NotRecomputable: !e.recomputable(up)}
	ch := &Change{
		Summary: fmt.Sprintf("%s %s -> %s (filled in %s, which takes the name at contract)", o.Column, c.Type, typ.Name, shadow),
		Sync:    sync,
		Expand:  []plan.Statement{addColumn(e, shadow, typ.Name, r.collation())},
	}
	r.carry(e, ch, sync)
	tbl := e.TableIdent()
	ch.Contract = append([]plan.Statement{
		{ID: "contract/drop-old/" + o.Column, SQL: fmt.Sprintf("ALTER TABLE %s DROP COLUMN %s", tbl, Ident(o.Column)), Lock: plan.LockBriefExclusive},
		{ID: "contract/rename/" + shadow, SQL: fmt.Sprintf("ALTER TABLE %s RENAME COLUMN %s TO %s", tbl, Ident(shadow), Ident(o.Column)), Lock: plan.LockBriefExclusive},
	}, ch.Contract...)
	beforeDrop(ch)
	ch.Rollback = append(ch.Rollback, dropColumnRollback(e, shadow))
	ch.Checks = append(ch.Checks,
		plan.Check{Field: e.Path("up"), Group: e.Field, SQL: fmt.Sprintf("EXPLAIN SELECT (%s)::%s FROM %s", up, typ.Name, tbl)})
	return ch
}

// beforeDrop moves the statements that must run before the old column is dropped (an
// owned sequence's new owner, a policy's new expressions) to the front of the contract.
func beforeDrop(ch *Change) {
	var first, rest []plan.Statement
	for _, s := range ch.Contract {
		if strings.HasPrefix(s.ID, contractBeforeDrop) {
			first = append(first, s)
		} else {
			rest = append(rest, s)
		}
	}
	ch.Contract = append(first, rest...)
}

func notNullCheckName(col string, notNull bool) string {
	if !notNull {
		return ""
	}
	return "_zdm_nn_" + col
}

func ptr[T any](v T) *T { return &v }

// Shape implements Shaper: the column is replaced at contract; nothing may build on it.
func (o *ChangeType) Shape(e *Env, _ *Change, s *Shapes) { s.Replace(e.Table, o.Column, e.Field) }
