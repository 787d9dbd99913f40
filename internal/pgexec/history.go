package pgexec

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// StatusBaselined marks a migration recorded as applied without being run (zdm
// baseline): the project applied it before it adopted zdm.
const StatusBaselined = "baselined"

// BaselineRunID is the run_id of a baselined migration's history row.
const BaselineRunID = "baseline"

// historyDDL upgrades zdm's schema made by an older zdm: zdm.migrations learns the file,
// checksum and starter of its latest run and every table a migration claims, and zdm.history keeps one row per run. Every
// statement is idempotent; the runs zdm.migrations already knows seed the history.
const historyDDL = `
ALTER TABLE zdm.migrations
	ADD COLUMN IF NOT EXISTS file       text,
	ADD COLUMN IF NOT EXISTS checksum   text,
	ADD COLUMN IF NOT EXISTS started_by text,
	ADD COLUMN IF NOT EXISTS tables     text[];
CREATE TABLE IF NOT EXISTS zdm.history (
	name        text NOT NULL,
	run_id      text NOT NULL,
	file        text NOT NULL DEFAULT '',
	checksum    text NOT NULL DEFAULT '',
	started_by  text NOT NULL DEFAULT '',
	status      text NOT NULL,
	started_at  timestamptz NOT NULL DEFAULT now(),
	finished_at timestamptz,
	PRIMARY KEY (name, run_id)
);
COMMENT ON TABLE zdm.history IS 'zdm: one row per run of a migration (zdm history); baselined rows were never run';
INSERT INTO zdm.history (name, run_id, file, checksum, started_by, status, started_at, finished_at)
	SELECT name, run_id, coalesce(file, ''), coalesce(checksum, ''), coalesce(started_by, ''), status, started_at, finished_at
	FROM zdm.migrations
	ON CONFLICT (name, run_id) DO NOTHING;
`

// historyLock is the advisory lock key that serializes upgrades of zdm's schema between
// workers (and zdm baseline) starting at the same time.
const historyLock = 0x7a646d68 // "zdmh"

// upgradeState brings zdm's schema up to what history needs. It looks first, so that a
// schema already upgraded costs one query and takes no lock; otherwise the upgrade runs
// in one transaction under an advisory lock, so that two workers racing do it once, and
// under a lock_timeout, because ALTER TABLE waits for running backfill batches (which
// update zdm.migrations) and would hold up the next ones behind it.
func upgradeState(ctx context.Context, pool *pgxpool.Pool) error {
	if err := upgradePartitions(ctx, pool); err != nil {
		return err
	}
	if ok, err := historyReady(ctx, pool); err != nil {
		return err
	} else if ok {
		return upgradeProof(ctx, pool)
	}
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SET LOCAL lock_timeout = '5s'`); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(historyLock)); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, historyDDL)
		return err
	})
	if err != nil {
		return fmt.Errorf("upgrade zdm's schema for history (zdm.history, zdm.migrations.checksum): %w", err)
	}
	return upgradeProof(ctx, pool)
}

// historyReady says whether zdm.history exists and zdm.migrations has history's columns.
func historyReady(ctx context.Context, pool *pgxpool.Pool) (bool, error) {
	var ok bool
	err := pool.QueryRow(ctx, `SELECT to_regclass('zdm.history') IS NOT NULL AND
		(SELECT count(*) FROM pg_attribute WHERE attrelid = 'zdm.migrations'::regclass
			AND attname IN ('file', 'checksum', 'started_by', 'tables') AND NOT attisdropped) = 4`).Scan(&ok)
	if err != nil {
		return false, fmt.Errorf("look for zdm.history: %w", err)
	}
	return ok, nil
}

// Run is one run of a migration, as zdm.history records it.
type Run struct {
	Name       string     `json:"name"`
	RunID      string     `json:"run_id"`
	File       string     `json:"file"`
	Checksum   string     `json:"checksum"`
	StartedBy  string     `json:"started_by"`
	Status     string     `json:"status"`
	StartedAt  time.Time  `json:"started_at"`
	FinishedAt *time.Time `json:"finished_at,omitempty"`
}

// Applied says whether the run counts as the migration being in the database.
func (r Run) Applied() bool { return r.Status == StatusCompleted || r.Status == StatusBaselined }

// RunRecord is what the worker records of a run when it claims the table.
type RunRecord struct {
	Name, RunID, File, Checksum, StartedBy string
}

// RecordRun records run r of a migration that has just claimed its table: its history
// row (kept as it is when a retried activity records it again) and the file, checksum
// and starter of zdm.migrations' row.
func RecordRun(ctx context.Context, pool *pgxpool.Pool, r RunRecord) error {
	return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO zdm.history (name, run_id, file, checksum, started_by, status)
			VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (name, run_id) DO NOTHING`,
			r.Name, r.RunID, r.File, r.Checksum, r.StartedBy, StatusRunning); err != nil {
			return fmt.Errorf("record run %s of %s in zdm.history: %w", r.RunID, r.Name, err)
		}
		if _, err := tx.Exec(ctx, `UPDATE zdm.migrations SET file = $3, checksum = $4, started_by = $5
			WHERE name = $1 AND run_id = $2`, r.Name, r.RunID, r.File, r.Checksum, r.StartedBy); err != nil {
			return fmt.Errorf("record the file of %s in zdm.migrations: %w", r.Name, err)
		}
		return nil
	})
}

// FinishRun records how a run ended in its history row: run runID, or, when runID is
// empty, the run zdm.migrations holds for the migration. A run already finished is left
// as it is, so a retried activity changes nothing; without zdm.history (a database no
// worker of this version has prepared a migration in) there is nothing to record.
func FinishRun(ctx context.Context, pool *pgxpool.Pool, name, status, runID string) error {
	var exists bool
	if err := pool.QueryRow(ctx, `SELECT to_regclass('zdm.history') IS NOT NULL`).Scan(&exists); err != nil || !exists {
		return err
	}
	_, err := pool.Exec(ctx, `UPDATE zdm.history SET status = $2, finished_at = now()
		WHERE name = $1 AND finished_at IS NULL AND status = 'running'
		AND run_id = coalesce(nullif($3, ''), (SELECT run_id FROM zdm.migrations WHERE name = $1))`, name, status, runID)
	if err != nil {
		return fmt.Errorf("record the end of %s in zdm.history: %w", name, err)
	}
	return nil
}

// ErrNoState says that zdm has never run on the database: it has no zdm.migrations.
var ErrNoState = errors.New("no migration has run on this database")

// ReadRuns lists every run zdm's bookkeeping knows, oldest first. Where zdm.migrations
// holds a run (its latest) the status and end come from there, the authority on a run
// that an older worker may have finished; a database an older zdm made, without
// zdm.history, gives one run per migration. Without zdm's schema it returns ErrNoState.
// It changes nothing.
func ReadRuns(ctx context.Context, pool *pgxpool.Pool) ([]Run, error) {
	var migrations, history, columns bool
	err := pool.QueryRow(ctx, `SELECT to_regclass('zdm.migrations') IS NOT NULL, to_regclass('zdm.history') IS NOT NULL,
		EXISTS (SELECT FROM pg_attribute WHERE attrelid = to_regclass('zdm.migrations') AND attname = 'checksum' AND NOT attisdropped)`).
		Scan(&migrations, &history, &columns)
	if err != nil {
		return nil, fmt.Errorf("look for zdm's schema: %w", err)
	}
	if !migrations {
		return nil, ErrNoState
	}
	var q string
	switch {
	case history:
		q = `SELECT h.name, h.run_id, h.file, h.checksum, h.started_by,
				CASE WHEN h.status = 'baselined' THEN h.status ELSE coalesce(m.status, h.status) END,
				h.started_at, CASE WHEN m.name IS NULL THEN h.finished_at ELSE m.finished_at END
			FROM zdm.history h LEFT JOIN zdm.migrations m ON m.name = h.name AND m.run_id = h.run_id
			UNION ALL
			SELECT m.name, m.run_id, coalesce(m.file, ''), coalesce(m.checksum, ''), coalesce(m.started_by, ''), m.status, m.started_at, m.finished_at
			FROM zdm.migrations m
			WHERE NOT EXISTS (SELECT FROM zdm.history h WHERE h.name = m.name AND h.run_id = m.run_id)
			ORDER BY 7, 3, 1, 2`
	case columns:
		q = `SELECT name, run_id, coalesce(file, ''), coalesce(checksum, ''), coalesce(started_by, ''), status, started_at, finished_at
			FROM zdm.migrations ORDER BY started_at, name`
	default:
		q = `SELECT name, run_id, '', '', '', status, started_at, finished_at FROM zdm.migrations ORDER BY started_at, name`
	}
	rows, err := pool.Query(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("read zdm.history: %w", err)
	}
	runs, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Run, error) {
		var r Run
		err := row.Scan(&r.Name, &r.RunID, &r.File, &r.Checksum, &r.StartedBy, &r.Status, &r.StartedAt, &r.FinishedAt)
		return r, err
	})
	if err != nil {
		return nil, fmt.Errorf("read zdm.history: %w", err)
	}
	return runs, nil
}

// LatestRuns is the newest run of each migration among runs (oldest first, as ReadRuns
// gives them), by migration name.
func LatestRuns(runs []Run) map[string]Run {
	out := make(map[string]Run, len(runs))
	for _, r := range runs {
		out[r.Name] = r
	}
	return out
}

// BaselineEntry is one migration zdm baseline records as applied.
type BaselineEntry struct {
	Name, File, Checksum string
}

// ConflictError says that a migration zdm baseline would record already has a run.
type ConflictError struct {
	Entry BaselineEntry
	Run   Run
}

func (e *ConflictError) Error() string {
	if e.Run.Status == StatusBaselined {
		return fmt.Sprintf("%s (migration %s) was baselined on %s with checksum %s, but the file's checksum is now %s: restore the file as it was",
			e.Entry.File, e.Entry.Name, e.Run.StartedAt.Format(time.RFC3339), short(e.Run.Checksum), short(e.Entry.Checksum))
	}
	return fmt.Sprintf("%s (migration %s) already has a run on this database (%s, started %s): baseline records only migrations that never ran here",
		e.Entry.File, e.Entry.Name, e.Run.Status, e.Run.StartedAt.Format(time.RFC3339))
}

func short(checksum string) string {
	if len(checksum) > 12 {
		return checksum[:12]
	}
	return checksum
}

// Baseline records entries as applied without running them, all of them or none: an
// entry already baselined with the same checksum is left as it is, and an entry with any
// other run refuses the whole baseline (ConflictError). It returns the entries it
// recorded. zdm's schema is created (or upgraded) first.
func Baseline(ctx context.Context, pool *pgxpool.Pool, entries []BaselineEntry, by string) (recorded []BaselineEntry, err error) {
	if err := EnsureState(ctx, pool); err != nil {
		return nil, err
	}
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		// One baseline at a time: two would both find the names free.
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(historyLock)); err != nil {
			return err
		}
		recorded = nil
		for _, e := range entries {
			var r Run
			err := tx.QueryRow(ctx, `SELECT name, run_id, checksum, status, started_at FROM (
					SELECT name, run_id, checksum, status, started_at FROM zdm.history WHERE name = $1
					UNION ALL
					SELECT name, run_id, coalesce(checksum, ''), status, started_at FROM zdm.migrations WHERE name = $1) runs
				ORDER BY (status = 'baselined') LIMIT 1`, e.Name).Scan(&r.Name, &r.RunID, &r.Checksum, &r.Status, &r.StartedAt)
			switch {
			case errors.Is(err, pgx.ErrNoRows):
			case err != nil:
				return fmt.Errorf("read the runs of %s: %w", e.Name, err)
			case r.Status == StatusBaselined && r.Checksum == e.Checksum:
				continue
			default:
				return &ConflictError{Entry: e, Run: r}
			}
			if _, err := tx.Exec(ctx, `INSERT INTO zdm.history (name, run_id, file, checksum, started_by, status, finished_at)
				VALUES ($1, $2, $3, $4, $5, $6, now())`, e.Name, BaselineRunID, e.File, e.Checksum, by, StatusBaselined); err != nil {
				return fmt.Errorf("record %s as baselined: %w", e.Name, err)
			}
			recorded = append(recorded, e)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return recorded, nil
}
