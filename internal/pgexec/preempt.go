package pgexec

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// preemptAutovacuum gets an autovacuum that holds table out of zdm's way without making
// the application wait. It asks for SHARE UPDATE EXCLUSIVE, a mode that no SELECT,
// INSERT, UPDATE or DELETE conflicts with (so nothing queues behind the request), and
// waits for it a little past deadlock_timeout: PostgreSQL then cancels the autovacuum
// that blocks a lock request, as it does for any DDL, unless that autovacuum runs to
// prevent transaction ID wraparound, which it lets finish. zdm signals no session itself.
// The lock is let go at once: the next try of zdm's statement finds the table free, and
// autovacuum comes back to the table on its own later.
//
// It reports whether zdm got the lock, that is whether the autovacuum is gone.
func preemptAutovacuum(ctx context.Context, pool *pgxpool.Pool, table string) (bool, error) {
	var schema, name string
	var deadlock float64
	err := pool.QueryRow(ctx, `SELECT n.nspname, c.relname, extract(epoch FROM current_setting('deadlock_timeout')::interval) * 1000
		FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = to_regclass($1)`, table).Scan(&schema, &name, &deadlock)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil // the table is gone: the statement's own try will say so
	}
	if err != nil {
		return false, fmt.Errorf("find %s: %w", table, err)
	}
	wait := time.Duration(deadlock)*time.Millisecond + time.Second
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT set_config('lock_timeout', $1, true), set_config('statement_timeout', '0', true)`,
			fmt.Sprintf("%dms", wait.Milliseconds())); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, fmt.Sprintf("LOCK TABLE %s IN SHARE UPDATE EXCLUSIVE MODE", pgx.Identifier{schema, name}.Sanitize()))
		return err
	})
	if IsLockTimeout(err) {
		return false, nil // a wraparound autovacuum, or another VACUUM: wait for it
	}
	if err != nil {
		return false, fmt.Errorf("ask for SHARE UPDATE EXCLUSIVE on %s: %w", table, err)
	}
	return true, nil
}
