package pgexec_test

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/zdmhq/zdm/internal/benchpg"
	"github.com/zdmhq/zdm/internal/pgexec"
	"github.com/zdmhq/zdm/internal/planner"
)

// contractUnderLoad is the contract of pgbench_accounts.abalance int -> bigint as zdm
// rehearses it before its gates: catalog-only statements under ACCESS EXCLUSIVE, in one
// transaction, rolled back (so the same run can be tried again and again).
var contractUnderLoad = []planner.Statement{
	{ID: "drop old", SQL: `ALTER TABLE pgbench_accounts DROP COLUMN abalance`, Lock: planner.LockBriefExclusive},
	{ID: "rename new", SQL: `ALTER TABLE pgbench_accounts RENAME COLUMN abalance_zdm TO abalance`, Lock: planner.LockBriefExclusive},
	{ID: "default", SQL: `ALTER TABLE pgbench_accounts ALTER COLUMN abalance SET DEFAULT 0`, Lock: planner.LockBriefExclusive},
}

// BenchmarkContractUnderLoad measures the contract's chance of getting through while
// pgbench offers ZDM_BENCH_DDL_RATE (300) transactions per second to a pgbench table of
// ZDM_BENCH_DDL_SCALE (10: 1,000,000 accounts): for each lock timeout of
// ZDM_BENCH_DDL_TIMEOUTS (20ms,50ms,100ms,500ms), ZDM_BENCH_DDL_REPS (3) rehearsals of
// the contract with zdm's default retry, and the same at 500ms with the retry of the
// code before it (200ms doubling to 10s, no look at the lock's holders). It reports the
// tries until success, the time, how many holders it waited for, and the
// application's p99 and max latency over the transactions that ended while it ran
// (pgbench -l with -R: counted from each transaction's scheduled start, so time queued
// behind the ALTER counts). The same again while a VACUUM (slowed down) holds the table
// for ZDM_BENCH_DDL_VACUUM_MS (8000), as autovacuum does after a backfill. Baseline: the same load with no DDL, between runs.
// Run it with make bench (ZDM_BENCH_DDL=0 leaves it out); it needs pgbench.
func BenchmarkContractUnderLoad(b *testing.B) {
	dsn := os.Getenv("DATABASE_URL")
	if dsn == "" {
		b.Skip("needs DATABASE_URL (run make bench)")
	}
	if _, err := exec.LookPath("pgbench"); err != nil {
		b.Skip("needs pgbench (postgresql-client)")
	}
	scale := envInt(b, "ZDM_BENCH_DDL_SCALE", 10)
	rate := envInt(b, "ZDM_BENCH_DDL_RATE", 300)
	reps := envInt(b, "ZDM_BENCH_DDL_REPS", 3)
	timeouts := []time.Duration{20 * time.Millisecond, 50 * time.Millisecond, 100 * time.Millisecond, 500 * time.Millisecond}
	if v := os.Getenv("ZDM_BENCH_DDL_TIMEOUTS"); v != "" {
		timeouts = nil
		for _, f := range strings.Split(v, ",") {
			d, err := time.ParseDuration(strings.TrimSpace(f))
			require.NoError(b, err)
			timeouts = append(timeouts, d)
		}
	}
	ctx := context.Background()
	name := "zdm_ddl_bench"
	u, err := url.Parse(dsn)
	require.NoError(b, err)
	admin, err := pgx.Connect(ctx, dsn)
	require.NoError(b, err)
	_, _ = admin.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
	_, err = admin.Exec(ctx, "CREATE DATABASE "+name)
	require.NoError(b, err)
	u.Path = "/" + name
	db := u.String()
	pool, err := pgxpool.New(ctx, db)
	require.NoError(b, err)
	b.Cleanup(func() {
		pool.Close()
		_, _ = admin.Exec(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
		_ = admin.Close(context.Background())
	})

	out, err := exec.Command("pgbench", "-q", "-i", "-s", strconv.Itoa(scale), db).CombinedOutput()
	require.NoError(b, err, string(out))
	mustExec(b, pool, "ALTER TABLE pgbench_accounts ADD COLUMN abalance_zdm bigint")
	mustExec(b, pool, "VACUUM ANALYZE pgbench_accounts")
	// The backfill's dead tuples, for the VACUUM runs to visit; autovacuum is off on this
	// scratch table so that it does not clean them first (or pick its own moment).
	mustExec(b, pool, "ALTER TABLE pgbench_accounts SET (autovacuum_enabled = off)")
	mustExec(b, pool, "UPDATE pgbench_accounts SET abalance_zdm = abalance")

	type run struct {
		label      string
		lt         time.Duration
		began, end time.Time
		tries      int
		waits      int // holders waited for
		err        error
	}
	var runs []run
	var quiet [][2]time.Time

	for i := 0; i < b.N; i++ {
		logDir := b.TempDir()
		pg := exec.Command("pgbench", "-n", "-R", strconv.Itoa(rate), "-c", "10", "-j", "2", "-T", "3600", "-l", "--log-prefix", filepath.Join(logDir, "tx"), db)
		pg.Dir = logDir
		var pgOut strings.Builder
		pg.Stdout, pg.Stderr = &pgOut, &pgOut
		require.NoError(b, pg.Start())
		time.Sleep(3 * time.Second) // pgbench at its rate

		rehearse := func(label string, lt time.Duration, old bool) run {
			r := run{label: label, lt: lt}
			retry := pgexec.DefaultRetry
			retry.Total = 2 * time.Minute
			retry.OnWait = func(string, pgexec.Holder, time.Duration) { r.waits++ }
			r.began = time.Now()
			var n int
			if old {
				// The code before: tries under the lock timeout, 200ms doubling to 10s,
				// whoever holds the lock.
				before := pgexec.Retry{Initial: 200 * time.Millisecond, Max: 10 * time.Second, Attempts: 30}
				n, r.err = before.Do(ctx, "rehearse/contract", func(ctx context.Context) error {
					err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
						if _, err := tx.Exec(ctx, "SELECT set_config('lock_timeout', $1, true)", fmt.Sprintf("%dms", lt.Milliseconds())); err != nil {
							return err
						}
						for _, s := range contractUnderLoad {
							if _, err := tx.Exec(ctx, s.SQL); err != nil {
								return err
							}
						}
						return errRolledBack
					})
					if errors.Is(err, errRolledBack) {
						return nil
					}
					return err
				})
			} else {
				n, r.err = pgexec.Rehearse(ctx, pool, "rehearse/contract", contractUnderLoad, lt, retry)
			}
			r.end = time.Now()
			r.tries = n + 1
			return r
		}
		// vacuuming runs fn while a VACUUM, slowed down, holds SHARE UPDATE EXCLUSIVE on
		// the table for vacuumFor (as autovacuum does after a backfill), then ends it.
		vacuumFor := time.Duration(envInt(b, "ZDM_BENCH_DDL_VACUUM_MS", 8000)) * time.Millisecond
		vacuuming := func(fn func() run) run {
			vac, err := pgx.Connect(ctx, db)
			require.NoError(b, err)
			defer vac.Close(ctx)
			var pid int32
			require.NoError(b, vac.QueryRow(ctx, `SELECT pg_backend_pid()`).Scan(&pid))
			_, err = vac.Exec(ctx, `SELECT set_config('vacuum_cost_delay', '20ms', false), set_config('vacuum_cost_limit', '10', false)`)
			require.NoError(b, err)
			vctx, cancel := context.WithTimeout(ctx, vacuumFor)
			defer cancel()
			done := make(chan struct{})
			go func() { _, _ = vac.Exec(vctx, `VACUUM pgbench_accounts`); close(done) }()
			for {
				var n int
				require.NoError(b, pool.QueryRow(ctx, `SELECT count(*) FROM pg_stat_progress_vacuum WHERE pid = $1`, pid).Scan(&n))
				if n == 1 {
					break
				}
				time.Sleep(5 * time.Millisecond)
			}
			r := fn()
			<-done
			return r
		}
		pause := func() {
			from := time.Now()
			time.Sleep(2 * time.Second)
			quiet = append(quiet, [2]time.Time{from, time.Now()})
		}
		for rep := 0; rep < reps; rep++ {
			for _, lt := range timeouts {
				pause()
				runs = append(runs, rehearse("zdm now", lt, false))
			}
			pause()
			runs = append(runs, rehearse("before (200ms..10s, no look)", 500*time.Millisecond, true))
			for _, lt := range []time.Duration{timeouts[0], 500 * time.Millisecond} {
				pause()
				r := vacuuming(func() run { return rehearse("zdm now, VACUUM running", lt, false) })
				runs = append(runs, r)
			}
			pause()
			runs = append(runs, vacuuming(func() run { return rehearse("before, VACUUM running", 500*time.Millisecond, true) }))
		}
		time.Sleep(time.Second)
		_ = pg.Process.Signal(os.Interrupt)
		_ = pg.Wait()

		var txns []benchpg.Txn
		files, _ := filepath.Glob(filepath.Join(logDir, "tx*"))
		require.NotEmpty(b, files, "pgbench wrote its log: %s", pgOut.String())
		for _, f := range files {
			data, err := os.ReadFile(f)
			require.NoError(b, err)
			// pgbench, interrupted, may leave its last line cut short.
			var whole []string
			for _, line := range strings.Split(string(data), "\n") {
				if len(strings.Fields(line)) >= 6 {
					whole = append(whole, line)
				}
			}
			t, err := benchpg.ParseLog(strings.NewReader(strings.Join(whole, "\n")))
			require.NoError(b, err)
			txns = append(txns, t...)
		}

		fmt.Printf("\ncontract rehearsal under pgbench -R %d -c 10 -j 2, %d accounts (scale %d)\n", rate, scale*100000, scale)
		fmt.Printf("%-30s %8s %6s %6s %9s %9s %9s %9s %6s\n", "retry", "lock_to", "tries", "waits", "time", "app_p50", "app_p99", "app_max", "txns")
		for _, r := range runs {
			s := benchpg.Window(txns, r.began, r.end.Add(200*time.Millisecond))
			status := ""
			if r.err != nil {
				status = "  FAILED: " + r.err.Error()
			}
			fmt.Printf("%-30s %8s %6d %6d %9s %9s %9s %9s %6d%s\n", r.label, r.lt, r.tries, r.waits, r.end.Sub(r.began).Round(time.Millisecond),
				ms(s.P50), ms(s.P99), ms(s.Max), s.Committed, status)
		}
		var all []benchpg.Txn
		for _, q := range quiet {
			for _, t := range txns {
				if !t.End.Before(q[0]) && !t.End.After(q[1]) {
					all = append(all, t)
				}
			}
		}
		if len(quiet) > 0 {
			s := benchpg.Window(all, quiet[0][0], quiet[len(quiet)-1][1])
			fmt.Printf("%-30s %8s %6s %6s %9s %9s %9s %9s %6d\n", "no DDL (2s before each run)", "-", "-", "-", "-", ms(s.P50), ms(s.P99), ms(s.Max), s.Committed)
		}
	}
}

var errRolledBack = errors.New("rolled back")

func ms(d time.Duration) string { return fmt.Sprintf("%.1fms", float64(d.Microseconds())/1000) }

func envInt(b *testing.B, name string, def int) int {
	b.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	require.NoError(b, err, name)
	return n
}
