package pgexec

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/zdmhq/zdm/internal/plan"
	"github.com/zdmhq/zdm/internal/planner"
)

// The backfill's plain values live in package plan, which the workflow shares.
type (
	Target = plan.Target
	Cursor = plan.Cursor
)

// TargetOf extracts the backfill target of a plan.
func TargetOf(p *planner.Plan) Target { return plan.TargetOf(p) }

func targetIdent(t Target) string { return pgx.Identifier{t.Schema, t.Table}.Sanitize() }

func keyList(t Target) string {
	cols := make([]string, len(t.Key))
	for i, k := range t.Key {
		cols[i] = planner.Ident(k.Name)
	}
	return strings.Join(cols, ", ")
}

func keyText(t Target) string {
	cols := make([]string, len(t.Key))
	for i, k := range t.Key {
		// Aliased: ORDER BY "k" would otherwise sort by this text output column.
		cols[i] = fmt.Sprintf("%s::text AS zdm_key_%d", planner.Ident(k.Name), i)
	}
	return strings.Join(cols, ", ")
}

// keyParams renders ($n::type, ...) starting at parameter first.
func keyParams(t Target, first int) string {
	ps := make([]string, len(t.Key))
	for i, k := range t.Key {
		ps[i] = fmt.Sprintf("$%d::text::%s", first+i, k.Type)
	}
	return strings.Join(ps, ", ")
}

// cmp renders "(key) op (params)" using PostgreSQL's row comparison, which a btree index
// on the key serves.
func cmp(t Target, op string, first int) string {
	if len(t.Key) == 1 {
		return fmt.Sprintf("%s %s %s", keyList(t), op, keyParams(t, first))
	}
	return fmt.Sprintf("(%s) %s (%s)", keyList(t), op, keyParams(t, first))
}

// rangeWhere is the predicate for lo < key <= hi; lo nil means from the start.
func rangeWhere(t Target, lo, hi Cursor) (string, []any) {
	var conds []string
	var args []any
	if lo != nil {
		conds = append(conds, cmp(t, ">", len(args)+1))
		for _, v := range lo {
			args = append(args, v)
		}
	}
	conds = append(conds, cmp(t, "<=", len(args)+1))
	for _, v := range hi {
		args = append(args, v)
	}
	return strings.Join(conds, " AND "), args
}

// Upper returns the largest key in the table, or nil when it is empty. Rows inserted after
// the sync trigger exists need no backfill, so the backfill stops here even under heavy
// inserts.
func Upper(ctx context.Context, pool *pgxpool.Pool, t Target) (Cursor, error) {
	desc := make([]string, len(t.Key))
	for i, k := range t.Key {
		desc[i] = planner.Ident(k.Name) + " DESC"
	}
	row := pool.QueryRow(ctx, fmt.Sprintf("SELECT %s FROM %s ORDER BY %s LIMIT 1", keyText(t), targetIdent(t), strings.Join(desc, ", ")))
	c, err := scanCursor(row, len(t.Key))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	return c, err
}

func scanCursor(row pgx.Row, n int) (Cursor, error) {
	vals := make([]string, n)
	ptrs := make([]any, n)
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	if err := row.Scan(ptrs...); err != nil {
		return nil, err
	}
	return vals, nil
}

// batchEnd finds the key of the size-th row after lo, or hi when fewer rows are left.
func batchEnd(ctx context.Context, q interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}, t Target, lo, hi Cursor, size int) (Cursor, error) {
	where, args := rangeWhere(t, lo, hi)
	args = append(args, size-1)
	sql := fmt.Sprintf("SELECT %s FROM %s WHERE %s ORDER BY %s OFFSET $%d LIMIT 1",
		keyText(t), targetIdent(t), where, keyList(t), len(args))
	end, err := scanCursor(q.QueryRow(ctx, sql, args...), len(t.Key))
	if errors.Is(err, pgx.ErrNoRows) {
		return hi, nil
	}
	return end, err
}

// Batch is one committed batch.
type Batch struct {
	Cursor Cursor
	Rows   int64
	Done   bool
}

// BackfillBatch updates the rows after lo (at most size of them, never past hi) in one
// transaction, and records the new cursor in zdm.migrations in the same transaction, so
// that a crash redoes at most the batch that did not commit.
func BackfillBatch(ctx context.Context, pool *pgxpool.Pool, t Target, lo, hi Cursor, size int) (Batch, error) {
	return backfillBatch(ctx, pool, t, lo, hi, size, nil, nil, nil)
}

// CursorCommit records, in the batch's transaction, that the rows after from up to to
// are done; it returns ErrCursorMoved when the cursor is no longer at from.
type CursorCommit func(ctx context.Context, tx pgx.Tx, from, to Cursor, rows int64, done bool) error

// backfillBatch is BackfillBatch with the batch's end already known (end != nil), which
// saves the query that finds it; watch, when set, runs from the batch's start to just
// before its commit with the batch's backend pid; commit, when set, records the cursor
// instead of zdm.migrations.
func backfillBatch(ctx context.Context, pool *pgxpool.Pool, t Target, lo, hi Cursor, size int, end Cursor, watch BatchWatch, commit CursorCommit) (Batch, error) {
	var b Batch
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		// synchronous_commit off: a batch lost in a server crash rolls back with its
		// cursor, so it is simply done again; waiting for each WAL flush buys nothing.
		// row_security off: a policy that would hide rows from the backfill is an error,
		// never rows silently left unfilled. session_replication_role replica (with
		// QuietTriggers): the table's own triggers do not fire for backfilled rows.
		// One round trip for all of them.
		role := "origin"
		if t.QuietTriggers {
			role = "replica"
		}
		if _, err := tx.Exec(ctx, `SELECT set_config('lock_timeout', $1, true), set_config('zdm.backfill', 'on', true),
			set_config('synchronous_commit', 'off', true), set_config('row_security', 'off', true),
			CASE WHEN $2 = 'replica' THEN set_config('session_replication_role', $2, true) END`,
			fmt.Sprintf("%dms", t.LockTimeout.Milliseconds()), role); err != nil {
			return fmt.Errorf("set up the batch's transaction: %w", err)
		}
		if watch != nil {
			defer watch(ctx, tx.Conn().PgConn().PID())()
		}
		if end == nil {
			var err error
			if end, err = batchEnd(ctx, tx, t, lo, hi, size); err != nil {
				return fmt.Errorf("find end of batch: %w", err)
			}
		}
		rows, err := updateProven(ctx, tx, t, lo, end)
		if err != nil {
			return err
		}
		b = Batch{Cursor: end, Rows: rows, Done: end.Equal(hi)}
		if commit != nil {
			return commit(ctx, tx, lo, end, b.Rows, b.Done)
		}
		// The cursor moves only from where this batch started: an attempt that lost
		// the race to a retry of itself rolls back instead of counting twice.
		var from []string
		if lo != nil {
			from = lo
		}
		tag, err := tx.Exec(ctx, `UPDATE zdm.migrations SET cursor = $2, rows_done = rows_done + $3, proven_rows = proven_rows + $3,
			batches = batches + 1, updated_at = now()
			WHERE name = $1 AND cursor IS NOT DISTINCT FROM $4`, t.Migration, []string(end), b.Rows, from)
		if err == nil && tag.RowsAffected() != 1 {
			err = ErrCursorMoved
		}
		return err
	})
	return b, err
}

// ErrCursorMoved says that the committed cursor is no longer where a batch started:
// another attempt of the same backfill moved it.
var ErrCursorMoved = errors.New("the backfill cursor moved under this batch: another attempt is running; this one stops")

// Mismatches counts, between lo and hi, the rows whose new columns differ from what the
// old ones say they should be, and returns the keys of up to five of them.
func Mismatches(ctx context.Context, pool *pgxpool.Pool, t Target, lo, hi Cursor) (int64, []string, error) {
	where, args := rangeWhere(t, lo, hi)
	var n int64
	if err := pool.QueryRow(ctx, fmt.Sprintf("SELECT count(*) FROM %s WHERE %s AND (%s)", targetIdent(t), where, t.Mismatch), args...).Scan(&n); err != nil {
		return 0, nil, fmt.Errorf("count mismatches: %w", err)
	}
	if n == 0 {
		return 0, nil, nil
	}
	rows, err := pool.Query(ctx, fmt.Sprintf("SELECT (%s)::text FROM %s WHERE %s AND (%s) ORDER BY %s LIMIT 5",
		"row("+keyList(t)+")", targetIdent(t), where, t.Mismatch, keyList(t)), args...)
	if err != nil {
		return n, nil, err
	}
	sample, err := pgx.CollectRows(rows, pgx.RowTo[string])
	return n, sample, err
}

// BatchEnd exposes batchEnd for verification paging.
func BatchEnd(ctx context.Context, pool *pgxpool.Pool, t Target, lo, hi Cursor, size int) (Cursor, error) {
	return batchEnd(ctx, pool, t, lo, hi, size)
}

// Backfiller runs the batches of one range. On a single integer key, where keys are
// dense enough, it computes each batch's end from the key span that held the last batch
// instead of asking the index: a unique integer key holds at most one row per value, so
// a span of at most four batch sizes bounds the batch. Gaps and sparse stretches go back
// to asking the index, which jumps them.
type Backfiller struct {
	Pool   *pgxpool.Pool
	Target Target
	Upper  Cursor
	Size   int
	// Watch, when set, watches each batch while it holds its rows' locks.
	Watch BatchWatch
	// Commit, when set, records each batch's cursor instead of zdm.migrations (a
	// partition's, see PartitionCommit).
	Commit CursorCommit
	// width is the key span expected to hold Size rows; 0 means ask the index.
	width int64
}

func (b *Backfiller) integerKey() bool {
	if len(b.Target.Key) != 1 {
		return false
	}
	switch b.Target.Key[0].Type {
	case "smallint", "integer", "bigint":
		return true
	}
	return false
}

// Next runs the batch after lo.
func (b *Backfiller) Next(ctx context.Context, lo Cursor) (Batch, error) {
	end := b.guessEnd(lo)
	batch, err := backfillBatch(ctx, b.Pool, b.Target, lo, b.Upper, b.Size, end, b.Watch, b.Commit)
	if err == nil {
		b.learn(lo, batch, end != nil)
	}
	return batch, err
}

func keyInt(c Cursor) (int64, bool) {
	if len(c) != 1 {
		return 0, false
	}
	v, err := strconv.ParseInt(c[0], 10, 64)
	return v, err == nil
}

// guessEnd is lo plus the learnt span, never past Upper; nil means ask the index.
func (b *Backfiller) guessEnd(lo Cursor) Cursor {
	from, ok1 := keyInt(lo)
	upper, ok2 := keyInt(b.Upper)
	if !ok1 || !ok2 || b.width <= 0 || !b.integerKey() {
		return nil
	}
	if b.width >= upper-from {
		return b.Upper
	}
	return Cursor{strconv.FormatInt(from+b.width, 10)}
}

// learn sets the span for the next batch from what this one found.
func (b *Backfiller) learn(lo Cursor, batch Batch, guessed bool) {
	size := int64(b.Size)
	from, ok1 := keyInt(lo)
	to, ok2 := keyInt(batch.Cursor)
	switch {
	case !ok1 || !ok2 || !b.integerKey():
		b.width = 0
	case !guessed:
		// The index found the end of exactly Size rows: their span is the density.
		b.width = to - from
	case batch.Rows < size/2:
		// Sparser than thought: let the index find the next end, jumping any gap.
		b.width = 0
	default:
		b.width = b.width * size / batch.Rows
	}
	if b.width > 4*size {
		b.width = 0 // too sparse to guess: the index is cheaper than thin batches
	}
}

// MinAdaptiveBatch is the smallest batch an adaptive backfill shrinks to.
const MinAdaptiveBatch = 100

// Adapt sets the batch size for a batch of rows that took took, aiming at target: at
// most halving or doubling it per batch, between MinAdaptiveBatch and max.
func (b *Backfiller) Adapt(rows int64, took, target time.Duration, largest int) {
	if target <= 0 || took <= 0 || rows <= 0 {
		return
	}
	old := b.Size
	want := float64(old) * float64(target) / float64(took)
	next := int(min(max(want, float64(old)/2), float64(old)*2))
	next = min(max(next, MinAdaptiveBatch), largest)
	if next == old {
		return
	}
	if b.width > 0 {
		b.width = b.width * int64(next) / int64(old)
	}
	b.Size = next
}
