// Package schema reads what zdm needs to know about a live table: its columns, the key
// it can be paged by, its indexes, constraints, triggers and dependent views.
package schema

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/zdmhq/zdm/internal/suggest"
)

// Table is one table as PostgreSQL describes it.
type Table struct {
	Schema string `json:"schema"`
	Name   string `json:"name"`
	// Columns in attnum order, dropped ones left out.
	Columns []Column `json:"columns"`
	// Key is the column list zdm pages the table by: the primary key, else the shortest
	// unique index over NOT NULL columns. Empty when there is neither.
	Key       []string `json:"key"`
	KeySource string   `json:"key_source"`
	Indexes   []Index  `json:"indexes"`
	// ForeignKeys are constraints of this table and constraints of other tables that
	// reference it.
	ForeignKeys   []ForeignKey `json:"foreign_keys"`
	Triggers      []Trigger    `json:"triggers,omitempty"`
	EstimatedRows int64        `json:"estimated_rows"`
	// Kind says what sort of table this is when zdm cannot migrate it as a plain one
	// ("a partitioned table", "a partition", "an inheritance parent", "an inheritance
	// child", "a temporary table"); "" for a plain table. KindFix says what to do instead.
	Kind    string `json:"kind,omitempty"`
	KindFix string `json:"kind_fix,omitempty"`
	// Publications the table is part of (logical replication).
	Publications []string `json:"publications,omitempty"`
	// NotValidChecks are CHECK constraints added NOT VALID and never validated: rows
	// may break them, and every UPDATE of such a row (the backfill's too) fails.
	NotValidChecks []string `json:"not_valid_checks,omitempty"`
	// Constraints are the table's own constraints, every kind; ReplicaIdentity is
	// relreplident (d default, n nothing, f full, i index).
	Constraints     []Constraint `json:"constraints,omitempty"`
	ReplicaIdentity string       `json:"replica_identity,omitempty"`
}

// Column is one column.
type Column struct {
	Name      string `json:"name"`
	Type      string `json:"type"`
	NotNull   bool   `json:"not_null"`
	Default   string `json:"default,omitempty"`
	Generated bool   `json:"generated,omitempty"`
	Identity  bool   `json:"identity,omitempty"`
	// Views that read this column; dropping it would fail.
	Views []string `json:"views,omitempty"`
	// Collation is the column's collation, quoted and qualified, when it is not its
	// type's default.
	Collation string `json:"collation,omitempty"`
	Comment   string `json:"comment,omitempty"`
	// StatTarget is ALTER COLUMN ... SET STATISTICS; nil for the default.
	StatTarget *int    `json:"stat_target,omitempty"`
	Grants     []Grant `json:"grants,omitempty"`
	// Dependents are the objects PostgreSQL records as depending on the column.
	Dependents []Dependent `json:"dependents,omitempty"`

	// AddedBy and ReplacedBy name the operation of the migration being planned that adds
	// the column (it is not in the database yet) or replaces or drops it (later
	// operations must not build on it): set on the planner's copy of the table only.
	AddedBy    string `json:"-"`
	ReplacedBy string `json:"-"`
	// UsedBy names the first operation of the migration being planned that builds on
	// the column (an index, a constraint on it): planner's copy only.
	UsedBy string `json:"-"`
}

// Index is one index of the table.
type Index struct {
	Name    string   `json:"name"`
	Columns []string `json:"columns"` // "" for an expression
	Primary bool     `json:"primary,omitempty"`
	Unique  bool     `json:"unique,omitempty"`
	Valid   bool     `json:"valid"`
	Partial bool     `json:"partial,omitempty"`
	// Include is set when the index has INCLUDE columns.
	Include bool   `json:"include,omitempty"`
	Method  string `json:"method"`
	// Constraint names the UNIQUE (u), PRIMARY KEY (p) or EXCLUDE (x) constraint the
	// index backs, with its type.
	Constraint     string `json:"constraint,omitempty"`
	ConstraintType string `json:"constraint_type,omitempty"`
	// Deferrable is the constraint's DEFERRABLE [INITIALLY DEFERRED] clause, or "".
	Deferrable string `json:"deferrable,omitempty"`
	Def        string `json:"def"`
}

// ForeignKey is a foreign key touching the table.
type ForeignKey struct {
	Name     string   `json:"name"`
	Table    string   `json:"table"`    // the table that holds the constraint
	Columns  []string `json:"columns"`  // columns of this table the constraint uses
	Incoming bool     `json:"incoming"` // true when another table references this one
}

// ErrNoTable is returned (wrapped in *NoTableError) when the table does not exist.
var ErrNoTable = errors.New("table does not exist")

// NoTableError says that a table does not exist and which similar ones do.
type NoTableError struct {
	Schema, Name string
	Similar      []string
}

func (e *NoTableError) Error() string {
	msg := fmt.Sprintf("table %s.%s does not exist", e.Schema, e.Name)
	if len(e.Similar) > 0 {
		msg += "; did you mean " + strings.Join(e.Similar, " or ") + "?"
	}
	return msg
}

func (e *NoTableError) Unwrap() error { return ErrNoTable }

// Querier is what Inspect needs of a connection or pool.
type Querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// Column returns the named column, or nil.
func (t *Table) Column(name string) *Column {
	for i := range t.Columns {
		if t.Columns[i].Name == name {
			return &t.Columns[i]
		}
	}
	return nil
}

// Ident is the table's quoted, schema-qualified name.
func (t *Table) Ident() string { return pgx.Identifier{t.Schema, t.Name}.Sanitize() }

// String is schema.name as a person writes it.
func (t *Table) String() string { return t.Schema + "." + t.Name }

// ColumnNames lists the names of all columns.
func (t *Table) ColumnNames() []string {
	out := make([]string, len(t.Columns))
	for i, c := range t.Columns {
		out[i] = c.Name
	}
	return out
}

// Inspect reads the table schemaName.tableName.
func Inspect(ctx context.Context, q Querier, schemaName, tableName string) (*Table, error) {
	t := &Table{Schema: schemaName, Name: tableName}
	var oid uint32
	var kind, persistence string
	var partition, parent, child bool
	var estimated float64
	err := q.QueryRow(ctx, `
		SELECT c.oid, c.relkind::text, c.relpersistence::text, c.reltuples::float8, c.relispartition,
		       EXISTS (SELECT 1 FROM pg_inherits WHERE inhparent = c.oid),
		       EXISTS (SELECT 1 FROM pg_inherits WHERE inhrelid = c.oid),
		       coalesce((SELECT array_agg(p.pubname ORDER BY p.pubname) FROM pg_publication p
		                 WHERE p.puballtables OR EXISTS (SELECT 1 FROM pg_publication_rel pr WHERE pr.prpubid = p.oid AND pr.prrelid = c.oid)
		                    OR EXISTS (SELECT 1 FROM pg_publication_namespace pn WHERE pn.pnpubid = p.oid AND pn.pnnspid = c.relnamespace)), '{}')
		FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = $1 AND c.relname = $2`, schemaName, tableName).Scan(&oid, &kind, &persistence, &estimated, &partition, &parent, &child, &t.Publications)
	if errors.Is(err, pgx.ErrNoRows) {
		similar, serr := similarTables(ctx, q, schemaName, tableName)
		if serr != nil {
			return nil, serr
		}
		return nil, &NoTableError{Schema: schemaName, Name: tableName, Similar: similar}
	}
	if err != nil {
		return nil, fmt.Errorf("look up table %s.%s: %w", schemaName, tableName, err)
	}
	if kind != "r" && kind != "p" {
		return nil, fmt.Errorf("%s.%s is not a table (relkind %s): zdm migrates plain tables", schemaName, tableName, kind)
	}
	switch {
	case kind == "p":
		t.Kind, t.KindFix = "a partitioned table", "migrate each partition's data with a plain ALTER TABLE in a maintenance window, or use a non-partitioned table; zdm does not yet build the trigger and indexes per partition"
	case partition:
		t.Kind, t.KindFix = "a partition", "change the partitioned table, not one of its partitions"
	case parent:
		t.Kind, t.KindFix = "an inheritance parent", "detach the child tables (ALTER TABLE ... NO INHERIT) first; a change to the parent would reach them without their own trigger and backfill"
	case child:
		t.Kind, t.KindFix = "an inheritance child", "change the parent table's columns together with its children by hand; a child's inherited columns cannot be dropped on their own"
	case persistence == "t":
		t.Kind, t.KindFix = "a temporary table", "temporary tables belong to one session: change them in that session"
	}
	if estimated >= 0 {
		t.EstimatedRows = int64(estimated)
	} else if t.EstimatedRows, err = plannerEstimate(ctx, q, t); err != nil {
		return nil, err
	}
	if err := t.readColumns(ctx, q, oid); err != nil {
		return nil, err
	}
	if err := t.readIndexes(ctx, q, oid); err != nil {
		return nil, err
	}
	if err := t.readForeignKeys(ctx, q, oid); err != nil {
		return nil, err
	}
	if err := t.readTriggers(ctx, q, oid); err != nil {
		return nil, err
	}
	if err := t.readAttached(ctx, q, oid); err != nil {
		return nil, err
	}
	if err := t.readConstraints(ctx, q, oid); err != nil {
		return nil, err
	}
	rows, err := q.Query(ctx, `SELECT conname FROM pg_constraint WHERE conrelid = $1 AND contype = 'c' AND NOT convalidated ORDER BY conname`, oid)
	if err != nil {
		return nil, fmt.Errorf("read constraints of %s: %w", t, err)
	}
	if t.NotValidChecks, err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil {
		return nil, fmt.Errorf("read constraints of %s: %w", t, err)
	}
	t.chooseKey()
	return t, nil
}

// plannerEstimate asks the planner how many rows a table never analyzed holds: it
// estimates from the table's size on disk.
func plannerEstimate(ctx context.Context, q Querier, t *Table) (int64, error) {
	var plan []map[string]map[string]any
	if err := q.QueryRow(ctx, "EXPLAIN (FORMAT JSON) SELECT 1 FROM "+t.Ident()).Scan(&plan); err != nil {
		return 0, fmt.Errorf("estimate the rows of %s: %w", t, err)
	}
	if len(plan) == 1 {
		if n, ok := plan[0]["Plan"]["Plan Rows"].(float64); ok {
			return int64(n), nil
		}
	}
	return 0, nil
}

func similarTables(ctx context.Context, q Querier, schemaName, tableName string) ([]string, error) {
	rows, err := q.Query(ctx, `
		SELECT n.nspname, c.relname
		FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
		ORDER BY 1, 2 LIMIT 5000`)
	if err != nil {
		return nil, fmt.Errorf("look up tables like %s.%s: %w", schemaName, tableName, err)
	}
	var out []string
	want := strings.ToLower(tableName)
	for rows.Next() {
		var sch, name string
		if err := rows.Scan(&sch, &name); err != nil {
			return nil, err
		}
		if d := suggest.Distance(strings.ToLower(name), want); d <= max(1, len(want)/4) {
			out = append(out, sch+"."+name)
		}
	}
	if len(out) > 3 {
		out = out[:3]
	}
	return out, rows.Err()
}

func (t *Table) readColumns(ctx context.Context, q Querier, oid uint32) error {
	rows, err := q.Query(ctx, `
		SELECT a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
		       coalesce(pg_get_expr(d.adbin, d.adrelid), ''), a.attgenerated <> '', a.attidentity <> '',
		       coalesce((SELECT array_agg(DISTINCT v.oid::regclass::text ORDER BY v.oid::regclass::text)
		                 FROM pg_depend dep
		                 JOIN pg_rewrite r ON r.oid = dep.objid
		                 JOIN pg_class v ON v.oid = r.ev_class
		                 WHERE dep.refobjid = a.attrelid AND dep.refobjsubid = a.attnum
		                   AND dep.classid = 'pg_rewrite'::regclass AND v.oid <> a.attrelid), '{}')
		FROM pg_attribute a
		LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
		WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped
		ORDER BY a.attnum`, oid)
	if err != nil {
		return fmt.Errorf("read columns of %s: %w", t, err)
	}
	t.Columns, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (Column, error) {
		var c Column
		err := r.Scan(&c.Name, &c.Type, &c.NotNull, &c.Default, &c.Generated, &c.Identity, &c.Views)
		return c, err
	})
	if err != nil {
		return fmt.Errorf("read columns of %s: %w", t, err)
	}
	return nil
}

func (t *Table) readIndexes(ctx context.Context, q Querier, oid uint32) error {
	rows, err := q.Query(ctx, `
		SELECT c.relname, i.indisprimary, i.indisunique, i.indisvalid, i.indpred IS NOT NULL,
		       i.indnatts > i.indnkeyatts, am.amname,
		       coalesce(con.conname, ''), coalesce(con.contype::text, ''),
		       CASE WHEN con.condeferrable THEN 'DEFERRABLE' || CASE WHEN con.condeferred THEN ' INITIALLY DEFERRED' ELSE '' END ELSE '' END,
		       pg_get_indexdef(i.indexrelid),
		       array(SELECT coalesce(a.attname, '')
		             FROM unnest(i.indkey[0:i.indnkeyatts - 1]) WITH ORDINALITY k(attnum, ord)
		             LEFT JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
		             ORDER BY k.ord)
		FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
		JOIN pg_am am ON am.oid = c.relam
		LEFT JOIN pg_constraint con ON con.conindid = i.indexrelid AND con.conrelid = i.indrelid AND con.contype IN ('u', 'p', 'x')
		WHERE i.indrelid = $1
		ORDER BY c.relname`, oid)
	if err != nil {
		return fmt.Errorf("read indexes of %s: %w", t, err)
	}
	t.Indexes, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (Index, error) {
		var ix Index
		err := r.Scan(&ix.Name, &ix.Primary, &ix.Unique, &ix.Valid, &ix.Partial, &ix.Include, &ix.Method,
			&ix.Constraint, &ix.ConstraintType, &ix.Deferrable, &ix.Def, &ix.Columns)
		return ix, err
	})
	if err != nil {
		return fmt.Errorf("read indexes of %s: %w", t, err)
	}
	return nil
}

func (t *Table) readForeignKeys(ctx context.Context, q Querier, oid uint32) error {
	rows, err := q.Query(ctx, `
		SELECT con.conname, con.conrelid::regclass::text, con.confrelid = $1 AND con.conrelid <> $1,
		       array(SELECT a.attname
		             FROM unnest(CASE WHEN con.conrelid = $1 THEN con.conkey ELSE con.confkey END) k(attnum)
		             JOIN pg_attribute a ON a.attrelid = $1 AND a.attnum = k.attnum)
		FROM pg_constraint con
		WHERE con.contype = 'f' AND (con.conrelid = $1 OR con.confrelid = $1)
		ORDER BY con.conname`, oid)
	if err != nil {
		return fmt.Errorf("read foreign keys of %s: %w", t, err)
	}
	t.ForeignKeys, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (ForeignKey, error) {
		var fk ForeignKey
		err := r.Scan(&fk.Name, &fk.Table, &fk.Incoming, &fk.Columns)
		return fk, err
	})
	if err != nil {
		return fmt.Errorf("read foreign keys of %s: %w", t, err)
	}
	return nil
}

// Trigger is one of the table's own triggers.
type Trigger struct {
	Name string `json:"name"`
	// Row, Before and OnUpdate decode tgtype; Enabled is false for a disabled one.
	Row      bool `json:"row"`
	Before   bool `json:"before"`
	OnUpdate bool `json:"on_update"`
	Enabled  bool `json:"enabled"`
}

func (t *Table) readTriggers(ctx context.Context, q Querier, oid uint32) error {
	rows, err := q.Query(ctx, `SELECT tgname, tgtype & 1 <> 0, tgtype & 2 <> 0, tgtype & 16 <> 0, tgenabled <> 'D'
		FROM pg_trigger WHERE tgrelid = $1 AND NOT tgisinternal ORDER BY tgname`, oid)
	if err != nil {
		return fmt.Errorf("read triggers of %s: %w", t, err)
	}
	t.Triggers, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (Trigger, error) {
		var tr Trigger
		err := r.Scan(&tr.Name, &tr.Row, &tr.Before, &tr.OnUpdate, &tr.Enabled)
		return tr, err
	})
	if err != nil {
		return fmt.Errorf("read triggers of %s: %w", t, err)
	}
	return nil
}

// chooseKey picks the primary key, else the shortest valid, non-partial unique index over
// NOT NULL plain columns.
func (t *Table) chooseKey() {
	var best *Index
	for i := range t.Indexes {
		ix := &t.Indexes[i]
		if !ix.Valid || !ix.Unique || ix.Partial {
			continue
		}
		if ix.Primary {
			best = ix
			break
		}
		ok := true
		for _, c := range ix.Columns {
			col := t.Column(c)
			if c == "" || col == nil || !col.NotNull {
				ok = false
				break
			}
		}
		if ok && (best == nil || len(ix.Columns) < len(best.Columns)) {
			best = ix
		}
	}
	if best == nil {
		return
	}
	t.Key = append([]string(nil), best.Columns...)
	if best.Primary {
		t.KeySource = "primary key " + best.Name
	} else {
		t.KeySource = "unique index " + best.Name
	}
}

// IndexesOn lists the indexes that use column c.
func (t *Table) IndexesOn(c string) []Index {
	var out []Index
	for _, ix := range t.Indexes {
		for _, col := range ix.Columns {
			if col == c {
				out = append(out, ix)
				break
			}
		}
	}
	return out
}
