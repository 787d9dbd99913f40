package pgexec_test

import (
	"context"
	"net/url"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/zdmhq/zdm/activities"
	"github.com/zdmhq/zdm/internal/pgexec"
	"github.com/zdmhq/zdm/internal/spec"
)

// BenchmarkBackfill compares, on two identical tables of ZDM_BENCH_ROWS rows (default
// 1,000,000; pgbench_accounts' shape), the rate of one `UPDATE t SET new = old` with the
// rate of zdm's batched backfill (sync trigger installed, cursor committed per batch).
// Run it with make bench; it reports rows/s of both and their ratio.
func BenchmarkBackfill(b *testing.B) {
	dsn := os.Getenv("DATABASE_URL")
	if dsn == "" {
		b.Skip("needs DATABASE_URL (run make bench)")
	}
	rows := int64(1_000_000)
	if v := os.Getenv("ZDM_BENCH_ROWS"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		require.NoError(b, err)
		rows = n
	}
	batch := 10000
	if v := os.Getenv("ZDM_BENCH_BATCH"); v != "" {
		n, err := strconv.Atoi(v)
		require.NoError(b, err)
		batch = n
	}
	ctx := context.Background()
	pool := benchDB(b, dsn)
	for i := 0; i < b.N; i++ {
		for _, t := range []string{"single", "zdm"} {
			mustExec(b, pool, "DROP TABLE IF EXISTS "+t)
			mustExec(b, pool, "CREATE TABLE "+t+" (aid int PRIMARY KEY, bid int, abalance int, filler char(84))")
			mustExec(b, pool, "INSERT INTO "+t+" SELECT g, g % 10, (g * 7) % 100000, '' FROM generate_series(1, $1::int) g", rows)
			mustExec(b, pool, "VACUUM ANALYZE "+t)
		}
		mustExec(b, pool, "DROP SCHEMA IF EXISTS zdm CASCADE")

		// The 3 AM baseline: one statement rewriting the column.
		mustExec(b, pool, "ALTER TABLE single ADD COLUMN abalance_new bigint")
		checkpoint(b, pool)
		start := time.Now()
		mustExec(b, pool, "UPDATE single SET abalance_new = abalance")
		single := time.Since(start)

		// zdm: expand, then every batch until the range is done.
		m, err := spec.Parse("bench.yaml", []byte("name: bench\ntable: zdm\noperations:\n  - change_type: {column: abalance, type: bigint}\nbackfill: {batch_size: "+strconv.Itoa(batch)+"}\n"))
		require.NoError(b, err)
		plan, err := activities.Plan(ctx, &activities.Activities{DB: pool}, m, false)
		require.NoError(b, err)
		require.NoError(b, pgexec.EnsureState(ctx, pool))
		_, err = pgexec.Claim(ctx, pool, m.Name, plan.Claims(), "bench")
		require.NoError(b, err)
		_, err = pgexec.Exec(ctx, pool, plan.Expand, plan.LockTimeout, pgexec.DefaultRetry)
		require.NoError(b, err)
		target := pgexec.TargetOf(plan)
		upper, err := pgexec.Upper(ctx, pool, target)
		require.NoError(b, err)
		var cursor pgexec.Cursor
		var done int64
		bf := &pgexec.Backfiller{Pool: pool, Target: target, Upper: upper, Size: m.Backfill.BatchSize}
		checkpoint(b, pool)
		start = time.Now()
		for {
			bt, err := bf.Next(ctx, cursor)
			require.NoError(b, err)
			cursor, done = bt.Cursor, done+bt.Rows
			if bt.Done {
				break
			}
		}
		zdm := time.Since(start)
		require.Equal(b, rows, done)

		singleRate := float64(rows) / single.Seconds()
		zdmRate := float64(rows) / zdm.Seconds()
		b.ReportMetric(singleRate, "single_update_rows/s")
		b.ReportMetric(zdmRate, "zdm_backfill_rows/s")
		b.ReportMetric(zdmRate/singleRate, "ratio")
		b.Logf("%d rows: single UPDATE %s (%.0f rows/s); zdm backfill, batches of %d, %s (%.0f rows/s); ratio %.2f",
			rows, single.Round(time.Millisecond), singleRate, m.Backfill.BatchSize, zdm.Round(time.Millisecond), zdmRate, zdmRate/singleRate)
	}
}

func benchDB(b *testing.B, dsn string) *pgxpool.Pool {
	b.Helper()
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, dsn)
	require.NoError(b, err)
	name := "zdm_bench"
	_, _ = admin.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
	_, err = admin.Exec(ctx, "CREATE DATABASE "+name)
	require.NoError(b, err)
	u, err := url.Parse(dsn)
	require.NoError(b, err)
	u.Path = "/" + name
	pool, err := pgxpool.New(ctx, u.String())
	require.NoError(b, err)
	b.Cleanup(func() {
		pool.Close()
		_, _ = admin.Exec(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
		_ = admin.Close(context.Background())
	})
	return pool
}

func mustExec(b *testing.B, pool *pgxpool.Pool, sql string, args ...any) {
	b.Helper()
	_, err := pool.Exec(context.Background(), sql, args...)
	require.NoError(b, err, sql)
}

// checkpoint starts a measurement with no WAL pending, so neither side pays for the
// other's full-page writes. It needs pg_checkpoint (granted by make up / make test).
func checkpoint(b *testing.B, pool *pgxpool.Pool) {
	b.Helper()
	if _, err := pool.Exec(context.Background(), "CHECKPOINT"); err != nil {
		b.Logf("no CHECKPOINT before measuring (%v): the figures may carry the other run's WAL", err)
	}
}

// BenchmarkTriggerWrites measures what the sync trigger costs the application: the same
// single-row UPDATEs and INSERTs that old code makes, timed one by one, on a table
// without zdm and on the same table after expand (rename_column and add_column, whose
// trigger computes both new columns with the expressions of the file). It reports the
// median and 99th percentile latency of each, in microseconds.
func BenchmarkTriggerWrites(b *testing.B) {
	dsn := os.Getenv("DATABASE_URL")
	if dsn == "" {
		b.Skip("needs DATABASE_URL (run make bench)")
	}
	const rows, writes = 200_000, 5_000
	ctx := context.Background()
	pool := benchDB(b, dsn)
	for i := 0; i < b.N; i++ {
		mustExec(b, pool, "DROP TABLE IF EXISTS accounts")
		mustExec(b, pool, "DROP SCHEMA IF EXISTS zdm CASCADE")
		mustExec(b, pool, `CREATE TABLE accounts (aid bigint PRIMARY KEY, bid int NOT NULL, abalance int NOT NULL DEFAULT 0,
			name text NOT NULL, email text NOT NULL, updated_at timestamptz NOT NULL DEFAULT now())`)
		mustExec(b, pool, `INSERT INTO accounts SELECT g, g % 10, 0, 'Name ' || g, 'User.' || g || '@Example.COM', now() FROM generate_series(1, $1::int) g`, rows)
		mustExec(b, pool, "VACUUM ANALYZE accounts")

		measure := func(label string, from int64) (p50, p99 time.Duration) {
			return writeLatency(b, label, writes, func(w int64) {
				mustExec(b, pool, `UPDATE accounts SET abalance = abalance + 1, email = $2 WHERE aid = $1`, 1+(w*7919)%rows, "u"+strconv.FormatInt(w, 10)+"@Example.COM")
			}, func(w int64) {
				mustExec(b, pool, `INSERT INTO accounts (aid, bid, name, email) VALUES ($1, 1, 'new', 'N@Example.COM')`, from+w)
			})
		}
		plainP50, plainP99 := measure("no trigger", 10_000_000)

		m, err := spec.Parse("bench.yaml", []byte(`name: bench-trigger
table: accounts
operations:
  - rename_column: {column: name, to: full_name}
  - add_column: {column: email_lower, type: text, backfill: "lower(email)", not_null: true}
`))
		require.NoError(b, err)
		plan, err := activities.Plan(ctx, &activities.Activities{DB: pool}, m, false)
		require.NoError(b, err)
		require.NoError(b, pgexec.EnsureState(ctx, pool))
		_, err = pgexec.Exec(ctx, pool, plan.Expand, plan.LockTimeout, pgexec.DefaultRetry)
		require.NoError(b, err)
		syncP50, syncP99 := measure("zdm sync trigger", 20_000_000)

		b.ReportMetric(float64(plainP50.Microseconds()), "plain_p50_us")
		b.ReportMetric(float64(plainP99.Microseconds()), "plain_p99_us")
		b.ReportMetric(float64(syncP50.Microseconds()), "trigger_p50_us")
		b.ReportMetric(float64(syncP99.Microseconds()), "trigger_p99_us")
	}
}

// writeLatency times n updates and n inserts, one of each in turn (update(w), insert(w)
// for w from 0), and logs and returns the median and the 99th percentile.
func writeLatency(b *testing.B, label string, n int64, update, insert func(w int64)) (p50, p99 time.Duration) {
	b.Helper()
	lat := make([]time.Duration, 0, 2*n)
	for w := int64(0); w < n; w++ {
		start := time.Now()
		update(w)
		lat = append(lat, time.Since(start))
		start = time.Now()
		insert(w)
		lat = append(lat, time.Since(start))
	}
	slices.Sort(lat)
	p50, p99 = lat[len(lat)/2], lat[len(lat)*99/100]
	b.Logf("%s: %d writes, p50 %s, p99 %s", label, len(lat), p50, p99)
	return p50, p99
}
