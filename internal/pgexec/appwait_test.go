package pgexec_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zdmhq/zdm/internal/pgexec"
	"github.com/zdmhq/zdm/internal/planner"
)

// slowSet backfills n from v, sleeping about 2 ms a row, so that a batch holds its first
// rows' locks long enough for a session to queue behind them.
const slowSet = `"n" = ("v" + 0 * length(pg_sleep(0.002)::text))::bigint`

// A session that waits on a row of the running batch is seen: its wait and the count;
// a session waiting on something else is not.
func TestWaitSamplerSeesSessionsWaitingOnTheBatch(t *testing.T) {
	pool := testPool(t)
	ctx := context.Background()
	_, err := pool.Exec(ctx, `CREATE TABLE t (id int PRIMARY KEY, v int, n bigint); INSERT INTO t SELECT g, g, NULL FROM generate_series(1, 200) g;
		CREATE TABLE other (id int PRIMARY KEY); INSERT INTO other VALUES (1)`)
	require.NoError(t, err)
	require.NoError(t, pgexec.EnsureState(ctx, pool))
	_, err = pgexec.Claim(ctx, pool, "m", []string{"public.t"}, "run-1")
	require.NoError(t, err)
	target := pgexec.Target{Migration: "m", Schema: "public", Table: "t", Key: []planner.KeyColumn{{Name: "id", Type: "integer"}},
		Set: slowSet, LockTimeout: 5 * time.Second}

	// Elsewhere, a session holds a row of another table and a second one waits on it:
	// that wait is not the batch's doing.
	// Sessions of their own, as an application's would be, not the pool's.
	conn := func() *pgx.Conn {
		c, err := pgx.ConnectConfig(ctx, pool.Config().ConnConfig.Copy())
		require.NoError(t, err)
		t.Cleanup(func() { c.Close(context.Background()) })
		return c
	}
	holderConn, waiterConn, app := conn(), conn(), conn()
	holder, err := holderConn.Begin(ctx)
	require.NoError(t, err)
	defer holder.Rollback(ctx) //nolint:errcheck
	_, err = holder.Exec(ctx, `UPDATE other SET id = 1 WHERE id = 1`)
	require.NoError(t, err)
	unrelated := make(chan error, 1)
	go func() {
		_, err := waiterConn.Exec(ctx, `SET lock_timeout = '5s'; UPDATE other SET id = 1 WHERE id = 1`)
		unrelated <- err
	}()

	var waits pgexec.AppWaits
	var appWait time.Duration
	var wg sync.WaitGroup
	sampler := &pgexec.WaitSampler{Pool: pool, Every: 20 * time.Millisecond}
	bf := &pgexec.Backfiller{Pool: pool, Target: target, Upper: pgexec.Cursor{"200"}, Size: 200,
		Watch: func(ctx context.Context, pid uint32) func() {
			stop := sampler.Watch(ctx, pid)
			// The application: 100 ms into the batch (about 50 rows updated), it
			// updates row 1, which the batch already holds.
			wg.Add(1)
			go func() {
				defer wg.Done()
				time.Sleep(100 * time.Millisecond)
				t0 := time.Now()
				_, err := app.Exec(context.Background(), `UPDATE t SET v = v WHERE id = 1`)
				appWait = time.Since(t0)
				assert.NoError(t, err)
			}()
			return func() { waits = stop() }
		}}
	batchStart := time.Now()
	b, err := bf.Next(ctx, nil)
	require.NoError(t, err)
	took := time.Since(batchStart)
	wg.Wait()
	require.EqualValues(t, 200, b.Rows)
	require.True(t, b.Done)
	require.NoError(t, holder.Rollback(ctx))
	require.NoError(t, <-unrelated)

	require.NoError(t, waits.Err)
	t.Logf("batch %s; application waited %s; sampler saw longest %s, %d waiting, in %d samples", took, appWait, waits.Longest, waits.Waiters, waits.Samples)
	assert.Equal(t, 1, waits.Waiters, "the application's session and not the unrelated one")
	assert.Greater(t, waits.Samples, 3)
	assert.Greater(t, appWait, 100*time.Millisecond, "the application did wait on the batch")
	assert.Greater(t, waits.Longest, appWait/2, "the last sample before commit sees most of the wait")
	assert.LessOrEqual(t, waits.Longest, appWait+50*time.Millisecond, "never more than the application waited")
}

func TestP99EstimateFromTwoReadings(t *testing.T) {
	// 100 calls of 2 ms then 100 calls: 90 of 1 ms and 10 of 11 ms (mean 2, sd 3).
	before := pgexec.StatementTotals{Calls: 100, Sum: 200, SumSq: 400}
	after := pgexec.StatementTotals{Calls: 200, Sum: 200 + 90 + 110, SumSq: 400 + 90 + 1210}
	p99, n, ok := pgexec.P99Estimate(before, after)
	require.True(t, ok)
	assert.EqualValues(t, 100, n)
	assert.InDelta(t, float64(2*time.Millisecond+6990*time.Microsecond), float64(p99), float64(time.Microsecond), "2 + 2.33 * 3 ms")

	_, _, ok = pgexec.P99Estimate(before, pgexec.StatementTotals{Calls: 110, Sum: 220, SumSq: 440})
	assert.False(t, ok, "ten calls are too few")
	_, _, ok = pgexec.P99Estimate(before, pgexec.StatementTotals{Unavailable: true})
	assert.False(t, ok)
}

// The totals count the application's statements on the table and leave zdm's out.
func TestStatementTotalsCountTheTablesStatementsNotZdms(t *testing.T) {
	pool := testPool(t)
	ctx := context.Background()
	first, err := pgexec.ReadStatementTotals(ctx, pool, "gov_accounts")
	require.NoError(t, err)
	if first.Unavailable {
		t.Skip("pg_stat_statements is not installed in the test database")
	}
	_, err = pool.Exec(ctx, `CREATE TABLE gov_accounts (id int PRIMARY KEY, v int, _zdm_v bigint); INSERT INTO gov_accounts SELECT g, g FROM generate_series(1, 10) g`)
	require.NoError(t, err)
	before, err := pgexec.ReadStatementTotals(ctx, pool, "gov_accounts")
	require.NoError(t, err)
	for i := range 30 {
		_, err = pool.Exec(ctx, `UPDATE gov_accounts SET v = v + 1 WHERE id = $1`, 1+i%10)
		require.NoError(t, err)
		_, err = pool.Exec(ctx, `UPDATE gov_accounts SET "_zdm_v" = v WHERE id = $1`, 1+i%10)
		require.NoError(t, err)
	}
	after, err := pgexec.ReadStatementTotals(ctx, pool, "gov_accounts")
	require.NoError(t, err)
	// The application's 30 updates, not zdm's (which would make 60). pg_stat_statements
	// is shared by the cluster: with every test's databases filling it, an entry can be
	// evicted and made again between two readings, losing a few calls (CI saw 29).
	calls := after.Calls - before.Calls
	assert.LessOrEqual(t, calls, int64(30), "zdm's updates are not counted")
	assert.GreaterOrEqual(t, calls, int64(20), "the application's updates are counted")
	p99, _, ok := pgexec.P99Estimate(before, after)
	require.True(t, ok)
	assert.Positive(t, p99)
}
