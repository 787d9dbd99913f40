package opstest

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/jackc/pgx/v5"
)

// Snapshot describes everything PostgreSQL's catalog says about a table (schema.name, or
// name in public) and what hangs off it, one fact a line, in a stable text form: two
// snapshots are equal exactly when nothing about the table changed, and their diff says
// what did. Columns come in attnum order; every other section is sorted. Objects in
// schema zdm other than its bookkeeping tables (zdm.migrations, zdm.history,
// zdm.backfill_partitions) are listed too, so that a sync function left behind shows.
func Snapshot(ctx context.Context, pool Querier, table string) (string, error) {
	sch, name := splitTable(table)
	var oid uint32
	err := pool.QueryRow(ctx, `SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = $1 AND c.relname = $2`, sch, name).Scan(&oid)
	if err != nil {
		return "", fmt.Errorf("snapshot of %s.%s: %w", sch, name, err)
	}
	var b strings.Builder
	for _, s := range sections {
		// The parameters are typed once up front, so a section may use any of them.
		rows, err := pool.Query(ctx, "WITH zdm_snapshot_args AS (SELECT $1::oid, $2::text, $3::text), "+
			"zdm_bookkeeping(b) AS (SELECT c FROM unnest(ARRAY[to_regclass('zdm.migrations'), to_regclass('zdm.history'), to_regclass('zdm.backfill_partitions')]) c WHERE c IS NOT NULL) "+
			"SELECT * FROM ("+s.sql+") q", oid, sch, name)
		if err != nil {
			return "", fmt.Errorf("snapshot of %s.%s, %s: %w", sch, name, s.name, err)
		}
		lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return "", fmt.Errorf("snapshot of %s.%s, %s: %w", sch, name, s.name, err)
		}
		if !s.ordered {
			sort.Strings(lines)
		}
		for _, l := range lines {
			b.WriteString(l)
			b.WriteByte('\n')
		}
	}
	return b.String(), nil
}

// Querier is a pool, a connection or a transaction.
type Querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

func splitTable(table string) (schema, name string) {
	if i := strings.IndexByte(table, '.'); i >= 0 {
		return table[:i], table[i+1:]
	}
	return "public", table
}

// sortedACL renders an aclitem[] expression with its items sorted.
func sortedACL(expr string) string {
	return fmt.Sprintf(`coalesce((SELECT string_agg(x::text, ',' ORDER BY x::text) FROM unnest(%s) x), '-')`, expr)
}

// A section is one query of the snapshot. Every query takes $1 = the table's oid, $2 = its
// schema, $3 = its name (each uses what it needs) and returns one text column.
type section struct {
	name    string
	ordered bool // lines keep the query's order (columns); else they are sorted
	sql     string
}

var sections = []section{
	{name: "table", sql: `SELECT format('table %s.%s kind=%s persistence=%s owner=%s am=%s tablespace=%s options=%s replica_identity=%s rls=%s force_rls=%s partition=%s partkey=%s acl=%s comment=%L',
		quote_ident($2), quote_ident($3), c.relkind, c.relpersistence, c.relowner::regrole, coalesce(am.amname, '-'),
		coalesce(ts.spcname, '-'), coalesce(c.reloptions::text, '-'), c.relreplident, c.relrowsecurity, c.relforcerowsecurity,
		c.relispartition, coalesce(pg_get_partkeydef(c.oid), '-'), ` + sortedACL("c.relacl") + `, obj_description(c.oid, 'pg_class'))
		FROM pg_class c LEFT JOIN pg_am am ON am.oid = c.relam LEFT JOIN pg_tablespace ts ON ts.oid = c.reltablespace
		WHERE c.oid = $1`},
	{name: "columns", ordered: true, sql: `SELECT format('column %I %s%s%s%s%s stattarget=%s%s%s options=%s local=%s inherited=%s acl=%s comment=%L',
		a.attname, format_type(a.atttypid, a.atttypmod),
		CASE WHEN a.attnotnull THEN ' not null' ELSE '' END,
		CASE WHEN d.adbin IS NULL THEN ''
		     WHEN a.attgenerated = 's' THEN ' generated always as (' || pg_get_expr(d.adbin, d.adrelid) || ') stored'
		     ELSE ' default ' || pg_get_expr(d.adbin, d.adrelid) END,
		CASE a.attidentity WHEN 'a' THEN ' identity always' WHEN 'd' THEN ' identity by default' ELSE '' END,
		CASE WHEN a.attcollation <> t.typcollation THEN ' collate ' || quote_ident(co.collname) ELSE '' END,
		a.attstattarget,
		CASE WHEN a.attstorage <> t.typstorage THEN ' storage=' || a.attstorage::text ELSE '' END,
		CASE WHEN a.attcompression <> '' THEN ' compression=' || a.attcompression::text ELSE '' END,
		coalesce(a.attoptions::text, '-'), a.attislocal, a.attinhcount, ` + sortedACL("a.attacl") + `,
		col_description(a.attrelid, a.attnum))
		FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
		LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
		LEFT JOIN pg_collation co ON co.oid = a.attcollation
		WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped
		ORDER BY a.attnum`},
	{name: "constraints", sql: `SELECT format('constraint %I %s deferrable=%s deferred=%s validated=%s comment=%L',
		conname, pg_get_constraintdef(oid), condeferrable, condeferred, convalidated, obj_description(oid, 'pg_constraint'))
		FROM pg_constraint WHERE conrelid = $1`},
	{name: "referencing foreign keys", sql: `SELECT format('referenced by %s constraint %I %s validated=%s',
		conrelid::regclass, conname, pg_get_constraintdef(oid), convalidated)
		FROM pg_constraint WHERE confrelid = $1 AND conrelid <> $1 AND contype = 'f'`},
	{name: "indexes", sql: `SELECT format('index %s valid=%s ready=%s clustered=%s replica_identity=%s acl=%s comment=%L',
		pg_get_indexdef(i.indexrelid), i.indisvalid, i.indisready, i.indisclustered, i.indisreplident,
		` + sortedACL("c.relacl") + `, obj_description(i.indexrelid, 'pg_class'))
		FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE i.indrelid = $1`},
	{name: "triggers", sql: `SELECT format('trigger %s enabled=%s comment=%L', pg_get_triggerdef(oid), tgenabled, obj_description(oid, 'pg_trigger'))
		FROM pg_trigger WHERE tgrelid = $1 AND NOT tgisinternal`},
	{name: "rules", sql: `SELECT format('rule %s', regexp_replace(pg_get_ruledef(oid), '\s+', ' ', 'g'))
		FROM pg_rewrite WHERE ev_class = $1 AND rulename <> '_RETURN'`},
	{name: "policies", sql: `SELECT format('policy %I %s for %s to %s using (%s) with check (%s)',
		policyname, permissive, cmd, (SELECT string_agg(r::text, ',' ORDER BY r::text) FROM unnest(roles) r), qual, with_check)
		FROM pg_policies WHERE schemaname = $2::name AND tablename = $3::name`},
	{name: "extended statistics", sql: `SELECT format('statistics %s target=%s', pg_get_statisticsobjdef(oid), stxstattarget)
		FROM pg_statistic_ext WHERE stxrelid = $1`},
	{name: "owned sequences", sql: `SELECT format('sequence %s owned by column %I (%s) as %s start %s increment %s min %s max %s cache %s cycle=%s acl=%s',
		s.seqrelid::regclass, a.attname, CASE d.deptype WHEN 'a' THEN 'owned' ELSE 'identity' END,
		format_type(s.seqtypid, NULL), s.seqstart, s.seqincrement, s.seqmin, s.seqmax, s.seqcache, s.seqcycle, ` + sortedACL("sc.relacl") + `)
		FROM pg_depend d JOIN pg_sequence s ON s.seqrelid = d.objid JOIN pg_class sc ON sc.oid = s.seqrelid
		JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
		WHERE d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_class'::regclass AND d.refobjid = $1 AND d.deptype IN ('a', 'i')`},
	{name: "publications", sql: `SELECT format('publication %I columns=%s row_filter=%s', pubname, attnames, rowfilter)
		FROM pg_publication_tables WHERE schemaname = $2::name AND tablename = $3::name`},
	{name: "inheritance", sql: `SELECT format('inherits %s', inhparent::regclass) FROM pg_inherits WHERE inhrelid = $1
		UNION ALL SELECT format('inherited by %s', inhrelid::regclass) FROM pg_inherits WHERE inhparent = $1`},
	{name: "dependent views", sql: `SELECT DISTINCT format('view %s kind=%s: %s', v.oid::regclass, v.relkind, regexp_replace(pg_get_viewdef(v.oid), '\s+', ' ', 'g'))
		FROM pg_depend d JOIN pg_rewrite r ON r.oid = d.objid JOIN pg_class v ON v.oid = r.ev_class
		WHERE d.classid = 'pg_rewrite'::regclass AND d.refclassid = 'pg_class'::regclass AND d.refobjid = $1 AND v.oid <> $1`},
	{name: "zdm relations", sql: `SELECT format('zdm relation %I kind=%s', c.relname, c.relkind)
		FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = 'zdm' AND c.relkind <> 't' AND c.oid NOT IN (SELECT b FROM zdm_bookkeeping)
		  AND NOT EXISTS (SELECT 1 FROM pg_index i WHERE i.indexrelid = c.oid AND i.indrelid IN (SELECT b FROM zdm_bookkeeping))`},
	{name: "zdm functions", sql: `SELECT format('zdm function %s', p.oid::regprocedure)
		FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'zdm'`},
	{name: "zdm types", sql: `SELECT format('zdm type %I', t.typname)
		FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
		WHERE n.nspname = 'zdm' AND t.typrelid = 0 AND t.typcategory <> 'A'`},
}

// Attached names the objects that hang off a table ("index accounts_email_key",
// "constraint accounts_abalance_check", "trigger set_updated_at", "policy ...",
// "statistics ...", "sequence ...", "view ...", "publication ...", "rule ...").
// Migrations may change their definitions (a column renamed inside them) but must
// keep every one of them.
func Attached(ctx context.Context, pool Querier, table string) ([]string, error) {
	sch, name := splitTable(table)
	rows, err := pool.Query(ctx, `
		WITH t AS (SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname = $2)
		SELECT 'constraint ' || quote_ident(conname) FROM pg_constraint, t WHERE conrelid = t.oid
		UNION ALL SELECT 'referenced by ' || conrelid::regclass || ' constraint ' || quote_ident(conname) FROM pg_constraint, t WHERE confrelid = t.oid AND conrelid <> t.oid AND contype = 'f'
		UNION ALL SELECT 'index ' || quote_ident(c.relname) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid, t WHERE i.indrelid = t.oid
		UNION ALL SELECT 'trigger ' || quote_ident(tgname) FROM pg_trigger, t WHERE tgrelid = t.oid AND NOT tgisinternal
		UNION ALL SELECT 'rule ' || quote_ident(rulename) FROM pg_rewrite, t WHERE ev_class = t.oid AND rulename <> '_RETURN'
		UNION ALL SELECT 'policy ' || quote_ident(polname) FROM pg_policy, t WHERE polrelid = t.oid
		UNION ALL SELECT 'statistics ' || stxnamespace::regnamespace || '.' || quote_ident(stxname) FROM pg_statistic_ext, t WHERE stxrelid = t.oid
		UNION ALL SELECT 'sequence ' || d.objid::regclass FROM pg_depend d, t WHERE d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_class'::regclass
			AND d.refobjid = t.oid AND d.deptype IN ('a', 'i') AND EXISTS (SELECT 1 FROM pg_sequence s WHERE s.seqrelid = d.objid)
		UNION ALL SELECT DISTINCT 'view ' || r.ev_class::regclass FROM pg_depend d JOIN pg_rewrite r ON r.oid = d.objid, t
			WHERE d.classid = 'pg_rewrite'::regclass AND d.refclassid = 'pg_class'::regclass AND d.refobjid = t.oid AND r.ev_class <> t.oid
		UNION ALL SELECT 'publication ' || quote_ident(pubname) FROM pg_publication_tables WHERE schemaname = $1 AND tablename = $2
		ORDER BY 1`, sch, name)
	if err != nil {
		return nil, fmt.Errorf("objects attached to %s.%s: %w", sch, name, err)
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// ColumnFacts is what a column carries besides its data.
type ColumnFacts struct {
	Type, Default, Comment, ACL, Collation string
	NotNull                                bool
	StatTarget                             int
}

// Columns describes the columns of a table, by name.
func Columns(ctx context.Context, pool Querier, table string) (map[string]ColumnFacts, error) {
	sch, name := splitTable(table)
	rows, err := pool.Query(ctx, `
		SELECT a.attname, format_type(a.atttypid, a.atttypmod), coalesce(pg_get_expr(d.adbin, d.adrelid), ''),
		       coalesce(col_description(a.attrelid, a.attnum), ''), `+sortedACL("a.attacl")+`,
		       coalesce(co.collname, ''), a.attnotnull, a.attstattarget
		FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
		LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
		LEFT JOIN pg_collation co ON co.oid = a.attcollation
		WHERE n.nspname = $1 AND c.relname = $2 AND a.attnum > 0 AND NOT a.attisdropped`, sch, name)
	if err != nil {
		return nil, fmt.Errorf("columns of %s.%s: %w", sch, name, err)
	}
	out := map[string]ColumnFacts{}
	for rows.Next() {
		var col string
		var f ColumnFacts
		var target int16
		if err := rows.Scan(&col, &f.Type, &f.Default, &f.Comment, &f.ACL, &f.Collation, &f.NotNull, &target); err != nil {
			return nil, err
		}
		f.StatTarget = int(target)
		out[col] = f
	}
	return out, rows.Err()
}

// SnapshotDatabase is Snapshot of every table in the database's own schemas (zdm's
// bookkeeping aside), in name order, followed by what else a migration may create or
// change there: views, sequences, enum and other types with their definitions. Two
// are equal exactly when nothing a migration can touch changed.
func SnapshotDatabase(ctx context.Context, pool Querier) (string, error) {
	const own = `n.nspname NOT IN ('pg_catalog', 'information_schema', 'zdm') AND n.nspname NOT LIKE 'pg\_%'`
	rows, err := pool.Query(ctx, `SELECT n.nspname || '.' || c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE c.relkind IN ('r', 'p') AND `+own+` ORDER BY 1`)
	if err != nil {
		return "", fmt.Errorf("snapshot of the database: %w", err)
	}
	tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return "", fmt.Errorf("snapshot of the database: %w", err)
	}
	var b strings.Builder
	for _, t := range tables {
		s, err := Snapshot(ctx, pool, t)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(&b, "== %s\n%s", t, s)
	}
	rows, err = pool.Query(ctx, `
		SELECT format('relation %s kind=%s acl=%s: %s', c.oid::regclass, c.relkind, `+sortedACL("c.relacl")+`,
			CASE WHEN c.relkind IN ('v', 'm') THEN regexp_replace(pg_get_viewdef(c.oid), '\s+', ' ', 'g') ELSE '' END)
		FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE c.relkind IN ('v', 'm', 'S', 'f') AND `+own+`
		UNION ALL
		SELECT format('type %s kind=%s labels=%s domain=%s acl=%s comment=%L', t.oid::regtype, t.typtype,
			(SELECT string_agg(quote_literal(e.enumlabel), ',' ORDER BY e.enumsortorder) FROM pg_enum e WHERE e.enumtypid = t.oid),
			CASE WHEN t.typtype = 'd' THEN format_type(t.typbasetype, t.typtypmod) END, `+sortedACL("t.typacl")+`, obj_description(t.oid, 'pg_type'))
		FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
		WHERE t.typtype IN ('e', 'd', 'c') AND (t.typrelid = 0 OR (SELECT relkind FROM pg_class WHERE oid = t.typrelid) = 'c') AND `+own+`
		ORDER BY 1`)
	if err != nil {
		return "", fmt.Errorf("snapshot of the database: %w", err)
	}
	rest, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return "", fmt.Errorf("snapshot of the database: %w", err)
	}
	b.WriteString("== relations and types\n")
	for _, l := range rest {
		b.WriteString(l)
		b.WriteByte('\n')
	}
	return b.String(), nil
}
