package pgexec_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zdmhq/zdm/internal/pgexec"
	"github.com/zdmhq/zdm/internal/planner"
	"github.com/zdmhq/zdm/internal/testenv"
)

// A real autovacuum, slowed down to outlast the test, holds the table after a mass
// update (as after a backfill). The contract's rehearsal does not wait for it to finish,
// nor does it queue the application: it asks for a lock no application statement waits
// behind, PostgreSQL cancels the autovacuum for it, and the rehearsal runs seconds later.
func TestDDLPreemptsAnAutovacuumWithoutQueueing(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for PostgreSQL's autovacuum launcher (up to autovacuum_naptime)")
	}
	dsn, pool := testenv.DB(t, "zdm_ddl_autovac")
	ctx := context.Background()
	lockWaitTable(t, pool, 20000)
	// The test's own table: vacuumed as soon as it has a dead row, one page per 100ms.
	_, err := pool.Exec(ctx, `ALTER TABLE accounts SET (autovacuum_vacuum_threshold = 0, autovacuum_vacuum_scale_factor = 0,
		autovacuum_vacuum_cost_delay = 100, autovacuum_vacuum_cost_limit = 1); UPDATE accounts SET balance = 1`)
	require.NoError(t, err)
	var avPID int32
	require.Eventually(t, func() bool {
		// The progress view names the vacuum to any role; its relid is shown to a
		// privileged one only: the table is found by the lock the vacuum holds.
		return pool.QueryRow(ctx, `SELECT l.pid FROM pg_locks l JOIN pg_stat_progress_vacuum v ON v.pid = l.pid
			WHERE l.relation = 'accounts'::regclass AND l.mode = 'ShareUpdateExclusiveLock' AND l.granted`).Scan(&avPID) == nil
	}, 3*time.Minute, 100*time.Millisecond, "autovacuum comes to the table")

	var mu sync.Mutex
	var waits []pgexec.Holder
	r := pgexec.DefaultRetry
	r.OnWait = func(_ string, h pgexec.Holder, _ time.Duration) { mu.Lock(); waits = append(waits, h); mu.Unlock() }
	stop := accessExclusiveWatch(t, dsn, "accounts")
	began := time.Now()
	_, err = pgexec.Rehearse(ctx, pool, "rehearse/contract", []planner.Statement{
		{ID: "drop old", SQL: `ALTER TABLE accounts DROP COLUMN old`, Lock: planner.LockBriefExclusive},
	}, 50*time.Millisecond, r)
	took := time.Since(began)
	require.NoError(t, err)
	seen, samples := stop()
	assert.Less(t, took, 20*time.Second, "the rehearsal ran soon after autovacuum was cancelled")
	assert.LessOrEqual(t, seen, samples/10, "the application was not queued behind a waiting ACCESS EXCLUSIVE request (%d of %d samples saw one)", seen, samples)
	mu.Lock()
	defer mu.Unlock()
	require.NotEmpty(t, waits)
	assert.Equal(t, avPID, waits[0].PID)
	assert.True(t, waits[0].Autovacuum, "zdm saw an autovacuum: %s", waits[0])
	var still int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM pg_stat_progress_vacuum WHERE pid = $1`, avPID).Scan(&still))
	assert.Zero(t, still, "that autovacuum was cancelled")
}
