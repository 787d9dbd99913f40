package pgexec_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zdmhq/zdm/internal/pgexec"
	"github.com/zdmhq/zdm/internal/planner"
	"github.com/zdmhq/zdm/internal/testenv"
)

func TestBackoffIsCappedAndJittered(t *testing.T) {
	r := pgexec.Retry{Initial: 100 * time.Millisecond, Max: time.Second, Attempts: 10}
	seen := map[time.Duration]bool{}
	for attempt := 0; attempt < 40; attempt++ {
		d := r.Backoff(attempt)
		want := min(100*time.Millisecond<<min(attempt, 20), time.Second)
		assert.GreaterOrEqual(t, d, want/2, "attempt %d", attempt)
		assert.LessOrEqual(t, d, want, "attempt %d", attempt)
		seen[d] = true
	}
	assert.Greater(t, len(seen), 5, "waits are jittered")
}

func TestDoRetriesOnlyLockTimeouts(t *testing.T) {
	r := pgexec.Retry{Initial: time.Millisecond, Max: 2 * time.Millisecond, Attempts: 5}
	var retried []int
	r.OnRetry = func(_ string, attempt int, _ time.Duration, _ error) { retried = append(retried, attempt) }

	calls := 0
	n, err := r.Do(context.Background(), "s", func(context.Context) error {
		calls++
		if calls < 3 {
			return &pgconn.PgError{Code: "55P03", Message: "canceling statement due to lock timeout"}
		}
		return nil
	})
	require.NoError(t, err)
	assert.Equal(t, 2, n)
	assert.Equal(t, []int{1, 2}, retried)

	calls = 0
	_, err = r.Do(context.Background(), "s", func(context.Context) error {
		calls++
		return &pgconn.PgError{Code: "42703", Message: "column does not exist"}
	})
	require.Error(t, err)
	assert.Equal(t, 1, calls, "an error that would repeat is not retried")

	_, err = r.Do(context.Background(), "ddl", func(context.Context) error {
		return &pgconn.PgError{Code: "55P03"}
	})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "ddl: gave up after 5 tries")
	assert.True(t, pgexec.IsLockTimeout(err))
	assert.True(t, pgexec.IsLockTimeout(&pgconn.PgError{Code: "40P01"}))
	assert.False(t, pgexec.IsLockTimeout(errors.New("x")))
}

func testPool(t *testing.T) *pgxpool.Pool {
	t.Helper()
	_, pool := testenv.DB(t, "zdm_pgexec")
	return pool
}

// A batch commits its rows and the cursor together, and only from the cursor it started
// at: a stale attempt of the same backfill rolls back instead of counting twice.
func TestBatchMovesTheCursorOnlyFromWhereItStarted(t *testing.T) {
	pool := testPool(t)
	ctx := context.Background()
	_, err := pool.Exec(ctx, `CREATE TABLE t (id int PRIMARY KEY, v int, n bigint); INSERT INTO t SELECT g, g, NULL FROM generate_series(1, 100) g`)
	require.NoError(t, err)
	require.NoError(t, pgexec.EnsureState(ctx, pool))
	_, err = pgexec.Claim(ctx, pool, "m", []string{"public.t"}, "run-1")
	require.NoError(t, err)
	target := pgexec.Target{Migration: "m", Schema: "public", Table: "t", Key: []planner.KeyColumn{{Name: "id", Type: "integer"}},
		Set: `"n" = ("v")::bigint`, LockTimeout: time.Second}
	upper, err := pgexec.Upper(ctx, pool, target)
	require.NoError(t, err)
	assert.Equal(t, pgexec.Cursor{"100"}, upper)

	b, err := pgexec.BackfillBatch(ctx, pool, target, nil, upper, 30)
	require.NoError(t, err)
	assert.Equal(t, pgexec.Batch{Cursor: pgexec.Cursor{"30"}, Rows: 30}, b)

	_, err = pgexec.BackfillBatch(ctx, pool, target, nil, upper, 30)
	require.ErrorIs(t, err, pgexec.ErrCursorMoved, "a second attempt from the old cursor must not commit")

	for lo := b.Cursor; !b.Done; lo = b.Cursor {
		b, err = pgexec.BackfillBatch(ctx, pool, target, lo, upper, 30)
		require.NoError(t, err)
	}
	st, err := pgexec.ReadProgress(ctx, pool, "m")
	require.NoError(t, err)
	assert.EqualValues(t, 100, st.RowsDone, "every row counted once")
	assert.EqualValues(t, 4, st.Batches)
	n, sample, err := pgexec.Mismatches(ctx, pool, pgexec.Target{Schema: "public", Table: "t", Key: target.Key, Mismatch: `"n" IS DISTINCT FROM ("v")::bigint`}, nil, upper)
	require.NoError(t, err)
	assert.Zero(t, n)
	assert.Empty(t, sample)

	_, err = pool.Exec(ctx, `UPDATE t SET n = -1 WHERE id IN (7, 70)`)
	require.NoError(t, err)
	n, sample, err = pgexec.Mismatches(ctx, pool, pgexec.Target{Schema: "public", Table: "t", Key: target.Key, Mismatch: `"n" IS DISTINCT FROM ("v")::bigint`}, nil, upper)
	require.NoError(t, err)
	assert.EqualValues(t, 2, n)
	assert.Equal(t, []string{"(7)", "(70)"}, sample)
}

func TestOneRunningMigrationPerTable(t *testing.T) {
	pool := testPool(t)
	ctx := context.Background()
	require.NoError(t, pgexec.EnsureState(ctx, pool))
	resuming, err := pgexec.Claim(ctx, pool, "a", []string{"public.t"}, "run-a")
	require.NoError(t, err)
	assert.False(t, resuming)
	_, err = pgexec.Claim(ctx, pool, "b", []string{"public.t"}, "run-b")
	var busy *pgexec.BusyError
	require.ErrorAs(t, err, &busy)
	assert.Contains(t, err.Error(), "table public.t is already being migrated by a")
	resuming, err = pgexec.Claim(ctx, pool, "a", []string{"public.t"}, "run-a")
	require.NoError(t, err)
	assert.True(t, resuming, "the same run claiming again is a retried activity")

	require.NoError(t, pgexec.Release(ctx, pool, "a", pgexec.StatusFailed, "another-run"))
	_, err = pgexec.Claim(ctx, pool, "b", []string{"public.t"}, "run-b")
	require.ErrorAs(t, err, &busy, "a release by another run leaves the claim alone")
	require.NoError(t, pgexec.Release(ctx, pool, "a", pgexec.StatusCompleted, ""))
	_, err = pgexec.Claim(ctx, pool, "b", []string{"public.t"}, "run-b")
	require.NoError(t, err, "the table is free once the migration has ended")
}

// A migration claims every table it touches: another that touches any of them waits,
// one on other tables does not; migrations on no table claim a name of their own.
func TestAMigrationClaimsEveryTableItTouches(t *testing.T) {
	pool := testPool(t)
	ctx := context.Background()
	_, err := pool.Exec(ctx, `CREATE SCHEMA zdm; CREATE TABLE zdm.migrations (name text PRIMARY KEY, table_name text NOT NULL, run_id text NOT NULL, status text NOT NULL,
		cursor text[], rows_done bigint NOT NULL DEFAULT 0, batches bigint NOT NULL DEFAULT 0, started_at timestamptz NOT NULL DEFAULT now(),
		updated_at timestamptz NOT NULL DEFAULT now(), finished_at timestamptz)`)
	require.NoError(t, err, "zdm.migrations as an earlier zdm made it")
	require.NoError(t, pgexec.EnsureState(ctx, pool), "upgraded in place")
	_, err = pgexec.Claim(ctx, pool, "a", []string{"public.orders", "public.customers"}, "run-a")
	require.NoError(t, err)
	_, err = pgexec.Claim(ctx, pool, "b", []string{"public.customers"}, "run-b")
	var busy *pgexec.BusyError
	require.ErrorAs(t, err, &busy)
	assert.Equal(t, "table public.customers is already being migrated by a: one migration per table at a time; wait for it, or reject it", err.Error())
	_, err = pgexec.Claim(ctx, pool, "c", []string{"public.invoices"}, "run-c")
	require.NoError(t, err)
	_, err = pgexec.Claim(ctx, pool, "d", []string{"zdm:d"}, "run-d")
	require.NoError(t, err)
	_, err = pgexec.Claim(ctx, pool, "e", []string{"zdm:e"}, "run-e")
	require.NoError(t, err, "two migrations on no table do not exclude each other")
	require.NoError(t, pgexec.Release(ctx, pool, "a", pgexec.StatusCompleted, ""))
	_, err = pgexec.Claim(ctx, pool, "b", []string{"public.customers"}, "run-b")
	require.NoError(t, err)
}

// On an integer key the backfiller computes batch ends from the key range it learnt;
// across gaps and dense stretches every row is still updated once, and no batch grows
// past four times the batch size.
func TestBackfillerOnSparseIntegerKeys(t *testing.T) {
	pool := testPool(t)
	ctx := context.Background()
	_, err := pool.Exec(ctx, `CREATE TABLE t (id bigint PRIMARY KEY, v int, n bigint);
		INSERT INTO t SELECT g, g % 1000, NULL FROM generate_series(1, 1000) g;
		INSERT INTO t SELECT g, g % 1000, NULL FROM generate_series(100000, 100999) g;
		INSERT INTO t SELECT g, g % 1000, NULL FROM generate_series(5000000, 5001999) g;
		INSERT INTO t SELECT g * 1000, 1, NULL FROM generate_series(6000, 6100) g`)
	require.NoError(t, err)
	require.NoError(t, pgexec.EnsureState(ctx, pool))
	_, err = pgexec.Claim(ctx, pool, "m", []string{"public.t"}, "run-1")
	require.NoError(t, err)
	target := pgexec.Target{Migration: "m", Schema: "public", Table: "t", Key: []planner.KeyColumn{{Name: "id", Type: "bigint"}},
		Set: `"n" = coalesce("n", 0) + 1`, LockTimeout: time.Second}
	upper, err := pgexec.Upper(ctx, pool, target)
	require.NoError(t, err)
	bf := &pgexec.Backfiller{Pool: pool, Target: target, Upper: upper, Size: 100}
	var lo pgexec.Cursor
	batches := 0
	for {
		b, err := bf.Next(ctx, lo)
		require.NoError(t, err)
		batches++
		assert.LessOrEqual(t, b.Rows, int64(400), "batch after %v", lo)
		lo = b.Cursor
		if b.Done {
			break
		}
		require.Less(t, batches, 10000, "the backfill must end")
	}
	assert.Zero(t, scalar(t, pool, `SELECT count(*) FROM t WHERE n IS DISTINCT FROM 1`), "every row exactly once")
	st, err := pgexec.ReadProgress(ctx, pool, "m")
	require.NoError(t, err)
	assert.EqualValues(t, 4101, st.RowsDone)
	t.Logf("%d rows in %d batches", st.RowsDone, batches)
}

func scalar(t *testing.T, pool *pgxpool.Pool, sql string) int64 {
	t.Helper()
	var n int64
	require.NoError(t, pool.QueryRow(context.Background(), sql).Scan(&n))
	return n
}

func TestAdaptAimsAtTheTargetBatchTime(t *testing.T) {
	b := &pgexec.Backfiller{Size: 10000}
	b.Adapt(10000, 100*time.Millisecond, 0, 1_000_000)
	assert.Equal(t, 10000, b.Size, "no target: the size stays")
	b.Adapt(10000, 100*time.Millisecond, 250*time.Millisecond, 1_000_000)
	assert.Equal(t, 20000, b.Size, "fast batches grow, at most doubling")
	b.Adapt(20000, 500*time.Millisecond, 250*time.Millisecond, 1_000_000)
	assert.Equal(t, 10000, b.Size, "slow batches shrink towards the target")
	b.Adapt(10000, 10*time.Second, 250*time.Millisecond, 1_000_000)
	assert.Equal(t, 5000, b.Size, "at most halving per batch")
	for range 20 {
		b.Adapt(int64(b.Size), time.Second, time.Millisecond, 1_000_000)
	}
	assert.Equal(t, pgexec.MinAdaptiveBatch, b.Size)
	for range 30 {
		b.Adapt(int64(b.Size), time.Millisecond, time.Second, 50_000)
	}
	assert.Equal(t, 50_000, b.Size)
}

func TestThrottleQueryIsOneBooleanReadOnly(t *testing.T) {
	pool := testPool(t)
	ctx := context.Background()
	_, err := pool.Exec(ctx, `CREATE SEQUENCE throttle_seq`)
	require.NoError(t, err)
	require.NoError(t, pgexec.CheckThrottleQuery(ctx, pool, `SELECT count(*) > 50 FROM pg_stat_activity WHERE state = 'active'`))
	for q, want := range map[string]string{
		`SELECT count(*) FROM pg_stat_activity`:   "returns bigint, not boolean",
		`SELECT true, false`:                      "returns 2 columns",
		`SELECT nextval('throttle_seq') > 0`:      "read-only transaction",
		`SELECT no_such_column FROM pg_class`:     `column "no_such_column" does not exist`,
		`SELECT pg_sleep(10) IS NULL AS too_slow`: "statement timeout",
	} {
		err := pgexec.CheckThrottleQuery(ctx, pool, q)
		require.Error(t, err, q)
		assert.Contains(t, err.Error(), want, q)
	}
}

func TestDoGivesUpWithinItsTotalTime(t *testing.T) {
	r := pgexec.Retry{Initial: time.Millisecond, Max: 5 * time.Millisecond, Attempts: 1 << 20, Total: 200 * time.Millisecond}
	began := time.Now()
	tries := 0
	_, err := r.Do(context.Background(), "ddl", func(context.Context) error {
		tries++
		return &pgconn.PgError{Code: "55P03"}
	})
	took := time.Since(began)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "ddl: gave up after")
	assert.True(t, pgexec.IsLockTimeout(err))
	assert.Less(t, took, 200*time.Millisecond+time.Second, "bounded by Total (generous margin)")
	assert.GreaterOrEqual(t, took, 150*time.Millisecond, "it keeps trying until close to Total")
	assert.Greater(t, tries, 10)
}
