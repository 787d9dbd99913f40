package pgexec

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/zdmhq/zdm/internal/plan"
)

// Throttle says when the backfill should hold (package plan, shared with the workflow).
type Throttle = plan.Throttle

// ThrottleReason returns why the backfill should wait now, or "" when it may go on.
func ThrottleReason(ctx context.Context, pool *pgxpool.Pool, t Throttle) (string, error) {
	if t.MaxReplicationLag > 0 {
		var lag float64
		err := pool.QueryRow(ctx, `SELECT coalesce(max(extract(epoch FROM replay_lag)), 0) FROM pg_stat_replication`).Scan(&lag)
		if err != nil {
			return "", fmt.Errorf("read replication lag: %w", err)
		}
		if d := time.Duration(lag * float64(time.Second)); d > t.MaxReplicationLag {
			return fmt.Sprintf("replication lag %s > max_replication_lag %s", d.Round(100*time.Millisecond), t.MaxReplicationLag), nil
		}
	}
	if t.Query != "" {
		var wait bool
		err := readOnly(ctx, pool, func(tx pgx.Tx) error { return tx.QueryRow(ctx, t.Query).Scan(&wait) })
		if errors.Is(err, pgx.ErrNoRows) {
			return "", nil
		}
		if err != nil {
			return "", fmt.Errorf("throttle_query: %w", err)
		}
		if wait {
			return "throttle_query returned true", nil
		}
	}
	return "", nil
}

// readOnly runs fn in a READ ONLY transaction with a short statement timeout: a user's
// query may read anything and change nothing.
func readOnly(ctx context.Context, pool *pgxpool.Pool, fn func(pgx.Tx) error) error {
	return pgx.BeginTxFunc(ctx, pool, pgx.TxOptions{AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT set_config('statement_timeout', '5s', true)"); err != nil {
			return err
		}
		return fn(tx)
	})
}

// CheckThrottleQuery runs the user's throttle query once, read-only, and checks that it
// returns one boolean column.
func CheckThrottleQuery(ctx context.Context, pool *pgxpool.Pool, q string) error {
	err := readOnly(ctx, pool, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, q)
		if err != nil {
			return err
		}
		fd := slices.Clone(rows.FieldDescriptions())
		for rows.Next() {
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		switch {
		case len(fd) != 1:
			return fmt.Errorf("returns %d columns, not one boolean", len(fd))
		case fd[0].DataTypeOID != 16:
			var typ string
			if err := tx.QueryRow(ctx, "SELECT format_type($1, NULL)", fd[0].DataTypeOID).Scan(&typ); err != nil {
				return err
			}
			return fmt.Errorf("returns %s, not boolean", typ)
		}
		return nil
	})
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return errors.New(pe.Message)
	}
	return err
}
