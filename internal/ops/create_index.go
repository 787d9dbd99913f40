package ops

import (
	"fmt"
	"strings"

	"github.com/zdmhq/zdm/internal/plan"
	"github.com/zdmhq/zdm/internal/schema"
	"github.com/zdmhq/zdm/internal/spec"
	"github.com/zdmhq/zdm/internal/sqlexpr"
)

// CreateIndex builds an index CONCURRENTLY at expand: reads and writes go on while it
// builds, a failed build's invalid leftover is dropped before the next try, and the
// index must end valid. It fills no column, so the migration has no backfill; rollback
// drops the index CONCURRENTLY.
type CreateIndex struct {
	Name string `yaml:"name" json:"name"`
	// Columns are column names or expressions (lower(email)), in index order.
	Columns []string `yaml:"columns" json:"columns"`
	// Method is the access method (btree when empty): hash, gin, gist, brin, ...
	Method  string   `yaml:"method" json:"method,omitempty"`
	Unique  bool     `yaml:"unique" json:"unique,omitempty"`
	Where   string   `yaml:"where" json:"where,omitempty"`
	Include []string `yaml:"include" json:"include,omitempty"`
}

func init() { spec.RegisterOp("create_index", func() spec.Op { return &CreateIndex{} }) }

var _ Operation = (*CreateIndex)(nil)

// CheckFile implements spec.Op.
func (o *CreateIndex) CheckFile(c *spec.OpCheck) {
	c.Ident("name", o.Name)
	if len(o.Columns) == 0 {
		c.Errorf("columns", "list the indexed columns or expressions, e.g. `columns: [email]`", "is required")
	}
	for i, col := range o.Columns {
		c.Required(fmt.Sprintf("columns[%d]", i), col, "`email` or `lower(email)`")
	}
	for i, col := range o.Include {
		c.Ident(fmt.Sprintf("include[%d]", i), col)
	}
}

// Moves implements spec.Op: applications need no switch for an index.
func (o *CreateIndex) Moves() *bool { return nil }

// Plan implements Operation.
func (o *CreateIndex) Plan(e *Env) *Change {
	tbl := e.TableIdent()
	for _, ix := range e.Table.Indexes {
		if ix.Name == o.Name && !e.Resuming {
			e.Errorf("name", "choose another name, or drop the existing index", "index %s already exists on %s", o.Name, e.Table)
		}
	}
	method := strings.ToLower(strings.TrimSpace(o.Method))
	if method == "" {
		method = "btree"
	}
	if e.Catalog != nil && !e.Catalog.IndexMethod(method) {
		e.Errorf("method", "use an access method this server has: btree, hash, gin, gist, spgist, brin (or an extension's)", "access method %q does not exist", method)
	}
	var elems, exprs []string
	for i, c := range o.Columns {
		sub := fmt.Sprintf("columns[%d]", i)
		if x, err := sqlexpr.ParseExpr(c); err == nil {
			if name, ok := x.Column(); ok {
				if e.Column(sub, name) != nil {
					elems = append(elems, Ident(name))
					exprs = append(exprs, Ident(name))
				}
				continue
			}
		}
		if v := e.Expr(sub, c); v != "" {
			elems = append(elems, "("+v+")")
			exprs = append(exprs, v)
		}
	}
	var include []string
	for i, c := range o.Include {
		if e.Column(fmt.Sprintf("include[%d]", i), c) != nil {
			include = append(include, Ident(c))
		}
	}
	where := ""
	if strings.TrimSpace(o.Where) != "" {
		where = e.Expr("where", o.Where)
	}
	if len(e.Errs) > 0 {
		return nil
	}
	index := quoted(e.Table.Schema, o.Name)
	unique := ""
	if o.Unique {
		unique = "UNIQUE "
	}
	create := fmt.Sprintf("CREATE %sINDEX CONCURRENTLY IF NOT EXISTS %s ON %s USING %s (%s)", unique, Ident(o.Name), tbl, method, strings.Join(elems, ", "))
	if len(include) > 0 {
		create += " INCLUDE (" + strings.Join(include, ", ") + ")"
	}
	check := fmt.Sprintf("EXPLAIN SELECT %s FROM %s", strings.Join(exprs, ", "), tbl)
	if where != "" {
		create += " WHERE " + where
		check += " WHERE " + where
	}
	summary := fmt.Sprintf("%sindex %s on %s using %s (%s)", strings.ToLower(unique), o.Name, e.Table, method, strings.Join(o.Columns, ", "))
	ch := &Change{
		Summary: summary,
		Expand: []plan.Statement{{
			ID: "expand/create-index/" + o.Name, SQL: create, Lock: plan.LockShareUpdExcl, Scans: true,
			Concurrent: true, Index: index,
			Note: "CONCURRENTLY: reads and writes go on while it builds; an invalid leftover of a failed try is dropped first",
		}},
		Rollback: []plan.Statement{{
			ID: "rollback/drop-index/" + o.Name, SQL: "DROP INDEX CONCURRENTLY IF EXISTS " + index,
			Lock: plan.LockShareUpdExcl, Concurrent: true,
		}},
		Checks: []plan.Check{{Field: e.Path("columns"), Group: e.Field, SQL: check,
			Fix: "index columns of the table, or expressions over them; where: one boolean expression"}},
	}
	if o.Unique {
		ch.Notes = append(ch.Notes, "a duplicate among existing rows fails the build at expand, before any gate; the migration then rolls back")
	}
	return ch
}

// quoted is schema.name quoted.
func quoted(schemaName, name string) string { return Ident(schemaName) + "." + Ident(name) }

// Shape implements Shaper: a later foreign key may rely on a unique index built here.
func (o *CreateIndex) Shape(e *Env, _ *Change, s *Shapes) {
	s.AddIndex(e.Table, schema.Index{Name: o.Name, Columns: o.Columns, Unique: o.Unique, Valid: true,
		Partial: strings.TrimSpace(o.Where) != "", Method: o.Method})
}

// Undo implements Undoer: contract changes nothing; revert drops the index.
func (o *CreateIndex) Undo(_ *Env, ch *Change) *Undo {
	return undoByRollback(ch, "revert drops the index "+o.Name+" (the rollback's DROP INDEX CONCURRENTLY)")
}
