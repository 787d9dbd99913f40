package convert

import (
	"fmt"
	"strings"

	pg_query "github.com/pganalyze/pg_query_go/v6"

	"github.com/zdmhq/zdm/internal/sqlexpr"
)

// colChange is what ALTER COLUMN subcommands change about one column; several of them,
// in one statement or several, make one operation (zdm changes a column once per
// migration).
type colChange struct {
	table, column string
	typ, using    string
	notNull       *bool
	def           *string
	dropDefault   bool
}

// addCol is an ADD COLUMN.
type addCol struct {
	column, typ, backfill, def string
	notNull                    bool
}

// alterTable converts ALTER TABLE; false leaves the statement to a sql step (a
// subcommand zdm has no operation for).
func (c *converter) alterTable(s sqlexpr.Statement, a *pg_query.AlterTableStmt) bool {
	if a.GetObjtype() != pg_query.ObjectType_OBJECT_TABLE || a.GetRelation() == nil {
		return false
	}
	table := rangeVar(a.GetRelation())
	var out []*step
	byColumn := map[string]*colChange{}
	for _, raw := range a.GetCmds() {
		cmd := raw.GetAlterTableCmd()
		col := cmd.GetName()
		change := func() *colChange {
			ch := byColumn[col]
			if ch == nil {
				ch = &colChange{table: table, column: col}
				byColumn[col] = ch
				out = append(out, &step{stmt: s, kind: "alter", table: table, column: col, col: ch})
			}
			return ch
		}
		switch cmd.GetSubtype() {
		case pg_query.AlterTableType_AT_AddColumn:
			steps, ok := c.addColumn(s, table, cmd.GetDef().GetColumnDef())
			if !ok {
				return false
			}
			out = append(out, steps...)
		case pg_query.AlterTableType_AT_AlterColumnType:
			cd := cmd.GetDef().GetColumnDef()
			typ, err := typeName(cd.GetTypeName())
			if err != nil || cd.GetCollClause() != nil {
				return false
			}
			ch := change()
			ch.typ = typ
			if u := cd.GetRawDefault(); u != nil {
				if ch.using, err = expr(u); err != nil {
					return false
				}
			}
		case pg_query.AlterTableType_AT_SetNotNull:
			change().notNull = ptr(true)
		case pg_query.AlterTableType_AT_DropNotNull:
			change().notNull = ptr(false)
		case pg_query.AlterTableType_AT_ColumnDefault:
			ch := change()
			if d := cmd.GetDef(); d != nil {
				v, err := expr(d)
				if err != nil {
					return false
				}
				ch.def, ch.dropDefault = &v, false
			} else {
				ch.def, ch.dropDefault = nil, true
			}
		case pg_query.AlterTableType_AT_AddConstraint:
			st, ok := c.constraint(s, table, "", cmd.GetDef().GetConstraint())
			if !ok {
				return false
			}
			out = append(out, st)
		case pg_query.AlterTableType_AT_DropConstraint:
			st := &step{stmt: s, kind: "drop_constraint", table: table, fields: []kv{f("name", col)}}
			if cmd.GetBehavior() == pg_query.DropBehavior_DROP_CASCADE {
				st.comments = append(st.comments, "the SQL said CASCADE: zdm refuses a key other constraints rely on; drop those first")
			}
			out = append(out, st)
		case pg_query.AlterTableType_AT_DropColumn:
			st := &step{stmt: s, kind: "drop_column", table: table, column: col, fields: []kv{
				f("column", col),
				{k: "down", v: "<value for rows new code writes without " + col + ">", commented: true},
			}}
			st.comments = append(st.comments, "TODO(zdm convert): if "+col+" is NOT NULL without a default, uncomment down: the value it gets in rows written until contract")
			if cmd.GetBehavior() == pg_query.DropBehavior_DROP_CASCADE {
				st.comments = append(st.comments, "the SQL said CASCADE: zdm refuses a column views, foreign keys or other indexes use; drop those first")
			}
			out = append(out, st)
		default:
			return false
		}
	}
	for _, st := range out {
		c.push(st)
	}
	return true
}

// push appends a step built elsewhere, marking the ones that follow a step of the same
// statement.
func (c *converter) push(st *step) {
	if n := len(c.steps); n > 0 && c.steps[n-1].stmt.Line == st.stmt.Line && c.steps[n-1].stmt.SQL == st.stmt.SQL {
		st.follows = true
	}
	c.steps = append(c.steps, st)
}

// addColumn converts ADD COLUMN: the column, then the constraints written on it.
func (c *converter) addColumn(s sqlexpr.Statement, table string, cd *pg_query.ColumnDef) ([]*step, bool) {
	if cd == nil || cd.GetCollClause() != nil || cd.GetIdentity() != "" || cd.GetGenerated() != "" {
		return nil, false
	}
	if _, ok := serial(cd.GetTypeName()); ok {
		return nil, false
	}
	typ, err := typeName(cd.GetTypeName())
	if err != nil {
		return nil, false
	}
	ac := &addCol{column: cd.GetColname(), typ: typ}
	var after []*step
	for _, n := range cd.GetConstraints() {
		con := n.GetConstraint()
		switch con.GetContype() {
		case pg_query.ConstrType_CONSTR_NOTNULL:
			ac.notNull = true
		case pg_query.ConstrType_CONSTR_NULL:
			ac.notNull = false
		case pg_query.ConstrType_CONSTR_DEFAULT:
			if ac.def, err = expr(con.GetRawExpr()); err != nil {
				return nil, false
			}
		case pg_query.ConstrType_CONSTR_CHECK, pg_query.ConstrType_CONSTR_UNIQUE, pg_query.ConstrType_CONSTR_FOREIGN:
			st, ok := c.constraint(s, table, ac.column, con)
			if !ok {
				return nil, false
			}
			after = append(after, st)
		default:
			return nil, false
		}
	}
	ac.backfill = ac.def
	if ac.backfill == "" {
		ac.backfill = "NULL"
	}
	st := &step{stmt: s, kind: "add_column", table: table, column: ac.column, add: ac}
	return append([]*step{st}, after...), true
}

// constraint converts a constraint added to table (column: the column it is written
// on, for one written inside a column's definition).
func (c *converter) constraint(s sqlexpr.Statement, table, column string, con *pg_query.Constraint) (*step, bool) {
	if con == nil || con.GetIndexname() != "" || con.GetIndexspace() != "" || len(con.GetOptions()) > 0 {
		return nil, false
	}
	_, tname := splitQualified(table)
	st := &step{stmt: s, table: table}
	name := con.GetConname()
	switch con.GetContype() {
	case pg_query.ConstrType_CONSTR_CHECK:
		check, err := expr(con.GetRawExpr())
		if err != nil {
			return nil, false
		}
		if name == "" {
			name = pgName(tname, column, "check")
			st.comments = append(st.comments, "the SQL leaves the name to PostgreSQL; zdm needs one: "+name)
		}
		st.kind, st.fields = "add_check", []kv{f("name", name), f("check", check)}
		if con.GetIsNoInherit() {
			st.fields = append(st.fields, f("no_inherit", true))
		}
		if con.GetSkipValidation() {
			st.comments = append(st.comments, "the SQL adds it NOT VALID; zdm validates it after expand, with reads and writes going on")
		}
	case pg_query.ConstrType_CONSTR_UNIQUE:
		cols := names(con.GetKeys())
		if column != "" {
			cols = []string{column}
		}
		if len(con.GetIncluding()) > 0 || len(cols) == 0 {
			return nil, false
		}
		if name == "" {
			name = pgName(tname, strings.Join(cols, "_"), "key")
			st.comments = append(st.comments, "named as PostgreSQL would: "+name)
		}
		st.kind, st.fields = "add_unique", []kv{f("name", name), f("columns", cols)}
		if con.GetNullsNotDistinct() {
			st.fields = append(st.fields, f("nulls_distinct", false))
		}
		st.fields = append(st.fields, deferrable(con)...)
	case pg_query.ConstrType_CONSTR_FOREIGN:
		cols := names(con.GetFkAttrs())
		if column != "" {
			cols = []string{column}
		}
		if m := con.GetFkMatchtype(); (m != "" && m != "s") || len(con.GetFkDelSetCols()) > 0 || con.GetPktable() == nil {
			return nil, false
		}
		refCols := names(con.GetPkAttrs())
		if len(refCols) == 0 {
			if len(cols) != 1 {
				return nil, false
			}
			refCols = []string{"id"}
			st.comments = append(st.comments, "TODO(zdm convert): the SQL references the primary key of "+rangeVar(con.GetPktable())+"; confirm it is id")
			c.note(s, "REFERENCES %s without columns: written as (id); confirm that is its primary key", rangeVar(con.GetPktable()))
		}
		if name == "" {
			name = pgName(tname, strings.Join(cols, "_"), "fkey")
			st.comments = append(st.comments, "named as PostgreSQL would: "+name)
		}
		st.kind, st.fields = "add_foreign_key", []kv{
			f("name", name), f("columns", cols),
			f("references", []kv{f("table", rangeVar(con.GetPktable())), f("columns", refCols)}),
		}
		if a := fkAction(con.GetFkDelAction()); a != "" {
			st.fields = append(st.fields, f("on_delete", a))
		}
		if a := fkAction(con.GetFkUpdAction()); a != "" {
			st.fields = append(st.fields, f("on_update", a))
		}
		st.fields = append(st.fields, deferrable(con)...)
		if con.GetSkipValidation() {
			st.comments = append(st.comments, "the SQL adds it NOT VALID; zdm validates it after expand, with reads and writes going on")
		}
	default:
		return nil, false
	}
	return st, true
}

func deferrable(con *pg_query.Constraint) []kv {
	switch {
	case con.GetInitdeferred():
		return []kv{f("initially_deferred", true)}
	case con.GetDeferrable():
		return []kv{f("deferrable", true)}
	}
	return nil
}

// fkAction names a referential action; "" for NO ACTION, the default.
func fkAction(a string) string {
	switch a {
	case "r":
		return "RESTRICT"
	case "c":
		return "CASCADE"
	case "n":
		return "SET NULL"
	case "d":
		return "SET DEFAULT"
	}
	return ""
}

// pgName is the name PostgreSQL gives a constraint or index it is not given one for
// (table_columns_suffix), cut to 63 bytes as it does (roughly: it cuts the longer part).
func pgName(table, columns, suffix string) string {
	parts := []string{table}
	if columns != "" {
		parts = append(parts, columns)
	}
	name := strings.Join(append(parts, suffix), "_")
	for len(name) > 63 && len(table) > 1 {
		table = table[:len(table)-1]
		name = strings.Join(append([]string{table, columns}, suffix), "_")
	}
	return name
}

func splitQualified(t string) (schema, name string) {
	if i := strings.IndexByte(t, '.'); i >= 0 {
		return t[:i], t[i+1:]
	}
	return "public", t
}

func ptr[T any](v T) *T { return &v }

// fields writes a column change as the operation that makes it: one change as its own
// operation (change_type, set_not_null, ...), several as one alter_column.
func (c *converter) columnFields(st *step) {
	ch := st.col
	n := 0
	if ch.typ != "" {
		n++
	}
	if ch.notNull != nil {
		n++
	}
	if ch.def != nil || ch.dropDefault {
		n++
	}
	col := ch.column
	up := ""
	if ch.typ != "" {
		up = col + "::" + ch.typ
		if ch.using != "" {
			up = ch.using
		}
	}
	var fields []kv
	switch {
	case n == 1 && ch.typ != "":
		st.kind = "change_type"
		fields = []kv{f("column", col), f("type", ch.typ), f("up", up)}
	case n == 1 && ch.notNull != nil && *ch.notNull:
		st.kind = "set_not_null"
		fields = []kv{f("column", col)}
	case n == 1 && ch.notNull != nil:
		st.kind, fields = "drop_not_null", []kv{f("column", col)}
	case n == 1 && ch.def != nil:
		st.kind, fields = "set_default", []kv{f("column", col), f("default", *ch.def)}
	case n == 1:
		st.kind, fields = "drop_default", []kv{f("column", col)}
	default:
		st.kind = "alter_column"
		fields = []kv{f("column", col)}
		if ch.typ != "" {
			fields = append(fields, f("type", ch.typ), f("up", up))
		}
	}
	if ch.typ != "" {
		fields = append(fields, c.down(st, ch)...)
	}
	if ch.notNull != nil && *ch.notNull {
		value := "<value>"
		if ch.def != nil {
			value = *ch.def
		}
		base := col
		if up != "" {
			base = up
		}
		fields = append(fields, kv{k: "up", v: fmt.Sprintf("coalesce(%s, %s)", base, value), commented: true})
		st.comments = append(st.comments, fmt.Sprintf("TODO(zdm convert): rows where %s is NULL make the NOT NULL fail; to give them a value, uncomment up with that value", col))
		c.note(st.stmt, "SET NOT NULL on %s.%s: confirm no row is NULL, or uncomment up with the value NULL rows get", ch.table, col)
	}
	if st.kind == "alter_column" {
		if ch.notNull != nil {
			fields = append(fields, f("not_null", *ch.notNull))
		}
		if ch.def != nil {
			fields = append(fields, f("default", *ch.def))
		} else if ch.dropDefault {
			fields = append(fields, f("drop_default", true))
		}
	}
	st.fields = fields
}

// down is the cast back to the old type for a type change: from the catalog when there
// is one, else left to zdm's default (the new value cast to the column's type when
// planned) with a TODO.
func (c *converter) down(st *step, ch *colChange) []kv {
	if c.opts.Catalog != nil && !c.created[ch.table] {
		old, ok, err := c.opts.Catalog.ColumnType(ch.table, ch.column)
		if err == nil && ok {
			return []kv{f("down", ch.column+"::"+old)}
		}
		if err != nil {
			c.note(st.stmt, "cannot read the type of %s.%s: %v", ch.table, ch.column, err)
		}
	}
	st.comments = append(st.comments, fmt.Sprintf("TODO(zdm convert): confirm down, the old value from a write of the new one: left out, zdm casts %s back to the type it has now", ch.column))
	c.note(st.stmt, "type change of %s.%s: confirm down (run with DATABASE_URL to have it written from the current type)", ch.table, ch.column)
	return []kv{{k: "down", v: ch.column + "::<old type>", commented: true}}
}

// addFields writes an ADD COLUMN as add_column.
func (c *converter) addFields(st *step) {
	ac := st.add
	fields := []kv{f("column", ac.column), f("type", ac.typ)}
	if ac.backfill != "NULL" || ac.notNull {
		fields = append(fields, f("backfill", ac.backfill))
	}
	switch {
	case ac.notNull && ac.backfill == "NULL" && ac.def == "":
		fields = append(fields, kv{k: "not_null", v: true, commented: true})
		st.comments = append(st.comments, fmt.Sprintf("TODO(zdm convert): the SQL adds %s NOT NULL without a default (which works only on an empty table): write backfill, the value existing rows get, then uncomment not_null", ac.column))
		c.note(st.stmt, "ADD COLUMN %s NOT NULL without a default: write backfill and uncomment not_null", ac.column)
	case ac.notNull:
		fields = append(fields, f("not_null", true))
	}
	if ac.def != "" {
		fields = append(fields, f("default", ac.def))
	}
	st.fields = fields
}
