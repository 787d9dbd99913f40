package pgexec

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

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

func TestPickWaitsOnlyForHoldersThatWouldOutlastATry(t *testing.T) {
	lt := 50 * time.Millisecond
	now := time.Date(2026, 12, 3, 16, 0, 0, 0, time.UTC)
	young := heldLock{Holder: Holder{PID: 1, Since: now.Add(-10 * time.Millisecond), Table: "t", Mode: "RowExclusiveLock"}, vxid: "3/1"}
	old := heldLock{Holder: Holder{PID: 2, Since: now.Add(-time.Second), Table: "t", Mode: "AccessShareLock"}, vxid: "4/1"}
	vacuum := heldLock{Holder: Holder{PID: 3, Table: "t", Mode: "ShareUpdateExclusiveLock"}, vxid: "5/1", vacuum: true}
	prepared := heldLock{Holder: Holder{Prepared: true, Table: "t", Mode: "RowExclusiveLock"}, vxid: "-1/7"}
	hidden := heldLock{Holder: Holder{PID: 4, Table: "t", Mode: "RowExclusiveLock"}, vxid: "6/1"} // another role's: no start shown

	var hl holderLook
	assert.Nil(t, hl.pick([]heldLock{young}, now, lt), "a young transaction may end within the lock timeout: try")
	assert.Equal(t, int32(2), hl.pick([]heldLock{young, old}, now, lt).PID)
	h := hl.pick([]heldLock{young, old, vacuum, prepared}, now, lt)
	assert.Equal(t, int32(3), h.PID, "a vacuum first")
	assert.True(t, h.Vacuum)
	assert.Contains(t, h.String(), "waiting for a vacuum or analyze on t (pid 3")
	assert.True(t, hl.pick([]heldLock{young, prepared}, now, lt).Prepared)

	// A transaction whose start PostgreSQL hides: tried at first sight, waited for once
	// it has been seen holding the lock for the lock timeout.
	hl = holderLook{}
	assert.Nil(t, hl.pick([]heldLock{hidden}, now, lt))
	assert.Nil(t, hl.pick([]heldLock{hidden}, now.Add(20*time.Millisecond), lt))
	h = hl.pick([]heldLock{hidden}, now.Add(60*time.Millisecond), lt)
	require.NotNil(t, h)
	assert.True(t, h.SeenSince)
	assert.Equal(t, now, h.Since)
	assert.Contains(t, h.String(), "waiting for a transaction holding RowExclusiveLock on t since at least 16:00:00.000 UTC (pid 4)")
	// Once it is gone, a new transaction of the same session starts over.
	assert.Nil(t, hl.pick(nil, now.Add(70*time.Millisecond), lt))
	assert.Nil(t, hl.pick([]heldLock{hidden}, now.Add(200*time.Millisecond), lt))

	auto := heldLock{Holder: Holder{PID: 9, Autovacuum: true, Table: "t"}, vxid: "8/1", vacuum: true}
	assert.Equal(t, "waiting for autovacuum on t (pid 9)", hl.pick([]heldLock{auto}, now, lt).String())
}

func TestWaitErrorSaysWhatItWaitedFor(t *testing.T) {
	err := &WaitError{ID: "rehearse/contract", Holder: Holder{PID: 9, Autovacuum: true, Table: "t"}, Waited: 5 * time.Minute}
	assert.Equal(t, "rehearse/contract: gave up after 5m0s waiting for autovacuum on t (pid 9)", err.Error())
}
