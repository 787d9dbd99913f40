package pgexec

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/zdmhq/zdm/internal/plan"
	"github.com/zdmhq/zdm/internal/planner"
)

// Partition is one part of a partitioned backfill (package plan, which the workflow
// shares).
type Partition = plan.Partition

// Where the partition bounds came from.
const (
	SplitHistogram = "histogram" // pg_stats.histogram_bounds of the key column
	SplitSample    = "sample"    // a TABLESAMPLE of the keys
	SplitEven      = "even"      // an even split of min..max of an integer key
	SplitNone      = "none"      // too few keys to split: one partition
)

// sampleRows is about how many keys a sample reads per partition wanted: enough that a
// quantile lands within a few percent of the rows where it should.
var sampleRows = 20000

// samplePages is the fewest pages a sample reads: keys come in runs of a page, so the
// pages, more than the rows, set how close a quantile lands.
var samplePages = 2000.0

const partitionsDDL = `
CREATE TABLE IF NOT EXISTS zdm.backfill_partitions (
	migration text NOT NULL,
	part      int NOT NULL,
	run_id    text NOT NULL,
	lo        text[],
	hi        text[] NOT NULL,
	cursor    text[],
	rows_done bigint NOT NULL DEFAULT 0,
	batches   bigint NOT NULL DEFAULT 0,
	done      boolean NOT NULL DEFAULT false,
	PRIMARY KEY (migration, part)
);
COMMENT ON TABLE zdm.backfill_partitions IS 'zdm: one row per partition of a partitioned backfill; each partition''s cursor is committed with each of its batches';
`

// upgradePartitions creates zdm.backfill_partitions when it is missing.
func upgradePartitions(ctx context.Context, pool *pgxpool.Pool) error {
	return upgradeOnce(ctx, pool, "create zdm.backfill_partitions",
		`SELECT to_regclass('zdm.backfill_partitions') IS NOT NULL`, partitionsDDL)
}

// Split returns at most n-1 keys, strictly increasing and below upper, that cut the
// range (nil, upper] into parts of about as many rows each, and where they came from.
// A single-column key takes them from pg_stats when the table has been analyzed, else
// from a sample of the keys; an integer key the sample cannot split is split evenly
// between its smallest and largest values. Fewer keys come back when the table has too
// few distinct keys.
func Split(ctx context.Context, pool *pgxpool.Pool, t Target, upper Cursor, n int) ([]Cursor, string, error) {
	if n <= 1 || upper == nil {
		return nil, SplitNone, nil
	}
	if len(t.Key) == 1 {
		hist, err := histogram(ctx, pool, t)
		if err != nil {
			return nil, "", err
		}
		if cuts, err := keysBelow(ctx, pool, t, Quantiles(hist, n), upper); err != nil {
			return nil, "", err
		} else if len(cuts) == n-1 {
			return cuts, SplitHistogram, nil
		}
	}
	cuts, err := sampleCuts(ctx, pool, t, upper, n)
	if err != nil {
		return nil, "", err
	}
	if len(cuts) == n-1 {
		return cuts, SplitSample, nil
	}
	if lo, ok := integerMin(ctx, pool, t); ok {
		hi, _ := keyInt(upper)
		if even := EvenSplit(lo, hi, n); len(even) > len(cuts) {
			return even, SplitEven, nil
		}
	}
	if len(cuts) == 0 {
		return nil, SplitNone, nil
	}
	return cuts, SplitSample, nil
}

// Quantiles picks from sorted keys the n-1 that cut them into n runs of equal length,
// dropping repeats, so that the cuts are strictly increasing.
func Quantiles(sorted []Cursor, n int) []Cursor {
	if n <= 1 || len(sorted) == 0 {
		return nil
	}
	var cuts []Cursor
	for i := 1; i < n; i++ {
		c := sorted[i*len(sorted)/n]
		if len(cuts) > 0 && cuts[len(cuts)-1].Equal(c) {
			continue
		}
		cuts = append(cuts, c)
	}
	return cuts
}

// EvenSplit cuts lo..hi into n spans of equal width; it returns fewer cuts when the
// span holds fewer than n values.
func EvenSplit(lo, hi int64, n int) []Cursor {
	if n <= 1 || hi <= lo {
		return nil
	}
	// big.Int: hi-lo overflows int64 for keys near both ends of bigint.
	span := new(big.Int).Sub(big.NewInt(hi), big.NewInt(lo))
	var cuts []Cursor
	prev := int64(0)
	for i := 1; i < n; i++ {
		step := new(big.Int).Mul(span, big.NewInt(int64(i)))
		step.Quo(step, big.NewInt(int64(n)))
		v := new(big.Int).Add(big.NewInt(lo), step).Int64()
		if v >= hi || (len(cuts) > 0 && v <= prev) {
			continue
		}
		cuts = append(cuts, Cursor{strconv.FormatInt(v, 10)})
		prev = v
	}
	return cuts
}

// histogram reads the key column's histogram_bounds from pg_stats, sorted by the key's
// own order (nil when the table was never analyzed, or much changed since).
func histogram(ctx context.Context, pool *pgxpool.Pool, t Target) ([]Cursor, error) {
	k := t.Key[0]
	// A histogram from before a fifth of the table changed may cut where the rows no
	// longer are: a sample is asked instead.
	var stale bool
	if err := pool.QueryRow(ctx, `SELECT coalesce(s.n_mod_since_analyze, 0) > 0.2 * greatest(c.reltuples, 1)
		FROM pg_class c LEFT JOIN pg_stat_user_tables s ON s.relid = c.oid WHERE c.oid = $1::regclass`, targetIdent(t)).Scan(&stale); err != nil {
		return nil, fmt.Errorf("read the statistics of %s.%s: %w", t.Schema, t.Table, err)
	}
	if stale {
		return nil, nil
	}
	// The bounds are in the key type's order already; they are cast back to it and
	// sorted there only to be sure. The array's text form is parsed by PostgreSQL.
	sql := fmt.Sprintf(`SELECT b::text AS bound FROM (
		SELECT unnest(histogram_bounds::text::%[1]s[]) AS b FROM pg_stats
		WHERE schemaname = $1 AND tablename = $2 AND attname = $3) h ORDER BY b`, k.Type)
	rows, err := pool.Query(ctx, sql, t.Schema, t.Table, k.Name)
	if err != nil {
		return nil, fmt.Errorf("read the histogram of %s.%s.%s: %w", t.Schema, t.Table, k.Name, err)
	}
	vals, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("read the histogram of %s.%s.%s: %w", t.Schema, t.Table, k.Name, err)
	}
	out := make([]Cursor, len(vals))
	for i, v := range vals {
		out[i] = Cursor{v}
	}
	return out, nil
}

// keysBelow keeps the cuts that lie strictly below upper (a histogram can be older than
// the table's last rows, or newer).
func keysBelow(ctx context.Context, pool *pgxpool.Pool, t Target, cuts []Cursor, upper Cursor) ([]Cursor, error) {
	var kept []Cursor
	for _, c := range cuts {
		var below bool
		sql := fmt.Sprintf("SELECT (%s) < (%s)", keyParams(t, 1), keyParams(t, 1+len(t.Key)))
		args := make([]any, 0, 2*len(t.Key))
		for _, v := range c {
			args = append(args, v)
		}
		for _, v := range upper {
			args = append(args, v)
		}
		if err := pool.QueryRow(ctx, sql, args...).Scan(&below); err != nil {
			return nil, fmt.Errorf("compare a partition bound with the last key: %w", err)
		}
		if below {
			kept = append(kept, c)
		}
	}
	return kept, nil
}

// sampleCuts samples the keys at or below upper and returns the n-1 that cut the
// sample into n runs of equal length (fewer when it holds too few keys). The sample is
// of whole pages (TABLESAMPLE SYSTEM), cheap on a large table: at least samplePages of
// them and about sampleRows keys per partition, all of a small table; the quantiles
// are taken by PostgreSQL, so only the cuts travel.
func sampleCuts(ctx context.Context, pool *pgxpool.Pool, t Target, upper Cursor, n int) ([]Cursor, error) {
	var rows, pages float64
	// reltuples is -1 before the first VACUUM or ANALYZE; the pages then give a rough
	// count (50 rows per 8 kB page).
	if err := pool.QueryRow(ctx, `SELECT pg_relation_size(c.oid) / current_setting('block_size')::int,
		CASE WHEN c.reltuples > 0 THEN c.reltuples ELSE pg_relation_size(c.oid) / current_setting('block_size')::int * 50 END
		FROM pg_class c WHERE c.oid = $1::regclass`, targetIdent(t)).Scan(&pages, &rows); err != nil {
		return nil, fmt.Errorf("estimate the rows of %s.%s: %w", t.Schema, t.Table, err)
	}
	from := targetIdent(t)
	if pct := 100 * max(float64(sampleRows*n)/max(rows, 1), samplePages/max(pages, 1)); pct < 100 {
		from += fmt.Sprintf(" TABLESAMPLE SYSTEM (%g)", pct)
	}
	where, args := rangeWhere(t, nil, upper)
	args = append(args, n)
	outer := make([]string, len(t.Key))
	for i := range t.Key {
		outer[i] = fmt.Sprintf("zdm_key_%d", i)
	}
	q, err := pool.Query(ctx, fmt.Sprintf(`SELECT %[1]s FROM (
		SELECT %[2]s, row_number() OVER (ORDER BY %[3]s) - 1 AS zdm_rn, count(*) OVER () AS zdm_cnt FROM %[4]s WHERE %[5]s) s
		WHERE zdm_rn IN (SELECT (i * zdm_cnt) / $%[6]d FROM generate_series(1, $%[6]d - 1) i) ORDER BY zdm_rn`,
		strings.Join(outer, ", "), keyText(t), keyList(t), from, where, len(args)), args...)
	if err != nil {
		return nil, fmt.Errorf("sample the keys of %s.%s: %w", t.Schema, t.Table, err)
	}
	defer q.Close()
	var cuts []Cursor
	for q.Next() {
		c, err := scanCursor(q, len(t.Key))
		if err != nil {
			return nil, err
		}
		if len(cuts) == 0 || !cuts[len(cuts)-1].Equal(c) {
			cuts = append(cuts, c)
		}
	}
	return cuts, q.Err()
}

// integerMin is the smallest key of a single integer key.
func integerMin(ctx context.Context, pool *pgxpool.Pool, t Target) (int64, bool) {
	if len(t.Key) != 1 {
		return 0, false
	}
	switch t.Key[0].Type {
	case "smallint", "integer", "bigint":
	default:
		return 0, false
	}
	var lo *int64
	k := planner.Ident(t.Key[0].Name)
	if err := pool.QueryRow(ctx, fmt.Sprintf("SELECT %s::bigint FROM %s ORDER BY %s LIMIT 1", k, targetIdent(t), k)).Scan(&lo); err != nil || lo == nil {
		return 0, false
	}
	return *lo, true
}

// PreparePartitions returns the partitions of migration's backfill for run runID,
// creating them from cuts (the interior bounds, see Split) the first time. It is
// idempotent: a retried call, or a later run of the workflow, reads the partitions and
// their committed cursors; partitions of an earlier run of the same name are replaced.
func PreparePartitions(ctx context.Context, pool *pgxpool.Pool, migration, runID string, cuts []Cursor, upper Cursor) ([]Partition, error) {
	var parts []Partition
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		// One preparer at a time per migration: the migration's row is its lock.
		if _, err := tx.Exec(ctx, `SELECT 1 FROM zdm.migrations WHERE name = $1 FOR UPDATE`, migration); err != nil {
			return err
		}
		var err error
		if parts, err = readPartitions(ctx, tx, migration, runID); err != nil || len(parts) > 0 {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM zdm.backfill_partitions WHERE migration = $1`, migration); err != nil {
			return err
		}
		bounds := append(append([]Cursor{nil}, cuts...), upper)
		for i := 0; i+1 < len(bounds); i++ {
			lo, hi := bounds[i], bounds[i+1]
			var loArg []string
			if lo != nil {
				loArg = lo
			}
			if _, err := tx.Exec(ctx, `INSERT INTO zdm.backfill_partitions (migration, part, run_id, lo, hi, cursor) VALUES ($1, $2, $3, $4, $5, $4)`,
				migration, i, runID, loArg, []string(hi)); err != nil {
				return err
			}
			parts = append(parts, Partition{Part: i, Lo: lo, Hi: hi, Cursor: lo})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("prepare the backfill partitions of %s: %w", migration, err)
	}
	return parts, nil
}

// ReadPartition reads one partition of run runID with its committed cursor.
func ReadPartition(ctx context.Context, pool *pgxpool.Pool, migration, runID string, part int) (Partition, error) {
	var p Partition
	var lo, cur []string
	err := pool.QueryRow(ctx, `SELECT lo, hi, cursor, rows_done, batches, done FROM zdm.backfill_partitions
		WHERE migration = $1 AND run_id = $2 AND part = $3`, migration, runID, part).Scan(&lo, &p.Hi, &cur, &p.RowsDone, &p.Batches, &p.Done)
	if errors.Is(err, pgx.ErrNoRows) {
		return p, fmt.Errorf("partition %d of %s (run %s): %w", part, migration, runID, ErrPartitionGone)
	}
	if err != nil {
		return p, fmt.Errorf("read partition %d of %s: %w", part, migration, err)
	}
	p.Part, p.Lo, p.Cursor = part, lo, cur
	return p, nil
}

// ErrPartitionGone says that a partition is not in zdm.backfill_partitions for this run:
// a later run of the same migration replaced the partitions.
var ErrPartitionGone = errors.New("the partition is not in zdm.backfill_partitions: another run of the same migration replaced it; this one stops")

// PartitionTotals adds up the rows and batches the partitions of run runID committed
// (zero when zdm.backfill_partitions does not exist yet).
func PartitionTotals(ctx context.Context, pool *pgxpool.Pool, migration, runID string) (rows, batches int64, err error) {
	var exists bool
	if err := pool.QueryRow(ctx, `SELECT to_regclass('zdm.backfill_partitions') IS NOT NULL`).Scan(&exists); err != nil || !exists {
		return 0, 0, err
	}
	err = pool.QueryRow(ctx, `SELECT coalesce(sum(rows_done), 0)::bigint, coalesce(sum(batches), 0)::bigint FROM zdm.backfill_partitions
		WHERE migration = $1 AND run_id = $2`, migration, runID).Scan(&rows, &batches)
	return rows, batches, err
}

// ReadPartitions reads every partition of run runID, in order (none when the backfill
// is not partitioned).
func ReadPartitions(ctx context.Context, pool *pgxpool.Pool, migration, runID string) ([]Partition, error) {
	return readPartitions(ctx, pool, migration, runID)
}

func readPartitions(ctx context.Context, q interface {
	Query(context.Context, string, ...any) (pgx.Rows, error)
}, migration, runID string) ([]Partition, error) {
	rows, err := q.Query(ctx, `SELECT part, lo, hi, cursor, rows_done, batches, done FROM zdm.backfill_partitions
		WHERE migration = $1 AND run_id = $2 ORDER BY part`, migration, runID)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Partition, error) {
		var p Partition
		var lo, hi, cur []string
		err := r.Scan(&p.Part, &lo, &hi, &cur, &p.RowsDone, &p.Batches, &p.Done)
		p.Lo, p.Hi, p.Cursor = lo, hi, cur
		return p, err
	})
}

// PartitionCommit commits a batch's cursor to partition part of migration instead of to
// zdm.migrations: only that partition's row is locked, so partitions do not wait for
// each other. The cursor moves only from where the batch started.
func PartitionCommit(migration string, part int) CursorCommit {
	return func(ctx context.Context, tx pgx.Tx, from, to Cursor, rows int64, done bool) error {
		var fromArg []string
		if from != nil {
			fromArg = from
		}
		tag, err := tx.Exec(ctx, `UPDATE zdm.backfill_partitions SET cursor = $3, rows_done = rows_done + $4, batches = batches + 1, done = $5
			WHERE migration = $1 AND part = $2 AND cursor IS NOT DISTINCT FROM $6`, migration, part, []string(to), rows, done, fromArg)
		if err == nil && tag.RowsAffected() != 1 {
			err = ErrCursorMoved
		}
		return err
	}
}
