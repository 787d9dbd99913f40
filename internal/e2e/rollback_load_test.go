package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zdmhq/zdm/workflows"
)

// oldCodeInserts is the application before the migration, inserting and updating as fast
// as it can: it knows nothing of the new columns, so every insert leaves them to the
// trigger (and, with not_null, to the NOT VALID check).
func oldCodeInserts(next *int64Counter) func(ctx context.Context, pool *pgxpool.Pool, r *rand.Rand) error {
	return func(ctx context.Context, pool *pgxpool.Pool, r *rand.Rand) error {
		if r.IntN(2) == 0 {
			id := next.add()
			_, err := pool.Exec(ctx, `INSERT INTO accounts (aid, bid, abalance, name, email) VALUES ($1, 1, 0, $2, NULL)`, id, fmt.Sprintf("New %d", id))
			return err
		}
		_, err := pool.Exec(ctx, `UPDATE accounts SET email = NULL, name = name || '.' WHERE aid = $1`, 1+r.Int64N(20_000))
		return err
	}
}

// A rollback, from cancel or reject at any step before contract, must be the safest
// path: under the application's writes, none of them fails at any moment of it (the
// NOT VALID check, the trigger that fills the column and the column itself go
// together), and the table ends as it began.
func TestRollbackUnderLoadFailsNoWrite(t *testing.T) {
	cases := []struct {
		name string
		// when is how far the migration gets before the rollback is asked for.
		when func(t *testing.T, c *rollbackCase)
	}{
		{"cancel during expand", func(t *testing.T, c *rollbackCase) {}},
		{"cancel mid-backfill", func(t *testing.T, c *rollbackCase) {
			waitFor(t, time.Minute, "part of the backfill", func() bool {
				var n int64
				_ = c.pool.QueryRow(context.Background(), `SELECT coalesce((SELECT rows_done FROM zdm.migrations WHERE name = $1), 0)`, c.name).Scan(&n)
				return n > 5_000
			})
		}},
		{"cancel at the contract gate", func(t *testing.T, c *rollbackCase) {
			waitForGate(t, c.srv.Client, c.name, "contract", 2*time.Minute)
		}},
		{"reject at the contract gate", func(t *testing.T, c *rollbackCase) {
			waitForGate(t, c.srv.Client, c.name, "contract", 2*time.Minute)
			c.reject = true
		}},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dsn, pool := testDB(t)
			srv := startDevServer(t)
			queue := "zdm-e2e-" + randomSuffix()
			inProcessWorker(t, srv.Client, queue, dsn, false)
			accountsTable(t, pool, 20_000)
			before := schemaSnapshot(t, pool)

			next := &int64Counter{}
			next.v.Store(10_000_000)
			l := startLoad(t, pool, 4, oldCodeInserts(next))
			m := migration(t, fmt.Sprintf(`name: e2e-rollback-load-%d
table: accounts
operations:
  - add_column: {column: email_lower, type: text, backfill: "lower(email)", not_null: true, default: "'none'"}
  - rename_column: {column: name, to: full_name}
backfill: {batch_size: 500, pause: 5ms}
`, i))
			run := start(t, srv.Client, queue, m, workflows.Options{SliceBudget: time.Second})
			c := &rollbackCase{name: m.Name, pool: pool, srv: srv}
			tc.when(t, c)
			if c.reject {
				h, err := srv.Client.UpdateWorkflow(context.Background(), updateOpts(m.Name, workflows.UpdateReject, workflows.Decision{Gate: "contract", By: "e2e"}))
				require.NoError(t, err)
				require.NoError(t, h.Get(context.Background(), nil))
			} else {
				require.NoError(t, srv.Client.CancelWorkflow(context.Background(), run.GetID(), ""))
			}
			_, _ = result(t, run, 2*time.Minute)
			// The load goes on a little past the rollback, then stops.
			time.Sleep(300 * time.Millisecond)
			l.stop()
			l.report(t)
			assert.Zero(t, l.errs.Load(), "no application write may fail while the migration rolls back")
			assert.Greater(t, l.ops.Load(), int64(100), "the load must really have run")
			assert.Equal(t, before, schemaSnapshot(t, pool), "the table ends as it began")
			status := "none"
			if scalar[bool](t, pool, `SELECT to_regclass('zdm.migrations') IS NOT NULL`) {
				status = scalar[string](t, pool, `SELECT coalesce((SELECT status FROM zdm.migrations WHERE name = $1), 'none')`, m.Name)
			}
			if i == 0 {
				// Cancelled so early that it may not have claimed the table yet.
				assert.Contains(t, []string{"rolled_back", "failed", "none"}, status)
			} else {
				assert.Equal(t, "rolled_back", status)
			}
		})
	}
}

type rollbackCase struct {
	name   string
	pool   *pgxpool.Pool
	srv    *devServer
	reject bool
}
