package pgexec_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zdmhq/zdm/internal/pgexec"
	"github.com/zdmhq/zdm/internal/planner"
	"github.com/zdmhq/zdm/internal/testenv"
)

// ungrantedWatch samples pg_locks every few milliseconds until stop and counts the
// samples that saw a lock request on table that was not granted: a statement queued
// there, with every later query on the table queued behind it.
func ungrantedWatch(t *testing.T, dsn, table string) (stop func() (seen, samples int)) {
	t.Helper()
	return lockRequestWatch(t, dsn, table, "")
}

// accessExclusiveWatch is ungrantedWatch for ACCESS EXCLUSIVE requests alone.
func accessExclusiveWatch(t *testing.T, dsn, table string) (stop func() (seen, samples int)) {
	t.Helper()
	return lockRequestWatch(t, dsn, table, "AccessExclusiveLock")
}

// lockRequestWatch samples pg_locks for ungranted requests on table (of mode, or any
// when it is empty) until stop.
func lockRequestWatch(t *testing.T, dsn, table, mode string) (stop func() (seen, samples int)) {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), dsn)
	require.NoError(t, err)
	done := make(chan struct{})
	var wg sync.WaitGroup
	var seen, samples int
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-done:
				return
			default:
			}
			var n int
			if err := conn.QueryRow(context.Background(),
				`SELECT count(*) FROM pg_locks WHERE locktype = 'relation' AND relation = to_regclass($1) AND NOT granted
				AND ($2 = '' OR mode = $2)`, table, mode).Scan(&n); err == nil {
				samples++
				if n > 0 {
					seen++
				}
			}
			time.Sleep(2 * time.Millisecond)
		}
	}()
	return func() (int, int) {
		close(done)
		wg.Wait()
		_ = conn.Close(context.Background())
		return seen, samples
	}
}

func lockWaitTable(t *testing.T, pool *pgxpool.Pool, rows int) {
	t.Helper()
	_, err := pool.Exec(context.Background(), `CREATE TABLE accounts (id int PRIMARY KEY, balance int, old int)`)
	require.NoError(t, err)
	_, err = pool.Exec(context.Background(), `INSERT INTO accounts SELECT g, 0, g FROM generate_series(1, $1::int) g`, rows)
	require.NoError(t, err)
}

// A transaction left open on the table (an idle session, a long report) holds a lock
// the contract's ALTER conflicts with. Each try would time out, queueing the
// application behind it for the lock timeout: zdm waits without asking for the lock,
// says what it waits for, and runs as soon as the holder is gone.
func TestDDLWaitsForALongTransactionWithoutQueueing(t *testing.T) {
	dsn, pool := testenv.DB(t, "zdm_ddl_wait")
	ctx := context.Background()
	lockWaitTable(t, pool, 1000)

	holder, err := pgx.Connect(ctx, dsn)
	require.NoError(t, err)
	defer holder.Close(ctx)
	var holderPID int32
	require.NoError(t, holder.QueryRow(ctx, `SELECT pg_backend_pid()`).Scan(&holderPID))
	tx, err := holder.Begin(ctx)
	require.NoError(t, err)
	var n int
	require.NoError(t, tx.QueryRow(ctx, `SELECT count(*) FROM accounts`).Scan(&n)) // ACCESS SHARE until it ends
	// Open for longer than the lock timeout: a younger one may end in time, and is tried
	// (one try of 50ms, which this test's watch sees queued in pg_locks).
	time.Sleep(200 * time.Millisecond)

	var mu sync.Mutex
	var waits []pgexec.Holder
	var retries atomic.Int32
	r := pgexec.DefaultRetry
	r.OnWait = func(_ string, h pgexec.Holder, _ time.Duration) { mu.Lock(); waits = append(waits, h); mu.Unlock() }
	r.OnRetry = func(string, int, time.Duration, error) { retries.Add(1) }

	stopWatch := ungrantedWatch(t, dsn, "accounts")
	ended := make(chan error, 1)
	began := time.Now()
	go func() {
		_, err := pgexec.ExecTx(ctx, pool, "contract", []planner.Statement{
			{ID: "drop old", SQL: `ALTER TABLE accounts DROP COLUMN IF EXISTS old`, Lock: planner.LockBriefExclusive},
		}, 50*time.Millisecond, r, nil)
		ended <- err
	}()

	// The holder stays for 2s: long enough for tens of tries at 50ms.
	select {
	case err := <-ended:
		t.Fatalf("the ALTER ended while a transaction held the table: %v", err)
	case <-time.After(2 * time.Second):
	}
	seen, samples := stopWatch()
	assert.Greater(t, samples, 50, "pg_locks was sampled")
	assert.Zero(t, seen, "no lock request on the table waited in pg_locks while the holder was open (%d of %d samples saw one)", seen, samples)
	assert.Zero(t, retries.Load(), "no try was made, so none timed out")
	mu.Lock()
	require.NotEmpty(t, waits, "OnWait heard what zdm waits for")
	h := waits[0]
	mu.Unlock()
	assert.Equal(t, holderPID, h.PID)
	assert.Equal(t, "accounts", h.Table)
	assert.Equal(t, "AccessShareLock", h.Mode)
	assert.Contains(t, h.String(), "waiting for a transaction open since")
	assert.Contains(t, h.String(), "(pid ")

	released := time.Now()
	require.NoError(t, tx.Commit(ctx))
	select {
	case err := <-ended:
		require.NoError(t, err)
	case <-time.After(30 * time.Second):
		t.Fatal("the ALTER did not run after the holder ended")
	}
	t.Logf("ALTER done %s after the holder ended (%s in all)", time.Since(released).Round(time.Millisecond), time.Since(began).Round(time.Millisecond))
	var cols int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM information_schema.columns WHERE table_name = 'accounts' AND column_name = 'old'`).Scan(&cols))
	assert.Zero(t, cols, "the ALTER ran")
}

// A VACUUM holds SHARE UPDATE EXCLUSIVE for as long as it runs, and PostgreSQL cancels
// only autovacuum's, and only for a waiter past deadlock_timeout: a rehearsal under a
// short lock timeout would time out on every try. zdm waits for it, seen through
// pg_stat_progress_vacuum, which needs no privilege.
func TestRehearsalWaitsForAVacuum(t *testing.T) {
	dsn, pool := testenv.DB(t, "zdm_ddl_wait")
	ctx := context.Background()
	lockWaitTable(t, pool, 20000)
	_, err := pool.Exec(ctx, `UPDATE accounts SET balance = 1`) // dead rows for the vacuum to visit
	require.NoError(t, err)

	vac, err := pgx.Connect(ctx, dsn)
	require.NoError(t, err)
	defer vac.Close(ctx)
	var vacPID int32
	require.NoError(t, vac.QueryRow(ctx, `SELECT pg_backend_pid()`).Scan(&vacPID))
	// Slowed down to a page per 50ms, it runs far longer than the test.
	_, err = vac.Exec(ctx, `SELECT set_config('vacuum_cost_delay', '50ms', false), set_config('vacuum_cost_limit', '1', false)`)
	require.NoError(t, err)
	vacEnded := make(chan error, 1)
	go func() { _, err := vac.Exec(ctx, `VACUUM accounts`); vacEnded <- err }()
	require.Eventually(t, func() bool {
		var n int
		_ = pool.QueryRow(ctx, `SELECT count(*) FROM pg_stat_progress_vacuum WHERE pid = $1`, vacPID).Scan(&n)
		return n == 1
	}, 10*time.Second, 10*time.Millisecond, "the VACUUM runs")

	var mu sync.Mutex
	var waits []pgexec.Holder
	r := pgexec.DefaultRetry
	r.OnWait = func(_ string, h pgexec.Holder, _ time.Duration) { mu.Lock(); waits = append(waits, h); mu.Unlock() }
	stopWatch := ungrantedWatch(t, dsn, "accounts")
	ended := make(chan error, 1)
	go func() {
		_, err := pgexec.Rehearse(ctx, pool, "rehearse/contract", []planner.Statement{
			{ID: "drop old", SQL: `ALTER TABLE accounts DROP COLUMN old`, Lock: planner.LockBriefExclusive},
		}, 20*time.Millisecond, r)
		ended <- err
	}()
	select {
	case err := <-ended:
		t.Fatalf("the rehearsal ended while a VACUUM held the table: %v", err)
	case <-time.After(1500 * time.Millisecond):
	}
	seen, samples := stopWatch()
	assert.Zero(t, seen, "no lock request waited in pg_locks while the VACUUM ran (%d of %d samples saw one)", seen, samples)
	mu.Lock()
	require.NotEmpty(t, waits)
	assert.Equal(t, vacPID, waits[0].PID)
	assert.True(t, waits[0].Vacuum)
	assert.Equal(t, "ShareUpdateExclusiveLock", waits[0].Mode)
	assert.Contains(t, waits[0].String(), "vacuum")
	mu.Unlock()

	// The test's own VACUUM, in its own database: ending it is the test's business.
	_, err = pool.Exec(ctx, `SELECT pg_cancel_backend($1)`, vacPID)
	require.NoError(t, err)
	<-vacEnded
	select {
	case err := <-ended:
		require.NoError(t, err)
	case <-time.After(30 * time.Second):
		t.Fatal("the rehearsal did not run after the VACUUM ended")
	}
	var cols int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM information_schema.columns WHERE table_name = 'accounts' AND column_name = 'old'`).Scan(&cols))
	assert.Equal(t, 1, cols, "a rehearsal is rolled back")
}
