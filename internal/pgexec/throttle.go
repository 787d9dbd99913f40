package pgexec

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Throttle says when the backfill should hold: a replica lagging too far behind, or a
// query of the user's saying so.
type Throttle struct {
	MaxReplicationLag time.Duration `json:"max_replication_lag,omitempty"`
	Query             string        `json:"query,omitempty"`
}

// Enabled says whether any check is set.
func (t Throttle) Enabled() bool { return t.MaxReplicationLag > 0 || t.Query != "" }

// Reason returns why the backfill should wait now, or "" when it may go on.
func (t Throttle) Reason(ctx context.Context, pool *pgxpool.Pool) (string, error) {
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
		err := pool.QueryRow(ctx, t.Query).Scan(&wait)
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
