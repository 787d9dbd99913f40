package lint

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	pg_query "github.com/pganalyze/pg_query_go/v6"
)

// tableFacts is what the catalog says about one existing table.
type tableFacts struct {
	name             string
	bytes, heapBytes int64
	rows             int64
	columns          map[string]colType
	notNullChecks    map[string]bool // columns a validated CHECK (c IS NOT NULL) proves
}

// liveInfo is the database's view of the tables the scripts touch, read once per run.
type liveInfo struct {
	pool   *pgxpool.Pool
	tables map[string]*tableFacts // by key; nil for a table that does not exist
	// bytesPerSecond is the measured read throughput; 0 when not measured.
	bytesPerSecond float64
	throughput     string
}

// minSample is the least a throughput measurement reads: below, the query's own cost
// is most of what is timed.
const (
	minSample    = 1 << 20
	targetSample = 32 << 20
)

func newLiveInfo(ctx context.Context, pool *pgxpool.Pool, scripts []*script) (*liveInfo, error) {
	l := &liveInfo{pool: pool, tables: map[string]*tableFacts{}}
	var largest *tableFacts
	for _, sc := range scripts {
		c := &checker{created: map[string]bool{}, createdIdx: map[string]bool{}}
		for _, s := range sc.stmts {
			for _, t := range targets(c, s) {
				if _, seen := l.tables[key(t)]; seen {
					continue
				}
				f, err := readTable(ctx, pool, t)
				if err != nil {
					return nil, fmt.Errorf("reading table %s from the database: %w", t, err)
				}
				l.tables[key(t)] = f
				if f != nil && (largest == nil || f.heapBytes > largest.heapBytes) {
					largest = f
				}
			}
		}
	}
	switch {
	case largest == nil:
		l.throughput = "not measured: no statement touches an existing table"
	case largest.heapBytes < minSample:
		l.throughput = fmt.Sprintf("not measured: the largest table touched, %s, is %s (under 1 MB); lock estimates are left out", largest.name, humanBytes(largest.heapBytes))
	default:
		if err := l.measure(ctx, largest); err != nil {
			return nil, err
		}
	}
	return l, nil
}

// targets are the tables a statement acts on, as written.
func targets(c *checker, s *stmt) []string {
	var out []string
	if t := c.lockedTable(s); t != "" {
		out = append(out, t)
	}
	switch n := s.node; {
	case n.GetUpdateStmt() != nil:
		out = append(out, tableName(n.GetUpdateStmt().GetRelation()))
	case n.GetDeleteStmt() != nil:
		out = append(out, tableName(n.GetDeleteStmt().GetRelation()))
	case n.GetDropStmt() != nil && n.GetDropStmt().GetRemoveType() == pg_query.ObjectType_OBJECT_TABLE:
		out = append(out, dropNames(n.GetDropStmt())...)
	case n.GetAlterTableStmt() != nil:
		for _, cmd := range n.GetAlterTableStmt().GetCmds() {
			if fk := cmd.GetAlterTableCmd().GetDef().GetConstraint().GetPktable(); fk != nil {
				out = append(out, tableName(fk))
			}
		}
	}
	return out
}

func ident(name string) pgx.Identifier { return pgx.Identifier(strings.Split(name, ".")) }

func readTable(ctx context.Context, pool *pgxpool.Pool, name string) (*tableFacts, error) {
	f := &tableFacts{name: name, columns: map[string]colType{}, notNullChecks: map[string]bool{}}
	var oid uint32
	err := pool.QueryRow(ctx, `SELECT c.oid, pg_total_relation_size(c.oid), pg_relation_size(c.oid), c.reltuples::bigint
		FROM pg_class c WHERE c.oid = to_regclass($1) AND c.relkind IN ('r', 'p', 'm')`, ident(name).Sanitize()).
		Scan(&oid, &f.bytes, &f.heapBytes, &f.rows)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	rows, err := pool.Query(ctx, `SELECT a.attname, t.typname, a.atttypmod, a.attndims FROM pg_attribute a
		JOIN pg_type t ON t.oid = a.atttypid WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped`, oid)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var col, typ string
		var mod, dims int
		if err := rows.Scan(&col, &typ, &mod, &dims); err != nil {
			return nil, err
		}
		f.columns[col] = catalogType(typ, mod, dims)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rows, err = pool.Query(ctx, `SELECT pg_get_constraintdef(oid) FROM pg_constraint
		WHERE conrelid = $1 AND contype = 'c' AND convalidated`, oid)
	if err != nil {
		return nil, err
	}
	defs, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, err
	}
	for _, def := range defs {
		// The server's own text of the constraint, read back by its parser.
		tree, err := pg_query.Parse("ALTER TABLE t ADD " + def)
		if err != nil {
			continue
		}
		for _, cmd := range tree.GetStmts()[0].GetStmt().GetAlterTableStmt().GetCmds() {
			if col := notNullColumn(cmd.GetAlterTableCmd().GetDef().GetConstraint().GetRawExpr()); col != "" {
				f.notNullChecks[col] = true
			}
		}
	}
	return f, nil
}

// measure times a scan of a sample of the table (TABLESAMPLE SYSTEM reads whole
// pages, so the pages read are about the share asked for) to learn how fast this
// server reads a table, in a read-only transaction with a statement timeout.
func (l *liveInfo) measure(ctx context.Context, t *tableFacts) error {
	pct := min(100, 100*float64(targetSample)/float64(t.heapBytes))
	tx, err := l.pool.BeginTx(ctx, pgx.TxOptions{AccessMode: pgx.ReadOnly})
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback(ctx) }()
	if _, err := tx.Exec(ctx, "SET LOCAL statement_timeout = '30s'"); err != nil {
		return err
	}
	q := fmt.Sprintf("SELECT count(*) FROM %s TABLESAMPLE SYSTEM (%g)", ident(t.name).Sanitize(), pct)
	var n int64
	start := time.Now()
	if err := tx.QueryRow(ctx, q).Scan(&n); err != nil {
		return fmt.Errorf("measuring read throughput on %s: %w", t.name, err)
	}
	took := time.Since(start)
	read := int64(float64(t.heapBytes) * pct / 100)
	if took <= 0 || read <= 0 {
		l.throughput = "not measured: the sample scan took no time"
		return nil
	}
	l.bytesPerSecond = float64(read) / took.Seconds()
	l.throughput = fmt.Sprintf("%s/s, measured by reading %g%% of %s (about %s, %s rows) in %s with TABLESAMPLE SYSTEM; pages already in memory read faster than from disk",
		humanBytes(int64(l.bytesPerSecond)), roundPct(pct), t.name, humanBytes(read), thousands(n), took.Round(time.Microsecond))
	return nil
}

func roundPct(p float64) float64 { return float64(int64(p*100)) / 100 }

// annotate gives a finding on an existing table what the database knows of it, and
// lowers a size-bound finding on a small table to info.
func (l *liveInfo) annotate(_ context.Context, f *Finding, r *Rule, cfg Config, sized, rewrites bool) {
	t := l.tables[key(f.Table)]
	if t == nil {
		return
	}
	f.Live = &LiveTable{Bytes: t.bytes, Rows: t.rows, Rewrites: rewrites}
	// Only a statement that reads or rewrites the table holds its lock for as long as
	// that takes; the others hold it briefly (once they have it).
	if sized && r.SizeBound && l.bytesPerSecond > 0 {
		f.Live.LockEstimate = time.Duration(float64(t.heapBytes) / l.bytesPerSecond * float64(time.Second))
	}
	if !sized || !r.SizeBound || t.rows < 0 {
		return
	}
	if t.rows < cfg.SmallTable.Rows && (f.Live.LockEstimate == 0 || f.Live.LockEstimate < cfg.SmallTable.Lock) {
		f.Level = Info
		f.Note = fmt.Sprintf("harmless here: %s rows", thousands(t.rows))
	}
}

func (l *liveInfo) columnType(_ context.Context, table, col string) (colType, bool) {
	if l == nil {
		return colType{}, false
	}
	t := l.tables[key(table)]
	if t == nil {
		return colType{}, false
	}
	ct, ok := t.columns[col]
	return ct, ok
}

func (l *liveInfo) hasNotNullCheck(_ context.Context, table, col string) bool {
	if l == nil {
		return false
	}
	t := l.tables[key(table)]
	return t != nil && t.notNullChecks[col]
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.0f kB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d bytes", n)
}

func thousands(n int64) string {
	s := itoa(n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}
