package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zdmhq/zdm/internal/cli"
	"github.com/zdmhq/zdm/internal/demoapp"
	"github.com/zdmhq/zdm/workflows"
)

// zdm migrate examples/migrations on the demo's table, under the application's writes:
// the four migrations run in order (the last waits for its contract gate until a person
// approves), a second run starts nothing, and an applied file edited afterwards is
// reported and nothing runs.
func TestMigrateTheExampleDirectoryOnTheDemoTable(t *testing.T) {
	t.Parallel()
	dsn, pool := testDB(t)
	srv := startOwnDevServer(t)
	inProcessWorker(t, srv.Client, workflows.TaskQueue, dsn, false)
	require.NoError(t, demoapp.Seed(context.Background(), pool, "public.customers", 20_000))
	exec1(t, pool, `ANALYZE customers`)

	// A copy of the directory, so that the test can edit an applied file.
	dir := filepath.Join(t.TempDir(), "migrations")
	require.NoError(t, os.MkdirAll(dir, 0o755))
	files, err := filepath.Glob("../../examples/migrations/*.yaml")
	require.NoError(t, err)
	require.Len(t, files, 4)
	for _, f := range files {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(dir, filepath.Base(f)), b, 0o644))
	}

	next := &int64Counter{}
	next.v.Store(1_000_000)
	l := startLoad(t, pool, 2, func(ctx context.Context, pool *pgxpool.Pool, r *rand.Rand) error {
		if r.IntN(10) == 0 {
			id := next.add()
			_, err := pool.Exec(ctx, `INSERT INTO customers (id, name, email, balance) VALUES ($1, $2, $3, $4)`,
				id, fmt.Sprintf("New %d", id), fmt.Sprintf("new%d@example.com", id), r.IntN(1000))
			return err
		}
		_, err := pool.Exec(ctx, `UPDATE customers SET balance = balance + 1, updated_at = now() WHERE id = $1`, 1+r.Int64N(20_000))
		return err
	})

	var wg sync.WaitGroup
	var out, errOut syncBuffer
	code := -1
	wg.Add(1)
	go func() {
		defer wg.Done()
		code = zdmRun(t, srv.hostPort, dsn, &out, &errOut, "migrate", dir)
	}()
	waitFor(t, 3*time.Minute, "zdm migrate to wait at 004's contract gate", func() bool {
		return strings.Contains(out.String(), "waiting for the approval")
	})
	assert.True(t, scalar[bool](t, pool, `SELECT convalidated FROM pg_constraint WHERE conname = 'payments_customer_fk'`), "003 ran before 004")
	approve(t, srv.Client, "customers-balance-bigint", "contract")
	wg.Wait()
	l.stop()
	l.report(t)
	assert.Zero(t, l.errs.Load(), "the application's writes all succeeded")
	require.Equal(t, cli.ExitOK, code, out.String()+errOut.String())
	for i, f := range []string{"001_customers_email_lower_idx.yaml", "002_payments.yaml", "003_payments_customer_fk.yaml", "004_customers_balance_bigint.yaml"} {
		assert.Contains(t, out.String(), fmt.Sprintf("[%d/4] %s", i+1, f))
	}
	assert.Contains(t, out.String(), "done: 4 migrations applied (4 by this run)")

	assert.True(t, scalar[bool](t, pool, `SELECT indisvalid FROM pg_index WHERE indexrelid = 'customers_email_lower_idx'::regclass`))
	exec1(t, pool, `INSERT INTO payments (customer_id, amount) VALUES (1, 9.99)`)
	assert.Equal(t, "23503", execErr(t, pool, `INSERT INTO payments (customer_id) VALUES (-1)`), "the foreign key holds")
	assert.Equal(t, "bigint", scalar[string](t, pool, `SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = 'customers'::regclass AND attname = 'balance'`))
	assert.True(t, scalar[bool](t, pool, `SELECT convalidated FROM pg_constraint WHERE conname = 'customers_balance_nonneg'`))
	assert.True(t, scalar[bool](t, pool, `SELECT attnotnull FROM pg_attribute WHERE attrelid = 'customers'::regclass AND attname = 'balance'`), "NOT NULL carried")

	// Again: nothing to do.
	zdm := zdmCLI(t, srv.hostPort, dsn)
	c, o, _ := zdm("migrate", dir)
	require.Equal(t, cli.ExitOK, c)
	assert.Equal(t, "nothing to do: 4 migrations applied\n", o)

	// An applied file edited: reported, nothing runs.
	edited := filepath.Join(dir, "002_payments.yaml")
	b, err := os.ReadFile(edited)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(edited, append(b, []byte("# edited after it ran\n")...), 0o644))
	c, o, e := zdm("migrate", dir)
	assert.Equal(t, cli.ExitFailed, c)
	assert.Contains(t, e, edited+" was edited after it was applied on ")
	assert.NotContains(t, o, "[1/")
	assert.Len(t, historyRows(t, pool), 4)
}

// execErr runs sql and returns the SQLSTATE it fails with ("" when it succeeds).
func execErr(t *testing.T, pool *pgxpool.Pool, sql string, args ...any) string {
	t.Helper()
	_, err := pool.Exec(context.Background(), sql, args...)
	if err == nil {
		return ""
	}
	var pe *pgconn.PgError
	require.ErrorAs(t, err, &pe, "%s failed without an SQLSTATE", sql)
	return pe.Code
}
