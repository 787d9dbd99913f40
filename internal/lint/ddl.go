package lint

import (
	"fmt"
	"strings"

	pg_query "github.com/pganalyze/pg_query_go/v6"
	"google.golang.org/protobuf/proto"
)

func (c *checker) createTable(s *stmt, ct *pg_query.CreateStmt) {
	table := tableName(ct.GetRelation())
	c.created[key(table)] = true
	types := map[string]*pg_query.TypeName{}
	var pk []string
	for _, e := range ct.GetTableElts() {
		if col := e.GetColumnDef(); col != nil {
			types[col.GetColname()] = col.GetTypeName()
			c.conventions(s, table, col.GetColname(), col.GetTypeName())
			for _, k := range col.GetConstraints() {
				if k.GetConstraint().GetContype() == pg_query.ConstrType_CONSTR_PRIMARY {
					pk = []string{col.GetColname()}
				}
			}
		}
		if k := e.GetConstraint(); k != nil && k.GetContype() == pg_query.ConstrType_CONSTR_PRIMARY {
			pk = stringList(k.GetKeys())
		}
	}
	for _, k := range ct.GetConstraints() {
		if k.GetConstraint().GetContype() == pg_query.ConstrType_CONSTR_PRIMARY {
			pk = stringList(k.GetConstraint().GetKeys())
		}
	}
	if len(pk) == 1 && types[pk[0]] != nil {
		t := typeOf(types[pk[0]])
		if (t.name == "int4" || t.name == "int2") && !t.array {
			c.report(s, "prefer-bigint-primary-key", table, fmt.Sprintf("%s.%s, the primary key, is %s", table, pk[0], writtenType(types[pk[0]])),
				"it runs out at 2,147,483,647 (smallint: 32,767); changing the type later rewrites the table and every table whose foreign keys reference it",
				fmt.Sprintf("%s bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY", pk[0]), false)
		}
	}
}

func stringList(ns []*pg_query.Node) []string {
	var out []string
	for _, n := range ns {
		out = append(out, n.GetString_().GetSval())
	}
	return out
}

// writtenType is a type name for a message: the catalog's name with its modifiers.
func writtenType(tn *pg_query.TypeName) string {
	if serialType(tn) {
		names := tn.GetNames()
		return strings.ToLower(names[len(names)-1].GetString_().GetSval())
	}
	return friendly(typeOf(tn))
}

var friendlyNames = map[string]string{"int8": "bigint", "int4": "integer", "int2": "smallint", "float8": "double precision",
	"float4": "real", "bool": "boolean", "bpchar": "char"}

func friendly(t colType) string {
	if f, ok := friendlyNames[t.name]; ok {
		t.name = f
	}
	return t.String()
}

// bookkeeping are the tables migration frameworks keep their own state in: small,
// theirs, not the application's.
var bookkeeping = map[string]bool{"schema_migrations": true, "ar_internal_metadata": true, "django_migrations": true,
	"alembic_version": true, "flyway_schema_history": true, "goose_db_version": true, "_prisma_migrations": true,
	"__drizzle_migrations": true}

// conventions are the warnings about a new column's type.
func (c *checker) conventions(s *stmt, table, col string, tn *pg_query.TypeName) {
	if bookkeeping[strings.ToLower(bare(table))] {
		return
	}
	t := typeOf(tn)
	at := table + "." + col
	switch t.name {
	case "json":
		c.report(s, "prefer-jsonb", table, at+" is json",
			"json keeps the text as written: no equality operator (DISTINCT, GROUP BY, UNIQUE fail), no GIN index, every read parses it again",
			"use jsonb: "+col+" jsonb", false)
	case "timestamp":
		c.report(s, "prefer-timestamptz", table, at+" is timestamp without time zone",
			"the same instant reads differently in sessions with different time zones, and nothing records which zone a value was written in",
			"use timestamptz: "+col+" timestamptz", false)
	case "varchar":
		if len(t.mods) > 0 {
			c.report(s, "prefer-text", table, fmt.Sprintf("%s is varchar(%d)", at, t.mods[0]),
				"a limit that has to shrink later (or change to a CHECK) rewrites the table; text stores the same and a CHECK constraint on length can change with NOT VALID",
				fmt.Sprintf("%s text CHECK (char_length(%s) <= %d)", col, col, t.mods[0]), false)
		}
	}
}

func (c *checker) alterTable(s *stmt, a *pg_query.AlterTableStmt) {
	if a.GetObjtype() != pg_query.ObjectType_OBJECT_TABLE {
		return
	}
	table := tableName(a.GetRelation())
	isNew := c.isNew(table)
	for _, n := range a.GetCmds() {
		cmd := n.GetAlterTableCmd()
		switch cmd.GetSubtype() {
		case pg_query.AlterTableType_AT_AddColumn:
			col := cmd.GetDef().GetColumnDef()
			c.conventions(s, table, col.GetColname(), col.GetTypeName())
			if !isNew {
				c.added[key(table)+"."+col.GetColname()] = writtenType(col.GetTypeName())
				c.addColumn(s, table, col)
			}
		case pg_query.AlterTableType_AT_AlterColumnType:
			col := cmd.GetDef().GetColumnDef()
			c.conventions(s, table, cmd.GetName(), col.GetTypeName())
			if !isNew {
				c.alterColumnType(s, table, cmd.GetName(), col)
			}
		case pg_query.AlterTableType_AT_SetNotNull:
			if !isNew {
				c.setNotNull(s, table, cmd.GetName())
			}
		case pg_query.AlterTableType_AT_AddConstraint:
			c.addConstraint(s, table, isNew, cmd.GetDef().GetConstraint())
		case pg_query.AlterTableType_AT_ValidateConstraint:
			for _, k := range c.checks {
				if k.name == cmd.GetName() && strings.HasPrefix(keyOfCheck(c.checks, k), key(table)+".") {
					k.validated = true
				}
			}
		case pg_query.AlterTableType_AT_DropColumn:
			if !isNew {
				col := cmd.GetName()
				c.report(s, "drop-column", table, fmt.Sprintf("drops %s.%s", table, col),
					"code still running reads or writes it and fails from this moment (an INSERT naming it, a SELECT of it, an ORM that lists every column); the data is gone, no rollback brings it back",
					zdmFile(kebab(table, "drop", col), table, fmt.Sprintf("drop_column: {column: %s}", col)), true)
			}
		}
	}
}

func keyOfCheck(m map[string]*notNullCheck, k *notNullCheck) string {
	for key, v := range m {
		if v == k {
			return key
		}
	}
	return ""
}

// volatile are functions whose default PostgreSQL must compute for every row: a
// column added with one is written into every row (a rewrite). now() and
// CURRENT_TIMESTAMP are stable: computed once, kept in the catalog, no rewrite.
var volatile = map[string]bool{"random": true, "gen_random_uuid": true, "uuid_generate_v1": true, "uuid_generate_v1mc": true,
	"uuid_generate_v4": true, "uuidv4": true, "uuidv7": true, "clock_timestamp": true, "timeofday": true, "nextval": true, "setseed": true,
	"random_normal": true}

func (c *checker) addColumn(s *stmt, table string, col *pg_query.ColumnDef) {
	name := col.GetColname()
	typ := writtenType(col.GetTypeName())
	const why = "PostgreSQL writes every row again to store the value, under ACCESS EXCLUSIVE: no reads, no writes until it is done"
	if serialType(col.GetTypeName()) {
		c.reportSized(s, "add-column-volatile-default", table, fmt.Sprintf("adds %s.%s as %s: nextval() for every existing row", table, name, typ), true, why,
			manualSQL("ALTER TABLE %[1]s ADD COLUMN %[2]s bigint;  -- no rewrite\nCREATE SEQUENCE %[3]s_%[2]s_seq OWNED BY %[1]s.%[2]s;\nALTER TABLE %[1]s ALTER COLUMN %[2]s SET DEFAULT nextval('%[3]s_%[2]s_seq');\n-- then fill the existing rows in batches", table, name, bare(table)), false)
		return
	}
	for _, k := range col.GetConstraints() {
		con := k.GetConstraint()
		switch con.GetContype() {
		case pg_query.ConstrType_CONSTR_DEFAULT:
			if fn := volatileCall(con.GetRawExpr()); fn != "" {
				expr := deparseExpr(con.GetRawExpr())
				c.reportSized(s, "add-column-volatile-default", table, fmt.Sprintf("adds %s.%s with the volatile default %s", table, name, expr), true, why,
					zdmFile(kebab(table, "add", name), table, fmt.Sprintf("add_column: {column: %s, type: %s, backfill: %s, default: %s}", name, yamlScalar(typ), yamlScalar(expr), yamlScalar(expr))), true)
			}
		case pg_query.ConstrType_CONSTR_IDENTITY:
			c.reportSized(s, "add-column-volatile-default", table, fmt.Sprintf("adds %s.%s as an identity column: a value for every existing row", table, name), true, why,
				manualSQL("ALTER TABLE %[1]s ADD COLUMN %[2]s %[3]s;  -- no rewrite\n-- fill the existing rows in batches, then:\nALTER TABLE %[1]s ALTER COLUMN %[2]s ADD GENERATED BY DEFAULT AS IDENTITY;", table, name, typ), false)
		case pg_query.ConstrType_CONSTR_GENERATED:
			expr := deparseExpr(con.GetRawExpr())
			c.reportSized(s, "add-column-generated-stored", table, fmt.Sprintf("adds %s.%s GENERATED ALWAYS AS (%s) STORED", table, name, expr), true, why+"; on PostgreSQL before 18 a generated column cannot be added any other way",
				zdmFile(kebab(table, "add", name), table, fmt.Sprintf("add_column: {column: %s, type: %s, backfill: %s}  # kept filled by a trigger for old code's writes; not a generated column: new code writes it", name, yamlScalar(typ), yamlScalar(expr))), true)
		}
	}
}

// volatileCall is the first volatile function an expression calls, "" when none.
func volatileCall(n *pg_query.Node) string {
	found := ""
	walk(n, func(fc *pg_query.FuncCall) {
		names := stringList(fc.GetFuncname())
		if len(names) > 0 && found == "" && volatile[strings.ToLower(names[len(names)-1])] {
			found = names[len(names)-1]
		}
	})
	return found
}

func (c *checker) alterColumnType(s *stmt, table, col string, def *pg_query.ColumnDef) {
	newT := typeOf(def.GetTypeName())
	typ := writtenType(def.GetTypeName())
	using := def.GetRawDefault() != nil
	old, known := c.live.columnType(c.ctx, table, col)
	safe := zdmFile(kebab(table, col, strings.NewReplacer("(", "", ")", "", ",", "-", " ", "-", "[]", "-array").Replace(typ)), table,
		fmt.Sprintf("change_type: {column: %s, type: %s}", col, yamlScalar(typ)))
	const why = "PostgreSQL writes the whole table and rebuilds its indexes under ACCESS EXCLUSIVE: no reads, no writes until it is done"
	switch {
	case using:
		c.reportSized(s, "alter-column-type-rewrite", table, fmt.Sprintf("changes %s.%s to %s USING an expression: every row is computed and written again", table, col, typ), true, why, safe, true)
	case known && !rewrites(old, newT):
		// widening a limit: catalog only
	case known:
		c.reportSized(s, "alter-column-type-rewrite", table, fmt.Sprintf("changes %s.%s from %s to %s: a rewrite", table, col, friendly(old), typ), true, why, safe, true)
	case mayKeepRows(newT):
		f := c.reportSized(s, "alter-column-type-rewrite", table, fmt.Sprintf("changes %s.%s to %s: a rewrite unless the column only loses or widens a limit (varchar(n) to a longer varchar or text, numeric(p,s) to a larger precision with the same scale, a higher time precision); run with DATABASE_URL to know", table, col, typ), false, why, safe, true)
		if f != nil {
			f.Level = min(f.Level, Warning)
		}
	default:
		c.reportSized(s, "alter-column-type-rewrite", table, fmt.Sprintf("changes %s.%s to %s: a rewrite (only a few limit widenings are not, and none ends in %s)", table, col, typ, typ), true, why, safe, true)
	}
}

func (c *checker) setNotNull(s *stmt, table, col string) {
	if k := c.checks[key(table)+"."+col]; k != nil && k.validated {
		return
	}
	if c.live.hasNotNullCheck(c.ctx, table, col) {
		return
	}
	c.reportSized(s, "set-not-null-scan", table, fmt.Sprintf("SET NOT NULL on %s.%s reads the whole table", table, col), false,
		"it checks every row under ACCESS EXCLUSIVE: no reads, no writes until it is done; a validated CHECK (col IS NOT NULL) added before spares the scan",
		zdmFile(kebab(table, col, "not-null"), table, fmt.Sprintf("set_not_null: {column: %s}", col)), true)
}

func (c *checker) addConstraint(s *stmt, table string, isNew bool, con *pg_query.Constraint) {
	name := con.GetConname()
	switch con.GetContype() {
	case pg_query.ConstrType_CONSTR_CHECK:
		if col := notNullColumn(con.GetRawExpr()); col != "" {
			c.checks[key(table)+"."+col] = &notNullCheck{name: name, validated: !con.GetSkipValidation()}
		}
		if con.GetSkipValidation() || isNew {
			return
		}
		expr := deparseExpr(con.GetRawExpr())
		if name == "" {
			name = bare(table) + "_check"
		}
		c.reportSized(s, "add-check-not-valid", table, fmt.Sprintf("adds CHECK (%s) to %s without NOT VALID", expr, table), false,
			"it reads every row to validate them under ACCESS EXCLUSIVE: no reads, no writes until it is done",
			zdmFile(kebab(table, "check", name), table, fmt.Sprintf("add_check: {name: %s, check: %s}", name, yamlScalar(expr))), true)
	case pg_query.ConstrType_CONSTR_FOREIGN:
		if con.GetSkipValidation() || isNew {
			return
		}
		ref := tableName(con.GetPktable())
		cols, refCols := stringList(con.GetFkAttrs()), stringList(con.GetPkAttrs())
		if name == "" {
			name = bare(table) + "_" + strings.Join(cols, "_") + "_fkey"
		}
		refs := fmt.Sprintf("{table: %s, columns: [%s]}", qualified(ref), strings.Join(refCols, ", "))
		if len(refCols) == 0 {
			refs = fmt.Sprintf("{table: %s, columns: [id]}  # the referenced key: check it", qualified(ref))
		}
		c.reportSized(s, "add-foreign-key-not-valid", table, fmt.Sprintf("adds FOREIGN KEY (%s) REFERENCES %s to %s without NOT VALID", strings.Join(cols, ", "), ref, table), false,
			"it reads every row of "+table+" to validate them under SHARE ROW EXCLUSIVE on both tables: no writes on either until it is done",
			zdmFile(kebab(table, "fk", name), table, fmt.Sprintf("add_foreign_key: {name: %s, columns: [%s], references: %s}", name, strings.Join(cols, ", "), refs)), true)
	case pg_query.ConstrType_CONSTR_UNIQUE, pg_query.ConstrType_CONSTR_PRIMARY:
		if con.GetIndexname() != "" || isNew {
			return
		}
		cols := stringList(con.GetKeys())
		what := "UNIQUE"
		if con.GetContype() == pg_query.ConstrType_CONSTR_PRIMARY {
			what = "PRIMARY KEY"
		}
		why := "it builds the index under ACCESS EXCLUSIVE: no reads, no writes until the whole table is read and sorted"
		if con.GetContype() == pg_query.ConstrType_CONSTR_UNIQUE {
			if name == "" {
				name = bare(table) + "_" + strings.Join(cols, "_") + "_key"
			}
			c.reportSized(s, "add-unique-without-index", table, fmt.Sprintf("adds UNIQUE (%s) to %s, building its index", strings.Join(cols, ", "), table), false, why,
				zdmFile(kebab(table, "unique", name), table, fmt.Sprintf("add_unique: {name: %s, columns: [%s]}", name, strings.Join(cols, ", "))), true)
			return
		}
		if name == "" {
			name = bare(table) + "_pkey"
		}
		c.reportSized(s, "add-unique-without-index", table, fmt.Sprintf("adds %s (%s) to %s, building its index", what, strings.Join(cols, ", "), table), false, why,
			manualSQL("CREATE UNIQUE INDEX CONCURRENTLY %[1]s ON %[2]s (%[3]s);  -- outside a transaction; the columns must be NOT NULL already\nALTER TABLE %[2]s ADD CONSTRAINT %[1]s PRIMARY KEY USING INDEX %[1]s;", name, table, strings.Join(cols, ", ")), false)
	}
}

// notNullColumn is c when expr is "c IS NOT NULL", "" otherwise.
func notNullColumn(expr *pg_query.Node) string {
	nt := expr.GetNullTest()
	if nt == nil || nt.GetNulltesttype() != pg_query.NullTestType_IS_NOT_NULL {
		return ""
	}
	f := nt.GetArg().GetColumnRef().GetFields()
	if len(f) == 0 {
		return ""
	}
	return f[len(f)-1].GetString_().GetSval()
}

func (c *checker) createIndex(s *stmt, ix *pg_query.IndexStmt) {
	table := tableName(ix.GetRelation())
	if ix.GetIdxname() != "" {
		c.createdIdx[key(ix.GetIdxname())] = true
	}
	if ix.GetConcurrent() {
		if c.inTx {
			c.report(s, "concurrently-in-transaction", table, "CREATE INDEX CONCURRENTLY inside a transaction block",
				"PostgreSQL refuses it there (ERROR: CREATE INDEX CONCURRENTLY cannot run inside a transaction block): the migration fails",
				"move it after COMMIT, on its own (most frameworks: a migration without a transaction, e.g. Django atomic = False, Rails disable_ddl_transaction!)", false)
		}
		return
	}
	if c.isNew(table) {
		return
	}
	var cols []string
	plain := len(ix.GetIndexIncludingParams()) == 0 && len(ix.GetOptions()) == 0 && ix.GetTableSpace() == "" && !ix.GetNullsNotDistinct()
	for _, p := range ix.GetIndexParams() {
		e := p.GetIndexElem()
		if len(e.GetOpclass()) > 0 || len(e.GetCollation()) > 0 || e.GetOrdering() != pg_query.SortByDir_SORTBY_DEFAULT ||
			e.GetNullsOrdering() != pg_query.SortByNulls_SORTBY_NULLS_DEFAULT {
			plain = false
		}
		if e.GetName() != "" {
			cols = append(cols, e.GetName())
		} else {
			cols = append(cols, deparseExpr(e.GetExpr()))
		}
	}
	name := ix.GetIdxname()
	if name == "" {
		name = bare(table) + "_" + strings.Join(cols, "_") + "_idx"
	}
	const why = "it holds SHARE on the table while it reads and sorts every row: no INSERT, UPDATE or DELETE until it is done"
	if !plain {
		// What create_index cannot say (an operator class, a collation, an order,
		// INCLUDE, storage options): the same statement, CONCURRENTLY.
		c.reportSized(s, "index-not-concurrently", table, fmt.Sprintf("CREATE INDEX %s on %s without CONCURRENTLY", name, table), false, why,
			concurrentIndexSQL(ix)+";  -- outside a transaction; if it fails, DROP INDEX CONCURRENTLY the invalid index and run it again\n", false)
		return
	}
	op := fmt.Sprintf("create_index: {name: %s, columns: [%s]", name, yamlList(cols))
	if ix.GetUnique() {
		op += ", unique: true"
	}
	if m := ix.GetAccessMethod(); m != "" && m != "btree" {
		op += ", method: " + m
	}
	if w := ix.GetWhereClause(); w != nil {
		op += ", where: " + yamlScalar(deparseExpr(w))
	}
	op += "}"
	c.reportSized(s, "index-not-concurrently", table, fmt.Sprintf("CREATE INDEX %s on %s without CONCURRENTLY", name, table), false, why,
		zdmFile(kebab(table, "index", name), table, op), true)
}

func (c *checker) drop(s *stmt, d *pg_query.DropStmt) {
	switch d.GetRemoveType() {
	case pg_query.ObjectType_OBJECT_INDEX:
		if d.GetConcurrent() {
			if c.inTx {
				c.report(s, "concurrently-in-transaction", "", "DROP INDEX CONCURRENTLY inside a transaction block",
					"PostgreSQL refuses it there: the migration fails", "move it after COMMIT, on its own", false)
			}
			return
		}
		for _, name := range dropNames(d) {
			if c.createdIdx[key(name)] {
				continue
			}
			c.report(s, "index-not-concurrently", "", "DROP INDEX "+name+" without CONCURRENTLY",
				"it takes ACCESS EXCLUSIVE on the index's table: brief, but queued behind any running query it blocks every read and write meanwhile",
				"DROP INDEX CONCURRENTLY IF EXISTS "+name+";  -- outside a transaction (or zdm's drop_index operation, in a migration on the index's table)\n", false)
		}
	case pg_query.ObjectType_OBJECT_TABLE:
		for _, name := range dropNames(d) {
			if c.isNew(name) {
				continue
			}
			c.report(s, "drop-table", name, "drops table "+name,
				"code still running that uses it fails from this moment, and the data is gone: nothing rolls it back",
				zdmFile(kebab(bare(name), "drop"), name, fmt.Sprintf("drop_table: {table: %s}", qualified(name))), true)
		}
	}
}

func (c *checker) reindex(s *stmt, r *pg_query.ReindexStmt) {
	concurrent := strings.HasPrefix(s.desc.Kind, "REINDEX CONCURRENTLY")
	if concurrent {
		if c.inTx {
			c.report(s, "concurrently-in-transaction", "", "REINDEX CONCURRENTLY inside a transaction block",
				"PostgreSQL refuses it there: the migration fails", "move it after COMMIT, on its own", false)
		}
		return
	}
	target := tableName(r.GetRelation())
	if r.GetRelation() == nil {
		target = r.GetName()
	}
	table := ""
	if r.GetKind() == pg_query.ReindexObjectType_REINDEX_OBJECT_TABLE {
		table = target
		if c.isNew(table) {
			return
		}
	}
	c.reportSized(s, "index-not-concurrently", table, "REINDEX "+target+" without CONCURRENTLY", false,
		"it blocks the table's writes while every index is rebuilt, and reads that would use one",
		"REINDEX "+strings.TrimPrefix(r.GetKind().String(), "REINDEX_OBJECT_")+" CONCURRENTLY "+target+";  -- PostgreSQL 12+, outside a transaction", false)
}

func (c *checker) rename(s *stmt, r *pg_query.RenameStmt) {
	table := tableName(r.GetRelation())
	if c.isNew(table) {
		return
	}
	switch r.GetRenameType() {
	case pg_query.ObjectType_OBJECT_COLUMN:
		c.report(s, "rename-column", table, fmt.Sprintf("renames %s.%s to %s", table, r.GetSubname(), r.GetNewname()),
			"code still running uses the old name and fails from this moment until every instance is deployed again",
			zdmFile(kebab(table, r.GetSubname(), "to", r.GetNewname()), table, fmt.Sprintf("rename_column: {column: %s, to: %s}", r.GetSubname(), r.GetNewname()))+
				"flags: {dual_write: "+kebab(table, r.GetNewname(), "dual-write")+", read_new: "+kebab(table, r.GetNewname(), "read-new")+"}\n", true)
	case pg_query.ObjectType_OBJECT_TABLE:
		c.report(s, "rename-table", table, fmt.Sprintf("renames %s to %s", table, r.GetNewname()),
			"code still running uses the old name and fails from this moment until every instance is deployed again",
			zdmFile(kebab(bare(table), "to", r.GetNewname()), table, fmt.Sprintf("rename_table: {to: %s}", r.GetNewname())), true)
	}
}

func (c *checker) alterEnum(s *stmt, e *pg_query.AlterEnumStmt) {
	if e.GetOldVal() != "" || !c.inTx {
		return
	}
	names := stringList(e.GetTypeName())
	op := fmt.Sprintf("add_enum_value: {enum: %s, value: %s", strings.Join(names, "."), yamlScalar(e.GetNewVal()))
	if nb := e.GetNewValNeighbor(); nb != "" {
		if e.GetNewValIsAfter() {
			op += ", after: " + yamlScalar(nb)
		} else {
			op += ", before: " + yamlScalar(nb)
		}
	}
	op += "}"
	c.report(s, "enum-value-in-transaction", "", fmt.Sprintf("adds value %q to %s inside a transaction block", e.GetNewVal(), strings.Join(names, ".")),
		"PostgreSQL before 12 refuses it there; from 12 no statement of the same transaction may use the new value (ERROR: unsafe use of new value)",
		"name: "+kebab(strings.Join(names, "-"), e.GetNewVal())+"\noperations:\n  - "+op+"\n", true)
}

func (c *checker) backfill(s *stmt, table, verb string, where *pg_query.Node, set []string) {
	if !c.hasDDL || c.isNew(table) || bookkeeping[strings.ToLower(bare(table))] {
		return
	}
	whole := where == nil
	if !whole {
		// WHERE col IS NULL on the column being filled is the whole table too.
		nt := where.GetNullTest()
		if nt != nil && nt.GetNulltesttype() == pg_query.NullTestType_IS_NULL {
			if f := nt.GetArg().GetColumnRef().GetFields(); len(f) > 0 && contains(set, f[len(f)-1].GetString_().GetSval()) {
				whole = true
			}
		}
	}
	if !whole {
		return
	}
	const why = "one statement (and, in the migration's transaction, with the DDL's locks) holds the lock of every row it touches until COMMIT: old code's writes to those rows wait; WAL and replication lag grow with the table"
	msg := fmt.Sprintf("%s of every row of %s in a file that also changes the schema", verb, table)
	// Filling a column this file added is what zdm's add_column does: in batches,
	// resumable, with a trigger for the rows old code writes meanwhile.
	if u := s.node.GetUpdateStmt(); u != nil && len(set) == 1 && len(u.GetFromClause()) == 0 {
		if typ, ok := c.added[key(table)+"."+set[0]]; ok {
			expr := deparseExpr(u.GetTargetList()[0].GetResTarget().GetVal())
			c.reportSized(s, "unbounded-backfill", table, msg, false, why,
				zdmFile(kebab(table, "add", set[0]), table, fmt.Sprintf("add_column: {column: %s, type: %s, backfill: %s}", set[0], yamlScalar(typ), yamlScalar(expr)))+
					"# instead of the ADD COLUMN and this UPDATE\n", true)
			return
		}
	}
	cond := "<rows not yet done>"
	if where != nil {
		cond = deparseExpr(where)
	}
	c.reportSized(s, "unbounded-backfill", table, msg, false, why,
		manualSQL("-- outside the DDL's transaction, in batches (repeat until it reports 0 rows; the key here is id):\n%s\n  WHERE id IN (SELECT id FROM %s WHERE %s ORDER BY id LIMIT 10000);", batchHead(s.node), table, cond), false)
}

// batchHead is an UPDATE or DELETE without its WHERE.
func batchHead(n *pg_query.Node) string {
	var cp *pg_query.Node
	switch {
	case n.GetUpdateStmt() != nil:
		u := proto.Clone(n.GetUpdateStmt()).(*pg_query.UpdateStmt)
		u.WhereClause = nil
		cp = &pg_query.Node{Node: &pg_query.Node_UpdateStmt{UpdateStmt: u}}
	case n.GetDeleteStmt() != nil:
		d := proto.Clone(n.GetDeleteStmt()).(*pg_query.DeleteStmt)
		d.WhereClause = nil
		cp = &pg_query.Node{Node: &pg_query.Node_DeleteStmt{DeleteStmt: d}}
	}
	out, err := pg_query.Deparse(&pg_query.ParseResult{Version: parserVersion(), Stmts: []*pg_query.RawStmt{{Stmt: cp}}})
	if err != nil {
		return "-- (the statement)"
	}
	return out
}

func setColumns(u *pg_query.UpdateStmt) []string {
	var out []string
	for _, t := range u.GetTargetList() {
		out = append(out, t.GetResTarget().GetName())
	}
	return out
}
