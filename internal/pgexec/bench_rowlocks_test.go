package pgexec_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/zdmhq/zdm/internal/benchpg"
	"github.com/zdmhq/zdm/internal/pgexec"
	"github.com/zdmhq/zdm/internal/plan"
	"github.com/zdmhq/zdm/internal/spec"
	"github.com/zdmhq/zdm/internal/testenv"
)

// BenchmarkRowLocks answers issue 10 §1: a batch holds its rows' locks until it commits,
// and waits for any row the application holds meanwhile, so the application's worst wait
// is about one batch plus what the batch waited. Does locking the batch's rows in key
// order first (FOR NO KEY UPDATE), or skipping the rows the application holds (SKIP
// LOCKED) and doing them in a later pass, lower that worst wait?
//
// A table of ZDM_BENCH_ROWLOCKS_ROWS rows (1,000,000; id bigint primary key, a int, b
// bigint null, the shape of a column change) is backfilled (b = a) in batches of
// ZDM_BENCH_ROWLOCKS_BATCH (5000) under lock_timeout 50ms (zdm's default), while
// ZDM_BENCH_ROWLOCKS_CLIENTS (8) application clients offer ZDM_BENCH_ROWLOCKS_TPS (400)
// transactions a second in all, Poisson arrivals, each an UPDATE of one random row's a
// held ZDM_BENCH_ROWLOCKS_HOLD_MS (3) ms (pg_sleep) before its commit. There is no sync
// trigger: the question is about row locks, which it does not change. Two loads:
// "hotspot", 90% of the writes on ZDM_BENCH_ROWLOCKS_HOT_KEYS (10,000) keys in the middle
// of the table, which the backfill crosses, "uniform", and "idle" (no application: what
// each variant's batches cost by themselves). Variants, one after another on
// the same table with b reset to NULL and the table vacuumed before each:
//
//	none      the load alone, for as long as the last backfill took: the baseline;
//	a_today   zdm's backfill as it is (pgexec.Backfiller, cursor in zdm.migrations);
//	b_ordered experiment: the batch's rows locked in key order first (SELECT ... ORDER BY
//	          id FOR NO KEY UPDATE), then the same proven UPDATE;
//	c_skip    experiment: UPDATE ... WHERE id IN (SELECT ... FOR NO KEY UPDATE SKIP
//	          LOCKED), the keys it skipped kept with the cursor, and done after the main
//	          pass (rounds of the same SKIP LOCKED statement, then one that waits).
//
// The experiments end each batch at lo + batch size, as the Backfiller does on this dense
// key once it has learnt its span. Every variant ends with every row's b set (checked).
// Reported per variant: the application's p50/p99/max latency (from each transaction's
// scheduled start to its commit, over the transactions that ended while the backfill
// ran), the p99 and longest UPDATE statement of the application (its wait on a row lock,
// the batch's or another client's, plus the write), the longest wait on a batch's lock
// seen in pg_locks (pgexec.WaitSampler, every 5ms), the backfill's wall time, its median
// and longest batch, the batches seen waiting on a lock and the longest such wait
// (pg_locks sampled every 2ms: lower bounds), the batches retried after a lock timeout,
// and for c_skip the rows skipped and redone.
//
// It needs ZDM_INTEGRATION=1 (and DATABASE_URL); make bench runs it with
// ZDM_BENCH_ROWLOCKS=1. ZDM_BENCH_ROWLOCKS_REPS=3 runs every variant three times,
// interleaved, each repetition in another order (-count would run each variant's
// repetitions back to back, on whatever else the machine is doing at that moment).
func BenchmarkRowLocks(b *testing.B) {
	if os.Getenv("ZDM_INTEGRATION") != "1" {
		b.Skip("integration benchmark: set ZDM_INTEGRATION=1 (and DATABASE_URL)")
	}
	dsn, pool := testenv.DB(b, "zdm_rowlocks")
	cfg := rowLockConfig{
		dsn:     dsn,
		rows:    int64(envInt(b, "ZDM_BENCH_ROWLOCKS_ROWS", 1_000_000)),
		batch:   envInt(b, "ZDM_BENCH_ROWLOCKS_BATCH", 5000),
		clients: envInt(b, "ZDM_BENCH_ROWLOCKS_CLIENTS", 8),
		tps:     envInt(b, "ZDM_BENCH_ROWLOCKS_TPS", 400),
		hold:    time.Duration(envInt(b, "ZDM_BENCH_ROWLOCKS_HOLD_MS", 3)) * time.Millisecond,
		hotKeys: int64(envInt(b, "ZDM_BENCH_ROWLOCKS_HOT_KEYS", 10_000)),
	}
	ctx := context.Background()
	mustExec(b, pool, "CREATE TABLE rowlocks (id bigint PRIMARY KEY, a int NOT NULL, b bigint)")
	// Autovacuum would start at a moment of its own choosing, in one variant and not in
	// another; each variant is given the same freshly vacuumed table instead.
	mustExec(b, pool, "ALTER TABLE rowlocks SET (autovacuum_enabled = off)")
	mustExec(b, pool, "INSERT INTO rowlocks SELECT g, (g * 7) % 100000, NULL FROM generate_series(1, $1::bigint) g", cfg.rows)
	// The experiments' cursor, committed in each batch's transaction as zdm does its own.
	mustExec(b, pool, "CREATE TABLE rowlocks_cursor (variant text PRIMARY KEY, cursor bigint, rows bigint NOT NULL DEFAULT 0, skipped bigint[] NOT NULL DEFAULT '{}')")
	require.NoError(b, pgexec.EnsureState(ctx, pool))
	cfg.target = pgexec.Target{Migration: "rowlocks", Schema: "public", Table: "rowlocks",
		Key: []plan.KeyColumn{{Name: "id", Type: "bigint"}}, Set: `"b" = "a"`, Mismatch: `"b" IS DISTINCT FROM "a"`,
		LockTimeout: spec.DefaultLockTimeout}
	// Every variant starts from a table in which every row was updated once and
	// vacuumed: the first must not get a table without dead space that the others lack.
	resetRowLocks(b, pool)

	variants := []rowLockVariant{
		{"none", nil},
		{"a_today", runToday},
		{"b_ordered", runOrderedExperiment},
		{"c_skip", runSkipLockedExperiment},
	}
	reps := envInt(b, "ZDM_BENCH_ROWLOCKS_REPS", 1)
	b.Logf("%d rows, batches of %d, %d clients at %d tps holding each row %s, hot spot %d keys; %d repetition(s)",
		cfg.rows, cfg.batch, cfg.clients, cfg.tps, cfg.hold, cfg.hotKeys, reps)

	// The repetitions are interleaved, each in an order of its own, so that a slow
	// stretch of a shared machine does not fall on one variant's runs only.
	var lastBackfill time.Duration
	for rep := 0; rep < reps; rep++ {
		order := append(slices.Clone(variants[rep%len(variants):]), variants[:rep%len(variants)]...)
		for _, load := range []string{"hotspot", "uniform", "idle"} {
			for _, v := range order {
				if load == "idle" && v.run == nil {
					continue
				}
				b.Run(load+"/"+v.name, func(b *testing.B) {
					for i := 0; i < b.N; i++ {
						resetRowLocks(b, pool)
						r := runRowLockVariant(b, pool, cfg, load, v, lastBackfill)
						if v.run != nil {
							lastBackfill = r.backfill
						}
					}
				})
			}
		}
	}
}

type rowLockConfig struct {
	dsn                 string
	rows                int64
	batch, clients, tps int
	hold                time.Duration
	hotKeys             int64
	target              pgexec.Target
}

type rowLockVariant struct {
	name string
	// run backfills the whole table; nil is the load alone.
	run func(ctx context.Context, b *testing.B, pool *pgxpool.Pool, cfg rowLockConfig, w *batchWatcher) rowLockBackfill
}

func variantNames(vs []rowLockVariant) []string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = v.name
	}
	return out
}

// rowLockBackfill is what a backfill variant did.
type rowLockBackfill struct {
	rows, skipped, redone int64
	lockTimeouts, rounds  int
}

type rowLockResult struct {
	backfill time.Duration
}

func resetRowLocks(b *testing.B, pool *pgxpool.Pool) {
	b.Helper()
	mustExec(b, pool, "UPDATE rowlocks SET b = NULL")
	mustExec(b, pool, "VACUUM ANALYZE rowlocks")
	checkpoint(b, pool)
}

// runRowLockVariant runs one variant under the load and reports its metrics.
func runRowLockVariant(b *testing.B, pool *pgxpool.Pool, cfg rowLockConfig, load string, v rowLockVariant, baseline time.Duration) rowLockResult {
	b.Helper()
	ctx := context.Background()
	app := startAppLoad(b, cfg, load)
	time.Sleep(time.Second) // the load at its rate
	w := &batchWatcher{sampler: pgexec.WaitSampler{Pool: pool, Every: 5 * time.Millisecond}, pool: pool}
	began := time.Now()
	var did rowLockBackfill
	if v.run == nil {
		if baseline <= 0 {
			baseline = 10 * time.Second
		}
		time.Sleep(baseline)
	} else {
		did = v.run(ctx, b, pool, cfg, w)
	}
	ended := time.Now()
	time.Sleep(500 * time.Millisecond) // the transactions the last batch held up end
	txns, updates := app.stop()

	if v.run != nil {
		var unfilled int64
		require.NoError(b, pool.QueryRow(ctx, "SELECT count(*) FROM rowlocks WHERE b IS NULL").Scan(&unfilled))
		require.Zero(b, unfilled, "%s left rows unfilled", v.name)
		require.Equal(b, cfg.rows, did.rows+did.redone, "%s: rows of the main pass plus rows redone", v.name)
	}

	s := benchpg.Window(txns, began, ended.Add(250*time.Millisecond))
	var took []time.Duration
	for _, u := range updates {
		if !u.end.Before(began) && !u.end.After(ended.Add(250*time.Millisecond)) {
			took = append(took, u.took)
		}
	}
	slices.Sort(took)
	updateP99, longestUpdate := benchpg.Percentile(took, 99), benchpg.Percentile(took, 100)
	wall := ended.Sub(began)
	b.ReportMetric(msOf(s.P50), "app_p50_ms")
	b.ReportMetric(msOf(s.P99), "app_p99_ms")
	b.ReportMetric(msOf(s.Max), "app_max_ms")
	b.ReportMetric(msOf(updateP99), "app_update_p99_ms")
	b.ReportMetric(msOf(longestUpdate), "app_update_max_ms")
	b.ReportMetric(float64(s.Committed), "app_txns")
	b.ReportMetric(float64(s.Failed), "app_failed")
	if v.run != nil {
		b.ReportMetric(msOf(w.appWait), "app_wait_on_batch_max_ms")
		b.ReportMetric(wall.Seconds(), "backfill_s")
		slices.Sort(w.durations)
		b.ReportMetric(msOf(benchpg.Percentile(w.durations, 50)), "batch_p50_ms")
		b.ReportMetric(msOf(w.longestBatch), "batch_max_ms")
		b.ReportMetric(float64(w.batches), "batches")
		b.ReportMetric(float64(w.waited), "batches_waited")
		b.ReportMetric(msOf(w.longestSelfWait), "batch_wait_max_ms")
		b.ReportMetric(float64(did.lockTimeouts), "lock_timeouts")
	}
	if v.name == "c_skip" {
		b.ReportMetric(float64(did.skipped), "rows_skipped")
		b.ReportMetric(float64(did.redone), "rows_redone")
		b.ReportMetric(float64(did.rounds), "final_rounds")
	}
	b.Logf("%s/%s: %s; app p50 %s p99 %s max %s, app UPDATE p99 %s max %s, app wait on a batch %s; batches %d (p50 %s, longest %s, %d seen waiting, longest wait %s, %d lock timeouts); skipped %d, redone %d in %d rounds; %d txns, %d failed",
		load, v.name, wall.Round(time.Millisecond), ms(s.P50), ms(s.P99), ms(s.Max), ms(updateP99), ms(longestUpdate), ms(w.appWait),
		w.batches, ms(benchpg.Percentile(w.durations, 50)), ms(w.longestBatch), w.waited, ms(w.longestSelfWait), did.lockTimeouts, did.skipped, did.redone, did.rounds, s.Committed, s.Failed)
	return rowLockResult{backfill: wall}
}

func msOf(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// appLoad is the application: clients each running, at Poisson arrivals, a transaction
// that updates one row and holds it before its commit.
type appLoad struct {
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	mu      sync.Mutex
	txns    []benchpg.Txn
	updates []appUpdate
	pool    *pgxpool.Pool
}

// appUpdate is one application UPDATE statement: how long it took (its wait on a row
// lock, plus the write) and when it ended.
type appUpdate struct {
	end  time.Time
	took time.Duration
}

func startAppLoad(b *testing.B, cfg rowLockConfig, load string) *appLoad {
	b.Helper()
	pc, err := pgxpool.ParseConfig(cfg.dsn)
	require.NoError(b, err)
	pc.MaxConns = int32(cfg.clients)
	pc.MinConns = int32(cfg.clients)
	ctx, cancel := context.WithCancel(context.Background())
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	require.NoError(b, err)
	l := &appLoad{cancel: cancel, pool: pool}
	const hotShare = 0.9
	hotKeys := min(max(cfg.hotKeys, 1), cfg.rows)
	hotFrom := 1 + cfg.rows/2 - hotKeys/2
	perClient := float64(cfg.tps) / float64(cfg.clients)
	hold := cfg.hold.Seconds()
	clients := cfg.clients
	if load == "idle" {
		clients = 0
	}
	for c := 0; c < clients; c++ {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			rng := rand.New(rand.NewPCG(uint64(c), uint64(time.Now().UnixNano())))
			next := time.Now()
			for {
				next = next.Add(time.Duration(rng.ExpFloat64() / perClient * float64(time.Second)))
				select {
				case <-ctx.Done():
					return
				case <-time.After(time.Until(next)):
				}
				key := 1 + rng.Int64N(cfg.rows)
				if load == "hotspot" && rng.Float64() < hotShare {
					key = hotFrom + rng.Int64N(hotKeys)
				}
				var took time.Duration
				var updated time.Time
				err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
					start := time.Now()
					if _, err := tx.Exec(ctx, "UPDATE rowlocks SET a = a + 1 WHERE id = $1", key); err != nil {
						return err
					}
					updated = time.Now()
					took = updated.Sub(start)
					_, err := tx.Exec(ctx, "SELECT pg_sleep($1)", hold)
					return err
				})
				if ctx.Err() != nil {
					return // stopped: this one is not counted
				}
				t := benchpg.Txn{Client: c, End: time.Now()}
				t.Latency = t.End.Sub(next)
				if err != nil {
					t.Status = "failed"
					b.Logf("application transaction failed: %v", err)
				}
				l.mu.Lock()
				l.txns = append(l.txns, t)
				if err == nil {
					l.updates = append(l.updates, appUpdate{end: updated, took: took})
				}
				l.mu.Unlock()
			}
		}()
	}
	return l
}

func (l *appLoad) stop() ([]benchpg.Txn, []appUpdate) {
	l.cancel()
	l.wg.Wait()
	l.pool.Close()
	return l.txns, l.updates
}

// batchWatcher watches each batch's transaction: who waits on it (pgexec.WaitSampler),
// whether it waits itself, and how long it runs.
type batchWatcher struct {
	sampler      pgexec.WaitSampler
	pool         *pgxpool.Pool
	appWait      time.Duration
	longestBatch time.Duration
	durations    []time.Duration
	batches      int
	waited       int
	// longestSelfWait is the longest a batch was seen waiting for a lock.
	longestSelfWait time.Duration
}

// selfWaitSQL says whether backend $1 waits for a lock now, and since when (0 when
// PostgreSQL has not set waitstart yet).
const selfWaitSQL = `SELECT count(*) > 0, coalesce(extract(epoch FROM max(clock_timestamp() - waitstart)), 0)::float8
FROM pg_catalog.pg_locks WHERE pid = $1 AND NOT granted`

// watch is a pgexec.BatchWatch.
func (w *batchWatcher) watch(ctx context.Context, pid uint32) (stop func()) {
	began := time.Now()
	stopApp := w.sampler.Watch(ctx, pid)
	quit := make(chan struct{})
	type selfWait struct {
		seen    bool
		longest time.Duration
	}
	done := make(chan selfWait)
	go func() {
		var waited selfWait
		conn, err := w.pool.Acquire(ctx)
		if err != nil {
			done <- waited
			return
		}
		defer conn.Release()
		t := time.NewTicker(2 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-quit:
				done <- waited
				return
			case <-t.C:
			}
			var now bool
			var secs float64
			if err := conn.QueryRow(ctx, selfWaitSQL, int32(pid)).Scan(&now, &secs); err == nil && now {
				waited.seen = true
				waited.longest = max(waited.longest, time.Duration(secs*float64(time.Second)))
			}
		}
	}()
	return func() {
		close(quit)
		waited := <-done
		seen := stopApp()
		w.appWait = max(w.appWait, seen.Longest)
		took := time.Since(began)
		w.longestBatch = max(w.longestBatch, took)
		w.durations = append(w.durations, took)
		w.batches++
		if waited.seen {
			w.waited++
		}
		w.longestSelfWait = max(w.longestSelfWait, waited.longest)
	}
}

// isLockTimeout says whether err is PostgreSQL's lock timeout (55P03): zdm's activity
// retries such a batch, and so do the variants here.
func isLockTimeout(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "55P03"
}

// runToday is zdm's backfill as it runs in production: pgexec.Backfiller, its cursor in
// zdm.migrations.
func runToday(ctx context.Context, b *testing.B, pool *pgxpool.Pool, cfg rowLockConfig, w *batchWatcher) rowLockBackfill {
	_, err := pgexec.Claim(ctx, pool, cfg.target.Migration, []string{"public.rowlocks"}, "bench-"+testenv.Suffix())
	require.NoError(b, err)
	upper, err := pgexec.Upper(ctx, pool, cfg.target)
	require.NoError(b, err)
	bf := &pgexec.Backfiller{Pool: pool, Target: cfg.target, Upper: upper, Size: cfg.batch, Watch: w.watch}
	var did rowLockBackfill
	var cursor pgexec.Cursor
	for {
		bt, err := bf.Next(ctx, cursor)
		if isLockTimeout(err) {
			did.lockTimeouts++
			continue
		}
		require.NoError(b, err)
		cursor, did.rows = bt.Cursor, did.rows+bt.Rows
		if bt.Done {
			return did
		}
	}
}

// experimentBatch runs fn in a batch's transaction set up as zdm sets up its own (lock
// timeout, synchronous_commit off), watched like zdm's, retried after a lock timeout.
func experimentBatch(ctx context.Context, b *testing.B, pool *pgxpool.Pool, cfg rowLockConfig, w *batchWatcher, did *rowLockBackfill, fn func(tx pgx.Tx) error) {
	b.Helper()
	for {
		err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, `SELECT set_config('lock_timeout', $1, true), set_config('synchronous_commit', 'off', true)`,
				fmt.Sprintf("%dms", cfg.target.LockTimeout.Milliseconds())); err != nil {
				return err
			}
			defer w.watch(ctx, tx.Conn().PgConn().PID())()
			return fn(tx)
		})
		if isLockTimeout(err) {
			did.lockTimeouts++
			continue
		}
		require.NoError(b, err)
		return
	}
}

// commitExperimentCursor moves the experiment's cursor from lo to hi in the batch's
// transaction, only from where the batch began, as zdm does (ErrCursorMoved), keeping the
// keys the batch skipped with it.
func commitExperimentCursor(ctx context.Context, tx pgx.Tx, variant string, lo, hi, rows int64, skipped []int64) error {
	if skipped == nil {
		skipped = []int64{}
	}
	tag, err := tx.Exec(ctx, `UPDATE rowlocks_cursor SET cursor = $3, rows = rows + $4, skipped = skipped || $5::bigint[]
		WHERE variant = $1 AND cursor IS NOT DISTINCT FROM $2`, variant, lo, hi, rows, skipped)
	if err == nil && tag.RowsAffected() != 1 {
		err = pgexec.ErrCursorMoved
	}
	return err
}

func startExperimentCursor(b *testing.B, pool *pgxpool.Pool, variant string) {
	b.Helper()
	mustExec(b, pool, `INSERT INTO rowlocks_cursor (variant, cursor) VALUES ($1, 0)
		ON CONFLICT (variant) DO UPDATE SET cursor = 0, rows = 0, skipped = '{}'`, variant)
}

// provenUpdate is the UPDATE of zdm's batch (pgexec's updateProven) over the rows that
// where selects: the same SET, and the same check of each row in its RETURNING list.
const provenUpdate = `WITH u AS (UPDATE rowlocks SET "b" = "a" WHERE %s RETURNING ("b" IS DISTINCT FROM "a") AS bad)
SELECT count(*), count(*) FILTER (WHERE bad) FROM u`

// runOrderedExperiment is an EXPERIMENT, not zdm's backfill: each batch first locks its
// rows in key order (SELECT ... ORDER BY id FOR NO KEY UPDATE), then updates them.
func runOrderedExperiment(ctx context.Context, b *testing.B, pool *pgxpool.Pool, cfg rowLockConfig, w *batchWatcher) rowLockBackfill {
	const variant = "b_ordered"
	startExperimentCursor(b, pool, variant)
	var did rowLockBackfill
	for lo := int64(0); lo < cfg.rows; lo += int64(cfg.batch) {
		hi := min(lo+int64(cfg.batch), cfg.rows)
		experimentBatch(ctx, b, pool, cfg, w, &did, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, `SELECT count(*) FROM (SELECT id FROM rowlocks WHERE id > $1 AND id <= $2 ORDER BY id FOR NO KEY UPDATE) l`, lo, hi); err != nil {
				return err
			}
			var rows, bad int64
			if err := tx.QueryRow(ctx, fmt.Sprintf(provenUpdate, "id > $1 AND id <= $2"), lo, hi).Scan(&rows, &bad); err != nil {
				return err
			}
			if bad > 0 {
				return fmt.Errorf("%d rows differ after their batch", bad)
			}
			if err := commitExperimentCursor(ctx, tx, variant, lo, hi, rows, nil); err != nil {
				return err
			}
			did.rows += rows // counted once: the transaction commits right after
			return nil
		})
	}
	return did
}

// skipLockedUpdate updates, among the rows that where selects, those no one else holds,
// and returns how many it updated, how many of them differ after (the proof), and the
// keys of the rows it skipped.
const skipLockedUpdate = `WITH l AS MATERIALIZED (SELECT id FROM rowlocks WHERE %[1]s ORDER BY id FOR NO KEY UPDATE SKIP LOCKED),
u AS (UPDATE rowlocks SET "b" = "a" WHERE id IN (SELECT id FROM l) RETURNING id, ("b" IS DISTINCT FROM "a") AS bad)
SELECT (SELECT count(*) FROM u), (SELECT count(*) FROM u WHERE bad),
	coalesce((SELECT array_agg(r.id ORDER BY r.id) FROM rowlocks r WHERE %[1]s AND r.id NOT IN (SELECT id FROM u)), '{}')`

// runSkipLockedExperiment is an EXPERIMENT, not zdm's backfill: each batch updates only
// the rows of its range that no one holds (SKIP LOCKED) and keeps the keys it skipped
// with its cursor; after the main pass, the skipped rows are done in rounds of the same
// statement, and after finalRounds rounds in one that waits for them.
func runSkipLockedExperiment(ctx context.Context, b *testing.B, pool *pgxpool.Pool, cfg rowLockConfig, w *batchWatcher) rowLockBackfill {
	const variant, finalRounds = "c_skip", 20
	startExperimentCursor(b, pool, variant)
	var did rowLockBackfill
	var left []int64
	for lo := int64(0); lo < cfg.rows; lo += int64(cfg.batch) {
		hi := min(lo+int64(cfg.batch), cfg.rows)
		experimentBatch(ctx, b, pool, cfg, w, &did, func(tx pgx.Tx) error {
			var rows, bad int64
			var skipped []int64
			if err := tx.QueryRow(ctx, fmt.Sprintf(skipLockedUpdate, "id > $1 AND id <= $2"), lo, hi).Scan(&rows, &bad, &skipped); err != nil {
				return err
			}
			if bad > 0 {
				return fmt.Errorf("%d rows differ after their batch", bad)
			}
			if err := commitExperimentCursor(ctx, tx, variant, lo, hi, rows, skipped); err != nil {
				return err
			}
			did.rows += rows
			did.skipped += int64(len(skipped))
			left = append(left, skipped...)
			return nil
		})
	}
	// The later pass: the skipped rows, in rounds that skip what is still held.
	for round := 0; len(left) > 0; round++ {
		did.rounds++
		wait := round >= finalRounds
		experimentBatch(ctx, b, pool, cfg, w, &did, func(tx pgx.Tx) error {
			var rows, bad int64
			var still []int64
			if wait {
				if err := tx.QueryRow(ctx, fmt.Sprintf(provenUpdate, "id = ANY($1)"), left).Scan(&rows, &bad); err != nil {
					return err
				}
			} else if err := tx.QueryRow(ctx, fmt.Sprintf(skipLockedUpdate, "id = ANY($1)"), left).Scan(&rows, &bad, &still); err != nil {
				return err
			}
			if bad > 0 {
				return fmt.Errorf("%d rows differ after their batch", bad)
			}
			// Done keys leave the cursor's list in the same transaction.
			if _, err := tx.Exec(ctx, `UPDATE rowlocks_cursor SET skipped = $2 WHERE variant = $1`, variant, nonNil(still)); err != nil {
				return err
			}
			did.redone += rows
			left = still
			return nil
		})
		if len(left) > 0 {
			time.Sleep(5 * time.Millisecond)
		}
	}
	return did
}

func nonNil(s []int64) []int64 {
	if s == nil {
		return []int64{}
	}
	return slices.Clip(s)
}
