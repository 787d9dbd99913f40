package ops

import (
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

// Plan implements Operation: an alter_column of the type alone.
func (o *ChangeType) Plan(e *Env) *Change {
	return (&AlterColumn{Column: o.Column, Type: o.Type, Up: o.Up, Down: o.Down, kind: "change_type"}).Plan(e)
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
func (o *ChangeType) Shape(e *Env, _ *Change, s *Shapes) { s.Replace(e, o.Column) }

// Undo implements Undoer: the old column, of the old type, is renamed aside and kept
// equal to down over the new one.
func (o *ChangeType) Undo(e *Env, ch *Change) *Undo {
	return (&AlterColumn{Column: o.Column, kind: "change_type"}).Undo(e, ch)
}
