package pgexec

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/zdmhq/zdm/internal/planner"
)

func TestLockTargetsReadWhatEachStatementLocks(t *testing.T) {
	stmts := []planner.Statement{
		{ID: "a", SQL: `ALTER TABLE public.orders DROP COLUMN "Old"`, Lock: planner.LockBriefExclusive},
		{ID: "b", SQL: `ALTER TABLE orders ADD CONSTRAINT fk FOREIGN KEY (c) REFERENCES app.customers (id) NOT VALID`, Lock: planner.LockShareRowExcl},
		{ID: "c", SQL: `ALTER TABLE orders VALIDATE CONSTRAINT fk`, Lock: planner.LockShareUpdExcl},
		{ID: "d", SQL: `CREATE TRIGGER t BEFORE INSERT ON public.orders FOR EACH ROW EXECUTE FUNCTION zdm.f()`},
		{ID: "e", SQL: `DROP TRIGGER IF EXISTS t ON public.orders`},
		{ID: "f", SQL: `CREATE INDEX CONCURRENTLY IF NOT EXISTS i ON public.orders (c)`, Concurrent: true},
		{ID: "g", SQL: `DROP FUNCTION IF EXISTS zdm.f()`},
		{ID: "h", SQL: `ALTER TABLE public.orders RENAME COLUMN a TO b`},
		{ID: "i", SQL: `UPDATE zdm.migrations SET status = 'x'`},
		{ID: "j", SQL: `not sql at all`},
	}
	assert.Equal(t, []lockTarget{
		{Table: `"public"."orders"`, Mode: accessExclusive},
		{Table: `"orders"`, Mode: shareRowExcl},
		{Table: `"app"."customers"`, Mode: shareRowExcl},
		{Table: `"orders"`, Mode: shareUpdExcl},
		{Table: `"public"."orders"`, Mode: shareRowExcl},
	}, lockTargets(stmts))
	// "e" and "h" ask for ACCESS EXCLUSIVE on public.orders, already listed by "a".
	assert.Len(t, lockTargets(stmts[4:5]), 1)
	assert.Equal(t, []lockTarget{{Table: `"public"."orders"`, Mode: accessExclusive}}, lockTargets(stmts[7:8]))
	assert.Empty(t, lockTargets(stmts[5:7]), "concurrent builds and functions lock no table the application queues behind")
}

func TestEveryModeConflictsWithAccessExclusive(t *testing.T) {
	for mode, with := range conflicts {
		assert.Contains(t, with, accessExclusive, mode)
		assert.Contains(t, conflicts[accessExclusive], mode)
	}
	// Autovacuum's lock blocks the contract's but not the application's.
	assert.Contains(t, conflicts[accessExclusive], shareUpdExcl)
	assert.Contains(t, conflicts[shareRowExcl], shareUpdExcl)
	assert.NotContains(t, conflicts["RowExclusiveLock"], shareUpdExcl)
}

func TestDefaultRetryStartsAtTheLockTimeoutAndStaysLow(t *testing.T) {
	r := DefaultRetry.forLockTimeout(20 * time.Millisecond)
	assert.Equal(t, 20*time.Millisecond, r.Initial)
	first := r.Backoff(0)
	assert.GreaterOrEqual(t, first, 10*time.Millisecond)
	assert.LessOrEqual(t, first, 20*time.Millisecond)
	for attempt := 0; attempt < 400; attempt++ {
		assert.LessOrEqual(t, r.Backoff(attempt), time.Second, "attempt %d", attempt)
	}
	assert.Greater(t, r.Backoff(200), 500*time.Millisecond-time.Nanosecond)
	// A retry that sets its own start keeps it.
	assert.Equal(t, time.Second, Retry{Initial: time.Second}.forLockTimeout(20*time.Millisecond).Initial)
	assert.Equal(t, 5*time.Minute, DefaultRetry.Total)
	assert.Positive(t, DefaultRetry.Attempts)
}

func TestLockWaitPollFollowsTheLockTimeout(t *testing.T) {
	assert.Equal(t, 10*time.Millisecond, lockWaitPoll(time.Millisecond))
	assert.Equal(t, 50*time.Millisecond, lockWaitPoll(50*time.Millisecond))
	assert.Equal(t, 100*time.Millisecond, lockWaitPoll(500*time.Millisecond))
}
