package convert

import (
	"strings"

	pg_query "github.com/pganalyze/pg_query_go/v6"

	"github.com/zdmhq/zdm/internal/sqlexpr"
)

// createIndex converts CREATE INDEX; zdm builds it CONCURRENTLY whatever the SQL said.
func (c *converter) createIndex(s sqlexpr.Statement, ix *pg_query.IndexStmt) bool {
	if ix.GetRelation() == nil || ix.GetTableSpace() != "" || len(ix.GetOptions()) > 0 || ix.GetNullsNotDistinct() {
		return false
	}
	table := rangeVar(ix.GetRelation())
	var cols []string
	for _, p := range ix.GetIndexParams() {
		e := p.GetIndexElem()
		if e == nil || len(e.GetCollation()) > 0 || len(e.GetOpclass()) > 0 || e.GetOrdering() != pg_query.SortByDir_SORTBY_DEFAULT || e.GetNullsOrdering() != pg_query.SortByNulls_SORTBY_NULLS_DEFAULT {
			return false // zdm's columns are names and expressions only: the SQL runs as written
		}
		if e.GetName() != "" {
			cols = append(cols, e.GetName())
			continue
		}
		v, err := expr(e.GetExpr())
		if err != nil {
			return false
		}
		cols = append(cols, v)
	}
	var include []string
	for _, p := range ix.GetIndexIncludingParams() {
		if p.GetIndexElem().GetName() == "" {
			return false
		}
		include = append(include, p.GetIndexElem().GetName())
	}
	st := &step{stmt: s, kind: "create_index", table: table}
	name := ix.GetIdxname()
	if name == "" {
		_, tname := splitQualified(table)
		name = pgName(tname, strings.Join(cols, "_"), "idx")
		if !identifier.MatchString(name) {
			return false
		}
		st.comments = append(st.comments, "named as PostgreSQL would: "+name)
	}
	st.fields = []kv{f("name", name), f("columns", cols)}
	if m := ix.GetAccessMethod(); m != "" && m != "btree" {
		st.fields = append(st.fields, f("method", m))
	}
	if ix.GetUnique() {
		st.fields = append(st.fields, f("unique", true))
	}
	if w := ix.GetWhereClause(); w != nil {
		v, err := expr(w)
		if err != nil {
			return false
		}
		st.fields = append(st.fields, f("where", v))
	}
	if len(include) > 0 {
		st.fields = append(st.fields, f("include", include))
	}
	if !ix.GetConcurrent() {
		st.comments = append(st.comments, "the SQL builds it without CONCURRENTLY (blocking writes); zdm builds it CONCURRENTLY")
	}
	c.push(st)
	return true
}

// drop converts DROP TABLE and DROP INDEX, one operation per object.
func (c *converter) drop(s sqlexpr.Statement, d *pg_query.DropStmt) bool {
	var out []*step
	switch d.GetRemoveType() {
	case pg_query.ObjectType_OBJECT_TABLE:
		for _, o := range d.GetObjects() {
			schema, name := qualifiedName(o.GetList().GetItems())
			out = append(out, &step{stmt: s, kind: "drop_table", table: qualify(schema, name), fields: []kv{}})
		}
	case pg_query.ObjectType_OBJECT_INDEX:
		for _, o := range d.GetObjects() {
			schema, name := qualifiedName(o.GetList().GetItems())
			table, how := c.indexTable(qualify(schema, name))
			if table == "" {
				return false
			}
			st := &step{stmt: s, kind: "drop_index", table: table, fields: []kv{f("name", name)}}
			if how != "" {
				st.comments = append(st.comments, how)
				c.note(s, "DROP INDEX %s: %s", name, how)
			}
			out = append(out, st)
		}
	default:
		return false
	}
	for _, st := range out {
		if d.GetBehavior() == pg_query.DropBehavior_DROP_CASCADE {
			st.comments = append(st.comments, "the SQL said CASCADE: zdm refuses what others depend on; drop those first")
		}
		c.push(st)
	}
	return true
}

// indexTable finds the table of an index the SQL drops: from the catalog, else a table
// this file names whose name the index's begins with (with a TODO to confirm).
func (c *converter) indexTable(index string) (table, todo string) {
	if c.opts.Catalog != nil {
		if t, ok, err := c.opts.Catalog.IndexTable(index); err == nil && ok {
			return t, ""
		}
	}
	_, name := splitQualified(index)
	best := ""
	for _, st := range c.steps {
		if st.table == "" {
			continue
		}
		_, tname := splitQualified(st.table)
		if (strings.HasPrefix(name, tname+"_") || strings.Contains(name, "_"+tname+"_")) && len(st.table) > len(best) {
			best = st.table
		}
	}
	if best == "" {
		return "", ""
	}
	return best, "TODO(zdm convert): the SQL does not say the index's table; confirm it is " + best
}

// rename converts RENAME COLUMN and RENAME TO of a table.
func (c *converter) rename(s sqlexpr.Statement, r *pg_query.RenameStmt) bool {
	if r.GetRelation() == nil {
		return false
	}
	table := rangeVar(r.GetRelation())
	switch {
	case r.GetRenameType() == pg_query.ObjectType_OBJECT_COLUMN && r.GetRelationType() == pg_query.ObjectType_OBJECT_TABLE:
		c.push(&step{stmt: s, kind: "rename_column", table: table, column: r.GetSubname(), fields: []kv{f("column", r.GetSubname()), f("to", r.GetNewname())}})
	case r.GetRenameType() == pg_query.ObjectType_OBJECT_TABLE:
		c.push(&step{stmt: s, kind: "rename_table", table: table, fields: []kv{f("to", r.GetNewname())}})
	default:
		return false
	}
	return true
}

// createTable converts CREATE TABLE: columns with their type, nullability, default,
// key, unique and check; serial and identity columns as identity; a UNIQUE over
// several columns and foreign keys as operations after it.
func (c *converter) createTable(s sqlexpr.Statement, t *pg_query.CreateStmt) bool {
	if t.GetRelation() == nil || t.GetRelation().GetRelpersistence() != "p" || len(t.GetInhRelations()) > 0 || t.GetPartbound() != nil ||
		t.GetPartspec() != nil || t.GetOfTypename() != nil || len(t.GetOptions()) > 0 || t.GetTablespacename() != "" || t.GetAccessMethod() != "" {
		return false
	}
	table := rangeVar(t.GetRelation())
	_, tname := splitQualified(table)
	var cols [][]kv
	var colNames []string
	var key []string
	var after []*step
	var checks []string
	for _, el := range t.GetTableElts() {
		if con := el.GetConstraint(); con != nil {
			switch con.GetContype() {
			case pg_query.ConstrType_CONSTR_PRIMARY:
				if len(con.GetIncluding()) > 0 || con.GetIndexname() != "" || len(con.GetOptions()) > 0 {
					return false
				}
				key = names(con.GetKeys())
			case pg_query.ConstrType_CONSTR_CHECK:
				if con.GetConname() != "" {
					st, ok := c.constraint(s, table, "", con)
					if !ok {
						return false
					}
					after = append(after, st)
					continue
				}
				v, err := expr(con.GetRawExpr())
				if err != nil {
					return false
				}
				checks = append(checks, v)
			default:
				st, ok := c.constraint(s, table, "", con)
				if !ok {
					return false
				}
				after = append(after, st)
			}
			continue
		}
		cd := el.GetColumnDef()
		if cd == nil || cd.GetCollClause() != nil || cd.GetGenerated() != "" {
			return false
		}
		col := []kv{f("name", cd.GetColname())}
		colNames = append(colNames, cd.GetColname())
		typ, identity := serial(cd.GetTypeName())
		if !identity {
			var err error
			if typ, err = typeName(cd.GetTypeName()); err != nil {
				return false
			}
		}
		col = append(col, f("type", typ))
		var nullable *bool
		var def, check string
		var pk, unique bool
		for _, n := range cd.GetConstraints() {
			con := n.GetConstraint()
			var err error
			switch con.GetContype() {
			case pg_query.ConstrType_CONSTR_NOTNULL:
				nullable = ptr(false)
			case pg_query.ConstrType_CONSTR_NULL:
				nullable = ptr(true)
			case pg_query.ConstrType_CONSTR_DEFAULT:
				if def, err = expr(con.GetRawExpr()); err != nil {
					return false
				}
			case pg_query.ConstrType_CONSTR_IDENTITY:
				identity = true
			case pg_query.ConstrType_CONSTR_PRIMARY:
				pk = true
			case pg_query.ConstrType_CONSTR_UNIQUE:
				if con.GetConname() != "" || con.GetNullsNotDistinct() || len(con.GetOptions()) > 0 {
					st, ok := c.constraint(s, table, cd.GetColname(), con)
					if !ok {
						return false
					}
					after = append(after, st)
					continue
				}
				unique = true
			case pg_query.ConstrType_CONSTR_CHECK:
				if con.GetConname() != "" || check != "" {
					st, ok := c.constraint(s, table, cd.GetColname(), con)
					if !ok {
						return false
					}
					after = append(after, st)
					continue
				}
				if check, err = expr(con.GetRawExpr()); err != nil {
					return false
				}
			case pg_query.ConstrType_CONSTR_FOREIGN:
				st, ok := c.constraint(s, table, cd.GetColname(), con)
				if !ok {
					return false
				}
				after = append(after, st)
			default:
				return false
			}
		}
		if nullable != nil && !*nullable && !pk && !identity {
			col = append(col, f("nullable", false))
		}
		if def != "" && !identity {
			col = append(col, f("default", def))
		}
		if check != "" {
			col = append(col, f("check", check))
		}
		if unique {
			col = append(col, f("unique", true))
		}
		if pk {
			col = append(col, f("primary_key", true))
		}
		if identity {
			col = append(col, f("identity", true))
		}
		cols = append(cols, col)
	}
	if len(cols) == 0 || (len(key) == 0 && !hasKey(cols)) {
		return false // zdm's create_table needs a primary key: the SQL runs as written
	}
	// A CHECK written over the table goes on a column without one (create_table's
	// check is an expression over the whole row); more of them become add_check.
	for _, ch := range checks {
		placed := false
		for i := range cols {
			if !hasField(cols[i], "check") {
				cols[i] = append(cols[i], f("check", ch))
				placed = true
				break
			}
		}
		if !placed {
			after = append(after, &step{stmt: s, kind: "add_check", table: table, fields: []kv{f("name", pgName(tname, "", "check")), f("check", ch)}})
		}
	}
	fields := []kv{f("columns", cols)}
	if len(key) == 1 {
		for i := range cols {
			if cols[i][0].v == key[0] {
				cols[i] = append(removeField(cols[i], "nullable"), f("primary_key", true))
			}
		}
	} else if len(key) > 1 {
		fields = append(fields, f("primary_key", key))
	}
	st := &step{stmt: s, kind: "create_table", table: table, fields: fields}
	if t.GetIfNotExists() {
		st.comments = append(st.comments, "the SQL says IF NOT EXISTS; zdm refuses a table that exists already (a rollback drops only what this migration created)")
	}
	c.created[table] = true
	c.push(st)
	for _, a := range after {
		c.push(a)
	}
	return true
}

func hasKey(cols [][]kv) bool {
	for _, col := range cols {
		if hasField(col, "primary_key") {
			return true
		}
	}
	return false
}

func hasField(fields []kv, k string) bool {
	for _, e := range fields {
		if e.k == k {
			return true
		}
	}
	return false
}

func removeField(fields []kv, k string) []kv {
	out := fields[:0:0]
	for _, e := range fields {
		if e.k != k {
			out = append(out, e)
		}
	}
	return out
}

// createEnum converts CREATE TYPE ... AS ENUM.
func (c *converter) createEnum(s sqlexpr.Statement, e *pg_query.CreateEnumStmt) bool {
	schema, name := qualifiedName(e.GetTypeName())
	fields := []kv{f("name", name), f("values", names(e.GetVals()))}
	if schema != "" {
		fields = append(fields, f("schema", schema))
	}
	c.push(&step{stmt: s, kind: "create_enum", fields: fields})
	return true
}

// alterEnum converts ALTER TYPE ... ADD VALUE.
func (c *converter) alterEnum(s sqlexpr.Statement, e *pg_query.AlterEnumStmt) bool {
	if e.GetOldVal() != "" {
		return false // RENAME VALUE
	}
	schema, name := qualifiedName(e.GetTypeName())
	fields := []kv{f("enum", name), f("value", e.GetNewVal())}
	if n := e.GetNewValNeighbor(); n != "" {
		if e.GetNewValIsAfter() {
			fields = append(fields, f("after", n))
		} else {
			fields = append(fields, f("before", n))
		}
	}
	if schema != "" {
		fields = append(fields, f("schema", schema))
	}
	st := &step{stmt: s, kind: "add_enum_value", fields: fields}
	st.comments = append(st.comments, "zdm adds the value at contract, after the gate: no rollback could take it back")
	c.push(st)
	return true
}
