package ops

import (
	"strings"

	"github.com/zdmhq/zdm/internal/schema"
)

// Shaper is implemented by operations that change what later operations of the same
// migration see: columns they add, replace or drop, tables and types they create,
// rename or drop. Shape is called once the operation planned without error.
type Shaper interface {
	Shape(e *Env, ch *Change, s *Shapes)
}

// Shapes is the schema as the operations planned so far will leave it once expanded:
// the planner's copies of the live tables, changed by each Shaper in file order, so
// that an operation may build on what an earlier one adds (an index on a new column, a
// foreign key to a new table, a column of a new enum type).
type Shapes struct {
	// Tables by schema.name; nil for a table an earlier operation drops or renames.
	Tables map[string]*schema.Table
	// Gone says which operation made a table go away.
	Gone map[string]string
	// Types created by the migration, by name as written and as schema.name.
	Types map[string]schema.Type
	// Changed is set once an operation changed the shape.
	Changed bool
}

// NewShapes starts from copies of the live tables, which operations may then change.
func NewShapes(tables map[string]*schema.Table) *Shapes {
	s := &Shapes{Tables: map[string]*schema.Table{}, Gone: map[string]string{}, Types: map[string]schema.Type{}}
	for name, t := range tables {
		if t == nil {
			continue
		}
		c := *t
		c.Columns = append([]schema.Column(nil), t.Columns...)
		c.Indexes = append([]schema.Index(nil), t.Indexes...)
		c.Constraints = append([]schema.Constraint(nil), t.Constraints...)
		s.Tables[name] = &c
	}
	return s
}

// AddColumn records a column an operation adds to table.
func (s *Shapes) AddColumn(table *schema.Table, c schema.Column, by string) {
	if table == nil || table.Column(c.Name) != nil {
		return
	}
	c.AddedBy = by
	table.Columns = append(table.Columns, c)
	s.Changed = true
}

// Replace records that the operation of e replaces or drops its table's column col:
// later operations must not build on the column as it is now, and what an earlier one
// built on it (an index, a constraint) would go with the old column at contract, which
// is reported.
func (s *Shapes) Replace(e *Env, col string) {
	if e.Table == nil {
		return
	}
	for i := range e.Table.Columns {
		c := &e.Table.Columns[i]
		if c.Name != col {
			continue
		}
		if c.UsedBy != "" && c.UsedBy != e.Field {
			e.Errorf("column", "change the column in a migration of its own, before or after the one that builds on it",
				"column %q is used by %s of this migration, and this operation replaces it: what %s builds on it would go with the old column at contract", col, c.UsedBy, c.UsedBy)
		}
		c.ReplacedBy = e.Field
		s.Changed = true
	}
}

// AddIndex records an index (or the index of a constraint) an operation builds.
func (s *Shapes) AddIndex(table *schema.Table, ix schema.Index) {
	if table == nil {
		return
	}
	table.Indexes = append(table.Indexes, ix)
	s.Changed = true
}

// AddConstraint records a constraint an operation adds to table.
func (s *Shapes) AddConstraint(table *schema.Table, c schema.Constraint, by string) {
	if table == nil {
		return
	}
	c.AddedBy = by
	table.Constraints = append(table.Constraints, c)
	s.Changed = true
}

// AddTable records a table an operation creates.
func (s *Shapes) AddTable(t *schema.Table) {
	s.Tables[t.String()] = t
	delete(s.Gone, t.String())
	s.Changed = true
}

// RemoveTable records a table an operation drops or renames away.
func (s *Shapes) RemoveTable(name, by string) {
	delete(s.Tables, name)
	s.Gone[name] = by
	s.Changed = true
}

// AddType records a type name an operation creates in schema sch; t.Name is how SQL
// names it.
func (s *Shapes) AddType(sch, name string, t schema.Type) {
	s.Types[strings.ToLower(sch+"."+name)] = t
	if sch == "public" {
		s.Types[strings.ToLower(name)] = t
	}
	s.Changed = true
}

// pendingType is a type the migration creates, looked up as written.
func (s *Shapes) pendingType(name string) (schema.Type, bool) {
	if s == nil {
		return schema.Type{}, false
	}
	n := strings.ToLower(strings.TrimSpace(name))
	t, ok := s.Types[n]
	if !ok {
		t, ok = s.Types["public."+n]
	}
	return t, ok
}

// alone reports, for an operation that renames or drops its table, the earlier
// operations of the migration on the same table: their statements name the table as it
// was, and would meet a view or a hidden table at contract.
func alone(e *Env, what string) bool {
	self := opIndexOf(e)
	for i := range e.M.Operations[:self] {
		if e.M.TableOf(i) == e.TableName {
			e.Errorf("", what+" the table in a migration of its own, after this one's other changes to it",
				"operations[%d].%s changes %s, which this operation %s: their statements would name a table that is gone", i, e.M.Operations[i].Kind, e.TableName, what+"s")
			return false
		}
	}
	return true
}
