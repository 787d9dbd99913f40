package pgexec

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// MismatchError says that rows a batch just wrote do not hold what the up expressions of
// their old columns say. The batch's transaction is rolled back with it.
type MismatchError struct {
	Rows   int64
	Sample []string
}

func (e *MismatchError) Error() string {
	return fmt.Sprintf("%d row(s) of the batch differ from the up expression of the old columns right after it wrote them (keys %s)",
		e.Rows, strings.Join(e.Sample, ", "))
}

// updateProven runs one batch's UPDATE and proves its rows in the same statement: the
// RETURNING list evaluates the verification predicate on each row as stored (after any
// BEFORE trigger), so a batch commits only rows it has checked, at the cost of one
// expression per row and no second read. What can change a row after its batch commits is
// an application write, which the sync trigger covers.
func updateProven(ctx context.Context, tx pgx.Tx, t Target, lo, end Cursor) (int64, error) {
	where, args := rangeWhere(t, lo, end)
	mismatch := t.Mismatch
	if mismatch == "" {
		mismatch = "false" // nothing to compare: an operation that fills no column
	}
	// The keys are made text only for the rows that fail (FILTER comes first).
	keys := keyList(t)
	sql := fmt.Sprintf(`WITH zdm_batch AS (UPDATE %s SET %s WHERE %s RETURNING (%s) AS zdm_bad, %s)
SELECT count(*), count(*) FILTER (WHERE zdm_bad), coalesce((array_agg(row(%s)::text ORDER BY %s) FILTER (WHERE zdm_bad))[1:5], '{}') FROM zdm_batch`,
		targetIdent(t), t.Set, where, mismatch, keys, keys, keys)
	var rows, bad int64
	var sample []string
	if err := tx.QueryRow(ctx, sql, args...).Scan(&rows, &bad, &sample); err != nil {
		return 0, fmt.Errorf("update batch after %v: %w", lo, err)
	}
	if bad > 0 {
		return 0, &MismatchError{Rows: bad, Sample: sample}
	}
	return rows, nil
}

// proofDDL adds the count of rows proven by their own batch (updateProven) to
// zdm.migrations made by an older zdm.
const proofDDL = `ALTER TABLE zdm.migrations ADD COLUMN IF NOT EXISTS proven_rows bigint NOT NULL DEFAULT 0`

func upgradeProof(ctx context.Context, pool *pgxpool.Pool) error {
	return upgradeOnce(ctx, pool, "upgrade zdm's schema for batch proofs (zdm.migrations.proven_rows)",
		`SELECT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = 'zdm.migrations'::regclass AND attname = 'proven_rows' AND NOT attisdropped)`,
		proofDDL)
}

// upgradeOnce runs ddl unless present (one boolean query) says it ran: one query when
// it did, else one transaction under the advisory lock of history's upgrade, so that
// workers starting together do not race.
func upgradeOnce(ctx context.Context, pool *pgxpool.Pool, what, present, ddl string) error {
	var ok bool
	if err := pool.QueryRow(ctx, present).Scan(&ok); err != nil || ok {
		return err
	}
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SET LOCAL lock_timeout = '5s'`); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(historyLock)); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, ddl)
		return err
	})
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

// ProvenRows reads how many rows the migration's backfill wrote and how many of them its
// batches proved as they wrote them. Partitions (zdm.backfill_partitions) came after
// batch proofs, so every row a partition's batch wrote is proven.
func ProvenRows(ctx context.Context, pool *pgxpool.Pool, migration string) (done, proven int64, err error) {
	var runID string
	err = pool.QueryRow(ctx, `SELECT rows_done, proven_rows, run_id FROM zdm.migrations WHERE name = $1`, migration).Scan(&done, &proven, &runID)
	if err != nil {
		return 0, 0, fmt.Errorf("read the proven rows of %s: %w", migration, err)
	}
	parts, _, err := PartitionTotals(ctx, pool, migration, runID)
	return done + parts, proven + parts, err
}

// TriggerFires says whether trigger is on the table and enabled for ordinary sessions.
func TriggerFires(ctx context.Context, pool *pgxpool.Pool, t Target, trigger string) (bool, error) {
	var ok bool
	err := pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = to_regclass($1) AND tgname = $2 AND tgenabled IN ('O', 'A'))`,
		targetIdent(t), trigger).Scan(&ok)
	if err != nil {
		err = fmt.Errorf("look for the sync trigger %s: %w", trigger, err)
	}
	return ok, err
}

// EstimatedRows is the planner's estimate of the table's rows (pg_class.reltuples; -1
// when the table was never analyzed).
func EstimatedRows(ctx context.Context, pool *pgxpool.Pool, t Target) (float64, error) {
	var n float64
	err := pool.QueryRow(ctx, `SELECT reltuples FROM pg_class WHERE oid = to_regclass($1)`, targetIdent(t)).Scan(&n)
	return n, err
}

// SampledMismatches reads a random percent of the table's pages (TABLESAMPLE SYSTEM) and
// counts the rows whose new columns differ from what the old ones say, with up to five
// of their keys.
func SampledMismatches(ctx context.Context, pool *pgxpool.Pool, t Target, percent float64) (checked, bad int64, sample []string, err error) {
	sql := fmt.Sprintf(`SELECT count(*), count(*) FILTER (WHERE zdm_bad),
	coalesce((array_agg(zdm_key ORDER BY zdm_key) FILTER (WHERE zdm_bad))[1:5], '{}')
	FROM (SELECT (%s) AS zdm_bad, row(%s)::text AS zdm_key FROM %s TABLESAMPLE SYSTEM ($1)) s`,
		t.Mismatch, keyList(t), targetIdent(t))
	err = pool.QueryRow(ctx, sql, percent).Scan(&checked, &bad, &sample)
	if err != nil {
		err = fmt.Errorf("sample the table for mismatches: %w", err)
	}
	return checked, bad, sample, err
}
