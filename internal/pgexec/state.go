package pgexec

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/zdmhq/zdm/internal/plan"
)

// Status of a migration in zdm.migrations.
const (
	StatusRunning    = plan.StatusRunning
	StatusCompleted  = plan.StatusCompleted
	StatusRolledBack = plan.StatusRolledBack
	StatusFailed     = plan.StatusFailed
)

const stateDDL = `
CREATE SCHEMA IF NOT EXISTS zdm;
CREATE TABLE IF NOT EXISTS zdm.migrations (
	name        text PRIMARY KEY,
	table_name  text NOT NULL,
	run_id      text NOT NULL,
	status      text NOT NULL,
	cursor      text[],
	rows_done   bigint NOT NULL DEFAULT 0,
	batches     bigint NOT NULL DEFAULT 0,
	started_at  timestamptz NOT NULL DEFAULT now(),
	updated_at  timestamptz NOT NULL DEFAULT now(),
	finished_at timestamptz,
	tables      text[]
);
COMMENT ON TABLE zdm.migrations IS 'zdm: one row per migration; the backfill cursor is committed with each batch';
CREATE UNIQUE INDEX IF NOT EXISTS migrations_one_running_per_table ON zdm.migrations (table_name) WHERE status = 'running';
`

// EnsureState creates zdm's schema and bookkeeping tables if they are missing, and
// upgrades those an older zdm made (upgradeState).
func EnsureState(ctx context.Context, pool *pgxpool.Pool) error {
	var exists bool
	if err := pool.QueryRow(ctx, `SELECT to_regclass('zdm.migrations') IS NOT NULL`).Scan(&exists); err != nil {
		return fmt.Errorf("look for zdm.migrations: %w", err)
	}
	if exists {
		return upgradeState(ctx, pool)
	}
	// Two workers may race to create it; the loser sees a unique violation and retries.
	for attempt := 0; ; attempt++ {
		_, err := pool.Exec(ctx, stateDDL)
		var pe *pgconn.PgError
		if err != nil && errors.As(err, &pe) && pe.Code == "23505" && attempt < 3 {
			continue
		}
		if err != nil {
			return fmt.Errorf("create zdm.migrations: %w", err)
		}
		return upgradeState(ctx, pool)
	}
}

// BusyError says that another migration holds the table.
type BusyError struct{ Table, Holder string }

func (e *BusyError) Error() string {
	return fmt.Sprintf("table %s is already being migrated by %s: one migration per table at a time; wait for it, or reject it", e.Table, e.Holder)
}

// Claim records that migration name, run runID, migrates tables (schema.name; the first
// is the one it backfills, if any): no other running migration may hold any of them. It
// returns resuming=true when this run claimed them before (a retried activity), or when
// an earlier, abandoned run of the same name left its claim (its columns may still be
// there).
func Claim(ctx context.Context, pool *pgxpool.Pool, name string, tables []string, runID string) (resuming bool, err error) {
	main := ""
	if len(tables) > 0 {
		main = tables[0]
	}
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		// Claims are made one at a time; reads of zdm.migrations go on.
		if _, err := tx.Exec(ctx, `LOCK TABLE zdm.migrations IN SHARE ROW EXCLUSIVE MODE`); err != nil {
			return err
		}
		var holder, table, status, prevRun string
		err := tx.QueryRow(ctx, `SELECT name, t FROM zdm.migrations, unnest(coalesce(tables, ARRAY[table_name])) t
			WHERE status = 'running' AND name <> $2 AND t = ANY($1) LIMIT 1`, tables, name).Scan(&holder, &table)
		if err == nil {
			return &BusyError{Table: table, Holder: holder}
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		err = tx.QueryRow(ctx, `SELECT status, run_id FROM zdm.migrations WHERE name = $1 FOR UPDATE`, name).Scan(&status, &prevRun)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			_, err = tx.Exec(ctx, `INSERT INTO zdm.migrations (name, table_name, tables, run_id, status) VALUES ($1, $2, $3, $4, 'running')`, name, main, tables, runID)
			return err
		case err != nil:
			return err
		case status == StatusRunning && prevRun == runID:
			resuming = true
			return nil
		default:
			// A new run: start the count again. If an abandoned run left its columns,
			// expand is idempotent and the backfill rewrites every row anyway.
			resuming = status == StatusRunning
			_, err = tx.Exec(ctx, `UPDATE zdm.migrations SET table_name = $2, tables = $3, run_id = $4, status = 'running', cursor = NULL,
				rows_done = 0, proven_rows = 0, batches = 0, started_at = now(), updated_at = now(), finished_at = NULL WHERE name = $1`, name, main, tables, runID)
			return err
		}
	})
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "23505" {
		return false, &BusyError{Table: main, Holder: "another migration"}
	}
	return resuming, err
}

// Progress is what zdm.migrations says of a migration.
type Progress struct {
	Cursor   Cursor
	RowsDone int64
	Batches  int64
	Status   string
	RunID    string
}

// ReadProgress reads the committed cursor of migration name.
func ReadProgress(ctx context.Context, pool *pgxpool.Pool, name string) (Progress, error) {
	var p Progress
	var cur []string
	err := pool.QueryRow(ctx, `SELECT cursor, rows_done, batches, status, run_id FROM zdm.migrations WHERE name = $1`, name).
		Scan(&cur, &p.RowsDone, &p.Batches, &p.Status, &p.RunID)
	if err != nil {
		return p, fmt.Errorf("read progress of %s: %w", name, err)
	}
	p.Cursor = cur
	// A partitioned backfill commits its rows to its partitions' rows, not this one.
	rows, batches, err := PartitionTotals(ctx, pool, name, p.RunID)
	p.RowsDone, p.Batches = p.RowsDone+rows, p.Batches+batches
	return p, err
}

// Release marks the migration finished with status. With runID set, only a claim of that
// run still running is released. Without zdm.migrations there is nothing to release.
func Release(ctx context.Context, pool *pgxpool.Pool, name, status, runID string) error {
	var exists bool
	if err := pool.QueryRow(ctx, `SELECT to_regclass('zdm.migrations') IS NOT NULL`).Scan(&exists); err != nil || !exists {
		return err
	}
	_, err := pool.Exec(ctx, `UPDATE zdm.migrations SET status = $2, finished_at = now(), updated_at = now()
		WHERE name = $1 AND ($3 = '' OR (run_id = $3 AND status = 'running'))`, name, status, runID)
	return err
}
