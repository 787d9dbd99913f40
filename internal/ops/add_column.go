package ops

import (
	"fmt"
	"strings"

	"github.com/zdmhq/zdm/internal/plan"
	"github.com/zdmhq/zdm/internal/schema"
	"github.com/zdmhq/zdm/internal/spec"
	"github.com/zdmhq/zdm/internal/sqlexpr"
)

// AddColumn adds a column whose value is computed from the row's other columns: for
// existing rows by the backfill, for writes that leave it out by the trigger. A value
// the application writes itself is kept. With NotNull the column becomes NOT NULL
// after the backfill; Default is used where the expression is NULL and becomes the
// column's default at contract, so that old code's inserts keep working.
type AddColumn struct {
	Column   string `yaml:"column" json:"column"`
	Type     string `yaml:"type" json:"type"`
	Backfill string `yaml:"backfill" json:"backfill"`
	NotNull  bool   `yaml:"not_null" json:"not_null,omitempty"`
	Default  string `yaml:"default" json:"default,omitempty"`
}

func init() { spec.RegisterOp("add_column", func() spec.Op { return &AddColumn{} }) }

var _ Operation = (*AddColumn)(nil)

// CheckFile implements spec.Op.
func (o *AddColumn) CheckFile(c *spec.OpCheck) {
	c.Ident("column", o.Column)
	c.Required("type", o.Type, "`type: text`")
	if strings.TrimSpace(o.Backfill) == "" && strings.TrimSpace(o.Default) == "" && o.NotNull {
		c.Errorf("backfill", "give backfill (the value existing rows get, e.g. `backfill: \"lower(email)\"`) or default", "not_null needs a value for existing rows")
	}
	c.Claim("column", o.Column)
}

// Moves implements spec.Op: applications move to the new column.
func (o *AddColumn) Moves() *bool { return ptr(true) }

// Plan implements Operation.
func (o *AddColumn) Plan(e *Env) *Change {
	e.Fresh("column", o.Column)
	typ := e.Type("type", o.Type)
	def := ""
	if strings.TrimSpace(o.Default) != "" {
		def = e.Expr("default", o.Default)
	}
	if strings.TrimSpace(o.Backfill) == "" {
		if typ == nil || (o.Default != "" && def == "") {
			return nil
		}
		if def == "" {
			return o.plain(e, typ)
		}
		o = &AddColumn{Column: o.Column, Type: o.Type, Backfill: o.Default, NotNull: o.NotNull, Default: o.Default}
	}
	up := e.Expr("backfill", o.Backfill)
	if typ == nil || up == "" || (o.Default != "" && def == "") {
		return nil
	}
	if o.NotNull && def == "" {
		if why := mayBeNull(e, up); why != "" {
			e.Errorf("default", "add `default:`, the value for rows and writes where the backfill expression is NULL (it also becomes the column's default at contract), or wrap the expression in coalesce(...)",
				"not_null needs a value for every row, but the backfill expression can be NULL (%s): application writes would fail", why)
			return nil
		}
	}
	tbl := e.TableIdent()
	sync := &plan.Op{Kind: "add_column", Field: e.Field, New: o.Column, Final: o.Column,
		NewType: typ.Name, Up: up, Fill: def, NotNull: o.NotNull, Default: def,
		CheckName: notNullCheckName(o.Column, o.NotNull), KeepWritten: true,
		NewIncomparable: !typ.Comparable, NotRecomputable: !e.recomputable(up)}
	ch := &Change{
		Summary: fmt.Sprintf("%s %s added, = %s", o.Column, typ.Name, up),
		Sync:    sync,
		Expand:  []plan.Statement{addColumn(e, o.Column, typ.Name, "")},
	}
	if def != "" {
		ch.Summary += ", else " + def
	}
	if o.NotNull {
		ch.Summary += "; NOT NULL after the backfill"
		if def == "" {
			ch.Notes = append(ch.Notes, fmt.Sprintf("after contract, inserts that leave out %s fail (NOT NULL, no default): add `default:` to keep old code's inserts working", o.Column))
		}
	}
	ch.Rollback = append(ch.Rollback, dropColumnRollback(e, o.Column))
	ch.Checks = append(ch.Checks,
		plan.Check{Field: e.Path("backfill"), Group: e.Field, SQL: fmt.Sprintf("EXPLAIN SELECT (%s)::%s FROM %s", up, typ.Name, tbl)})
	if def != "" {
		ch.Checks = append(ch.Checks, plan.Check{Field: e.Path("default"), Group: e.Field,
			SQL: fmt.Sprintf("EXPLAIN SELECT (%s)::%s", def, typ.Name),
			Fix: "write a constant or an expression without column references, of the column's type"})
	}
	return ch
}

// mayBeNull says why expr may be NULL on some row, or "" when it cannot: PostgreSQL's
// parser reads it, the catalog says which columns are NOT NULL and which functions and
// operators are strict.
func mayBeNull(e *Env, expr string) string {
	x, err := sqlexpr.ParseExpr(expr)
	if err != nil {
		return err.Error()
	}
	if e.Catalog != nil && x.NeverNull(nullCatalog{e}) {
		return ""
	}
	for _, ref := range x.ColumnRefs() {
		if c := e.Table.Column(ref[len(ref)-1]); c == nil || !c.NotNull {
			return "it reads the nullable column " + ref[len(ref)-1]
		}
	}
	if e.Catalog == nil {
		return "its functions cannot be checked without the database"
	}
	return "it uses a function, operator or construct that may give NULL"
}

// nullCatalog answers sqlexpr.NeverNull from the table and the database.
type nullCatalog struct{ e *Env }

func (n nullCatalog) NotNullColumn(parts []string) bool {
	if len(parts) > 1 && parts[len(parts)-2] != n.e.Table.Name {
		return false
	}
	c := n.e.Table.Column(parts[len(parts)-1])
	return c != nil && c.NotNull
}

func (n nullCatalog) StrictFunction(name []string) bool { return n.e.Catalog.StrictFunction(name) }
func (n nullCatalog) StrictOperator(name string) bool   { return n.e.Catalog.StrictOperator(name) }

// plain adds a nullable column without default or backfill: a catalog change, nothing
// to fill or keep in step; new code writes it, old code leaves it NULL.
func (o *AddColumn) plain(e *Env, typ *schema.Type) *Change {
	return &Change{
		Summary:  fmt.Sprintf("%s %s added, nullable, no default: nothing to fill", o.Column, typ.Name),
		Expand:   []plan.Statement{addColumn(e, o.Column, typ.Name, "")},
		Rollback: []plan.Statement{dropColumnRollback(e, o.Column)},
	}
}

// Shape implements Shaper: later operations may index or constrain the new column.
func (o *AddColumn) Shape(e *Env, ch *Change, s *Shapes) {
	typ := o.Type
	if ch.Sync != nil {
		typ = ch.Sync.NewType
	} else if t := e.Type("type", o.Type); t != nil {
		typ = t.Name
	}
	s.AddColumn(e.Table, schema.Column{Name: o.Column, Type: typ}, e.Field)
}

// Undo implements Undoer: contract only gives the column its default and NOT NULL;
// revert drops the column, with whatever new code wrote into it.
func (o *AddColumn) Undo(_ *Env, ch *Change) *Undo {
	return undoByRollback(ch, "revert drops "+o.Column+", with the values written into it since expand")
}
