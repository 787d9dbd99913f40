package ops

import (
	"fmt"
	"strings"

	"github.com/zdmhq/zdm/internal/plan"
	"github.com/zdmhq/zdm/internal/schema"
	"github.com/zdmhq/zdm/internal/spec"
)

// AddUnique adds a UNIQUE constraint without locking the table while it is read: its
// index is built CONCURRENTLY at expand (reads and writes go on; a duplicate among
// existing rows fails the build there, before any gate), and at contract the
// constraint takes the built index over, a catalog change under a brief lock. Rollback
// drops the index CONCURRENTLY.
type AddUnique struct {
	Name    string   `yaml:"name" json:"name"`
	Columns []string `yaml:"columns" json:"columns"`
	// NullsDistinct false makes NULLs equal to each other (NULLS NOT DISTINCT): at most
	// one row may hold NULL. Default true, PostgreSQL's.
	NullsDistinct *bool `yaml:"nulls_distinct" json:"nulls_distinct,omitempty"`
	Deferrable    bool  `yaml:"deferrable" json:"deferrable,omitempty"`
	// InitiallyDeferred checks at commit by default; it implies deferrable.
	InitiallyDeferred bool `yaml:"initially_deferred" json:"initially_deferred,omitempty"`
}

func init() { spec.RegisterOp("add_unique", func() spec.Op { return &AddUnique{} }) }

var _ Operation = (*AddUnique)(nil)

// CheckFile implements spec.Op: a constraint claims no column.
func (o *AddUnique) CheckFile(c *spec.OpCheck) {
	constraintName(c, "name", o.Name)
	columnList(c, "columns", o.Columns, "[email]")
}

// Moves implements spec.Op: applications need no switch; they must already avoid
// duplicates.
func (o *AddUnique) Moves() *bool { return nil }

func (o *AddUnique) nullsNotDistinct() bool { return o.NullsDistinct != nil && !*o.NullsDistinct }

// deferrable is the constraint's DEFERRABLE clause, "" for none.
func deferrable(d, initially bool) string {
	switch {
	case initially:
		return "DEFERRABLE INITIALLY DEFERRED"
	case d:
		return "DEFERRABLE"
	}
	return ""
}

// Plan implements Operation.
func (o *AddUnique) Plan(e *Env) *Change {
	for i, col := range o.Columns {
		c := e.Column(fmt.Sprintf("columns[%d]", i), col)
		if c != nil && !e.comparable(c.Type) {
			e.Errorf(fmt.Sprintf("columns[%d]", i), "make the column unique over a comparable expression instead (create_index with unique: true, e.g. on md5(col::text))",
				"column %q is of type %s, which has no equality operator: a unique index cannot compare its values", col, c.Type)
		}
	}
	freeConstraintName(e, "name", o.Name)
	for i, op := range e.M.Operations[:opIndexOf(e)] {
		sch, _ := spec.SplitTable(e.M.TableOf(i))
		if ix, ok := op.Op.(*CreateIndex); ok && ix.Name == o.Name && sch == e.Table.Schema {
			e.Errorf("name", "give each index its own name", "operations[%d] already creates an index named %q in schema %s", i, o.Name, sch)
		}
		if u, ok := op.Op.(*AddUnique); ok && u.Name == o.Name && sch == e.Table.Schema && e.M.TableOf(i) != e.Table.String() {
			e.Errorf("name", "give each index its own name", "operations[%d] already creates an index named %q in schema %s", i, o.Name, sch)
		}
	}
	for _, ix := range e.Table.Indexes {
		if ix.Name == o.Name && !e.Resuming {
			e.Errorf("name", "choose another name, or drop the existing index", "index %s already exists on %s: %s", ix.Name, e.Table, ix.Def)
		}
	}
	if len(e.Errs) > 0 {
		return nil
	}
	for _, ix := range e.Table.Indexes {
		if ix.Name == o.Name || !ix.Unique || !ix.Valid || ix.Partial || !sameSet(ix.Columns, o.Columns) {
			continue
		}
		if o.nullsNotDistinct() && !strings.Contains(ix.Def, "NULLS NOT DISTINCT") {
			continue // the new one is stricter
		}
		if ix.Constraint != "" {
			e.Errorf("columns", "nothing to do: remove this operation (to rename the constraint: ALTER TABLE ... RENAME CONSTRAINT)",
				"%s is already unique over (%s): %s %s, on index %s", e.Table, strings.Join(o.Columns, ", "), constraintKinds[ix.ConstraintType], ix.Constraint, ix.Name)
		} else {
			e.Errorf("columns", fmt.Sprintf("make the existing index the constraint, a catalog change: ALTER TABLE %s ADD CONSTRAINT %s UNIQUE USING INDEX %s", e.TableIdent(), Ident(o.Name), Ident(ix.Name)),
				"%s is already unique over (%s): unique index %s", e.Table, strings.Join(o.Columns, ", "), ix.Name)
		}
		return nil
	}

	tbl := e.TableIdent()
	index := quoted(e.Table.Schema, o.Name)
	create := fmt.Sprintf("CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS %s ON %s (%s)", Ident(o.Name), tbl, quotedList(o.Columns))
	shape := ""
	if o.nullsNotDistinct() {
		create += " NULLS NOT DISTINCT"
		shape = " NULLS NOT DISTINCT"
	}
	def := fmt.Sprintf("UNIQUE USING INDEX %s", Ident(o.Name))
	if d := deferrable(o.Deferrable, o.InitiallyDeferred); d != "" {
		def += " " + d
		shape += " " + d
	}
	ch := &Change{
		Summary: fmt.Sprintf("UNIQUE%s (%s) as %s on %s: index built CONCURRENTLY at expand, made the constraint at contract",
			shape, strings.Join(o.Columns, ", "), o.Name, e.Table),
		Expand: []plan.Statement{{ID: "expand/unique-index/" + o.Name, SQL: create, Lock: plan.LockShareUpdExcl, Scans: true,
			Concurrent: true, Index: index,
			Note: "CONCURRENTLY: reads and writes go on while it builds; an invalid leftover of a failed try is dropped first"}},
		Contract: []plan.Statement{{ID: "contract/unique/" + o.Name, SQL: addConstraint(tbl, o.Name, def),
			Lock: plan.LockBriefExclusive, Note: "the constraint takes over the built index: no scan"}},
		Rollback: []plan.Statement{{ID: "rollback/drop-index/" + o.Name, SQL: "DROP INDEX CONCURRENTLY IF EXISTS " + index,
			Lock: plan.LockShareUpdExcl, Concurrent: true}},
		Notes: []string{
			"a duplicate among existing rows fails the index build at expand, before any gate; the migration then rolls back",
			fmt.Sprintf("from expand on (as soon as the index takes writes), a write that duplicates (%s) fails (23505): applications must already avoid duplicates", strings.Join(o.Columns, ", ")),
		},
	}
	if !e.Resuming {
		// PostgreSQL keeps one relation of a name per schema, and IF NOT EXISTS would
		// take a table or another table's index of this name for the built index.
		ch.Checks = append(ch.Checks, plan.Check{Field: e.Path("name"), Group: e.Field,
			SQL: fmt.Sprintf(`DO $zdm$ BEGIN
  IF to_regclass(%s) IS NOT NULL THEN
    RAISE EXCEPTION '%% %% already exists in schema %%', (SELECT CASE relkind WHEN 'r' THEN 'table' WHEN 'p' THEN 'table' WHEN 'i' THEN 'index' WHEN 'I' THEN 'index'
      WHEN 'S' THEN 'sequence' WHEN 'v' THEN 'view' WHEN 'm' THEN 'materialized view' ELSE 'relation' END FROM pg_class WHERE oid = to_regclass(%s)), %s, %s;
  END IF;
END $zdm$`, Literal(index), Literal(index), Literal(o.Name), Literal(e.Table.Schema)),
			Says: "the unique index takes the constraint's name",
			Fix:  "choose a name no table, index, sequence or view of the schema has"})
	}
	if o.Deferrable || o.InitiallyDeferred {
		ch.Notes = append(ch.Notes, "a DEFERRABLE unique constraint cannot be the target of a foreign key, and ON CONFLICT cannot use it")
	}
	return ch
}

// Shape implements Shaper: a later foreign key may reference the columns.
func (o *AddUnique) Shape(e *Env, _ *Change, s *Shapes) {
	ix := schema.Index{Name: o.Name, Columns: o.Columns, Unique: true, Valid: true, Constraint: o.Name, ConstraintType: "u"}
	if o.Deferrable || o.InitiallyDeferred {
		ix.Deferrable = "DEFERRABLE"
	}
	s.AddIndex(e.Table, ix)
	s.AddConstraint(e.Table, schema.Constraint{Name: o.Name, Type: "u", Columns: o.Columns, Index: o.Name, Validated: true}, e.Field)
}

// Undo implements Undoer: revert drops the constraint contract made of the index, and
// the rollback then drops the index (dropping the constraint already took it).
func (o *AddUnique) Undo(e *Env, ch *Change) *Undo {
	return &Undo{
		Says:     "revert drops the constraint " + o.Name + " and its index",
		Contract: ch.Contract,
		Revert:   []plan.Statement{dropConstraint("revert", e.TableIdent(), o.Name, plan.LockBriefExclusive)},
	}
}
