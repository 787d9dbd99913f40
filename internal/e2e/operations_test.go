package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zdmhq/zdm/workflows"
)

const e2eRows = 200_000

// accountsTable makes a pgbench-like table of n rows.
func accountsTable(t *testing.T, pool *pgxpool.Pool, n int) {
	t.Helper()
	exec1(t, pool, `CREATE TABLE accounts (aid bigint PRIMARY KEY, bid int NOT NULL, abalance int NOT NULL DEFAULT 0,
		name text NOT NULL, email text, filler char(40))`)
	exec1(t, pool, `INSERT INTO accounts SELECT g, g % 10, (g * 7) % 100000, 'Name ' || g, 'User.' || g || '@Example.COM', ''
		FROM generate_series(1, $1::bigint) g`, n)
	// Indexes on the columns that change_type and rename_column replace: zdm builds them
	// again on the new columns and gives them their names back at contract.
	exec1(t, pool, `CREATE INDEX accounts_abalance_idx ON accounts (abalance DESC)`)
	exec1(t, pool, `ALTER TABLE accounts ADD CONSTRAINT accounts_name_key UNIQUE (name)`)
	exec1(t, pool, `ANALYZE accounts`)
}

// oldCodeWrites updates and inserts rows the way code from before the migration does:
// it knows only the old columns.
func oldCodeWrites(next *int64Counter) func(ctx context.Context, pool *pgxpool.Pool, r *rand.Rand) error {
	return func(ctx context.Context, pool *pgxpool.Pool, r *rand.Rand) error {
		switch r.IntN(10) {
		case 0:
			id := next.add()
			_, err := pool.Exec(ctx, `INSERT INTO accounts (aid, bid, abalance, name, email) VALUES ($1, 1, $2, $3, $4)`,
				id, r.IntN(1000), fmt.Sprintf("New %d", id), fmt.Sprintf("New.%d@Example.COM", id))
			return err
		default:
			id := 1 + r.Int64N(e2eRows)
			_, err := pool.Exec(ctx, `UPDATE accounts SET abalance = abalance + 1, name = name || '.', email = $2 WHERE aid = $1`,
				id, fmt.Sprintf("Upd.%d.%d@Example.COM", id, r.IntN(100)))
			return err
		}
	}
}

type int64Counter struct{ v atomicInt64 }

func (c *int64Counter) add() int64 { return c.v.Add(1) }

func TestOperationsUnderConcurrentWrites(t *testing.T) {
	cases := []struct {
		name     string
		op       string
		mismatch string // rows where the new column disagrees with the old, checked at the contract gate
		final    string // a check on the contracted table: must return 0
		index    string // an index that must be back, valid, on the final column
	}{
		{"change_type", `change_type: {column: abalance, type: bigint}`,
			`SELECT count(*) FROM accounts WHERE _zdm_abalance IS DISTINCT FROM abalance::bigint`,
			`SELECT count(*) FROM information_schema.columns WHERE table_name = 'accounts' AND column_name = 'abalance' AND data_type <> 'bigint'`,
			`CREATE INDEX accounts_abalance_idx ON public.accounts USING btree (abalance DESC)`},
		{"add_column", `add_column: {column: email_lower, type: text, backfill: "lower(email)", not_null: true, default: "''"}`,
			`SELECT count(*) FROM accounts WHERE email_lower IS DISTINCT FROM lower(email)`,
			`SELECT count(*) FROM information_schema.columns WHERE table_name = 'accounts' AND column_name = 'email_lower' AND is_nullable = 'YES'`,
			`CREATE UNIQUE INDEX accounts_name_key ON public.accounts USING btree (name)`},
		{"rename_column", `rename_column: {column: name, to: full_name}`,
			`SELECT count(*) FROM accounts WHERE full_name IS DISTINCT FROM name`,
			`SELECT count(*) FROM information_schema.columns WHERE table_name = 'accounts' AND column_name IN ('name') OR (table_name = 'accounts' AND column_name = 'full_name' AND is_nullable = 'YES')`,
			`CREATE UNIQUE INDEX accounts_name_key ON public.accounts USING btree (full_name)`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			dsn, pool := testDB(t)
			srv := startDevServer(t)
			queue := "zdm-e2e-" + randomSuffix()
			inProcessWorker(t, srv.Client, queue, dsn, false)
			accountsTable(t, pool, e2eRows)

			next := &int64Counter{}
			next.v.Store(10_000_000)
			l := startLoad(t, pool, 4, oldCodeWrites(next))

			m := migration(t, fmt.Sprintf("name: e2e-%s\ntable: accounts\noperations:\n  - %s\nbackfill: {batch_size: 5000}\ngates: [contract]\n", strings.ReplaceAll(c.name, "_", "-"), c.op))
			run := start(t, srv.Client, queue, m, workflows.Options{SliceBudget: time.Second})

			p := waitForGate(t, srv.Client, m.Name, "contract", 3*time.Minute)
			l.stop()
			l.report(t)
			assert.Zero(t, l.errs.Load(), "old code must keep working during expand and backfill")
			assert.Greater(t, l.ops.Load(), int64(100), "the load must really have run")
			assert.GreaterOrEqual(t, p.RowsDone, int64(e2eRows))
			assert.Zero(t, scalar[int64](t, pool, c.mismatch), "rows whose new column disagrees with the old")

			approve(t, srv.Client, m.Name, "contract")
			res, err := result(t, run, 2*time.Minute)
			require.NoError(t, err)
			assert.Equal(t, workflows.PhaseCompleted, res.Status)
			assert.Zero(t, scalar[int64](t, pool, c.final))
			assert.Contains(t, indexDefs(t, pool), c.index)
			assert.Zero(t, scalar[int64](t, pool, `SELECT count(*) FROM pg_index WHERE indrelid = 'accounts'::regclass AND NOT indisvalid`))
			if c.name == "rename_column" {
				assert.Equal(t, "UNIQUE (full_name)", scalar[string](t, pool, `SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = 'accounts_name_key'`))
			}
			assert.Zero(t, scalar[int64](t, pool, `SELECT count(*) FROM pg_trigger WHERE tgrelid = 'accounts'::regclass AND NOT tgisinternal`))
			assert.Zero(t, scalar[int64](t, pool, `SELECT count(*) FROM information_schema.columns WHERE table_name = 'accounts' AND column_name LIKE '\_zdm%'`))
			assert.Equal(t, "completed", scalar[string](t, pool, `SELECT status FROM zdm.migrations WHERE name = $1`, m.Name))
		})
	}
}

func indexDefs(t *testing.T, pool *pgxpool.Pool) []string {
	t.Helper()
	rows, err := pool.Query(context.Background(), `SELECT pg_get_indexdef(indexrelid) FROM pg_index WHERE indrelid = 'accounts'::regclass ORDER BY 1`)
	require.NoError(t, err)
	defs, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	return defs
}
