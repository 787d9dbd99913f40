package pgexec

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// AppWaits is what the application waited on a batch while it ran: the sessions whose
// lock requests the batch's backend blocked. pg_locks is readable by any role, so this is
// measured without touching the application and without pg_read_all_stats.
type AppWaits struct {
	// Longest is the longest wait seen on a lock the batch held.
	Longest time.Duration
	// Waiters is the most sessions seen waiting on the batch at once.
	Waiters int
	// Samples is how many times pg_locks was read during the batch.
	Samples int
	// Err is the first error reading pg_locks; the waits are then unknown.
	Err error
}

// appWaitSQL reads the lock requests that wait on backend $1 now. The waiting requests are
// taken first: pg_blocking_pids is asked only for them, not for every lock held. A session
// that waits on another waiter (a queue on one row) is counted through the first one.
const appWaitSQL = `WITH w AS MATERIALIZED (
	SELECT pid, waitstart FROM pg_catalog.pg_locks WHERE NOT granted AND waitstart IS NOT NULL)
SELECT coalesce(extract(epoch FROM max(clock_timestamp() - waitstart)), 0)::float8, count(DISTINCT pid)::int
FROM w WHERE $1::int = ANY(pg_catalog.pg_blocking_pids(w.pid))`

// DefaultWaitSampleEvery is how often pg_locks is read while a batch runs.
const DefaultWaitSampleEvery = 25 * time.Millisecond

// WaitSampler reads, on a connection of its own, who waits on a batch's backend while
// the batch runs.
type WaitSampler struct {
	Pool  *pgxpool.Pool
	Every time.Duration
}

// Watch starts sampling waits on backend pid; stop takes a last sample (the waits are
// longest just before the batch commits), ends the sampling and returns what was seen.
func (s *WaitSampler) Watch(ctx context.Context, pid uint32) (stop func() AppWaits) {
	every := s.Every
	if every <= 0 {
		every = DefaultWaitSampleEvery
	}
	var res AppWaits
	quit := make(chan struct{})
	done := make(chan struct{})
	// A full pool must not hold the batch: stop gives up on the connection too.
	acquireCtx, giveUp := context.WithCancel(ctx)
	go func() {
		defer close(done)
		conn, err := s.Pool.Acquire(acquireCtx)
		if err != nil {
			res.Err = fmt.Errorf("read lock waits: %w", err)
			return
		}
		defer conn.Release()
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			last := false
			select {
			case <-ctx.Done():
				return
			case <-quit:
				last = true
			case <-t.C:
			}
			var secs float64
			var n int
			if err := conn.QueryRow(ctx, appWaitSQL, int32(pid)).Scan(&secs, &n); err != nil {
				res.Err = fmt.Errorf("read lock waits: %w", err)
				return
			}
			res.Samples++
			res.Longest = max(res.Longest, time.Duration(secs*float64(time.Second)))
			res.Waiters = max(res.Waiters, n)
			if last {
				return
			}
		}
	}()
	return func() AppWaits {
		close(quit)
		giveUp()
		<-done
		return res
	}
}

// BatchWatch starts watching a batch whose transaction runs on backend pid; the returned
// function ends the watch, just before the batch commits.
type BatchWatch func(ctx context.Context, pid uint32) (stop func())

// StatementTotals sums pg_stat_statements over the statements that name a table: calls,
// the sum of their execution times and of their squares (in milliseconds), so that the
// difference of two readings gives the mean and spread of the calls in between.
type StatementTotals struct {
	Calls       int64
	Sum, SumSq  float64
	ReadAt      time.Time
	Unavailable bool
}

// statementTotalsSQL reads the statements of the current database whose text names the
// table, leaving out zdm's own (their text names zdm's objects or settings). Rows of
// other roles read as "<insufficient privilege>" without pg_read_all_stats and so do not
// match: the estimate then covers this role's statements only.
const statementTotalsSQL = `SELECT coalesce(sum(calls), 0)::bigint, coalesce(sum(total_exec_time), 0)::float8,
	coalesce(sum(calls * (stddev_exec_time ^ 2 + mean_exec_time ^ 2)), 0)::float8
FROM pg_stat_statements
WHERE dbid = (SELECT oid FROM pg_catalog.pg_database WHERE datname = current_database())
	AND strpos(lower(query), lower($1)) > 0 AND strpos(lower(query), 'zdm') = 0`

// ReadStatementTotals reads the totals for table (its unqualified name). Unavailable is
// set, with no error, when pg_stat_statements is not installed in the database.
func ReadStatementTotals(ctx context.Context, pool *pgxpool.Pool, table string) (StatementTotals, error) {
	var ok bool
	if err := pool.QueryRow(ctx, `SELECT to_regclass('pg_stat_statements') IS NOT NULL`).Scan(&ok); err != nil {
		return StatementTotals{}, fmt.Errorf("look for pg_stat_statements: %w", err)
	}
	if !ok {
		return StatementTotals{Unavailable: true}, nil
	}
	var t StatementTotals
	if err := pool.QueryRow(ctx, statementTotalsSQL, table).Scan(&t.Calls, &t.Sum, &t.SumSq); err != nil {
		return StatementTotals{}, fmt.Errorf("read pg_stat_statements: %w", err)
	}
	t.ReadAt = time.Now()
	return t, nil
}

// MinEstimateCalls is the fewest calls between two readings that give an estimate.
const MinEstimateCalls = 20

// P99Estimate estimates the 99th percentile of the calls between two readings as mean
// plus 2.33 standard deviations (a normal tail). pg_stat_statements keeps no
// percentiles, so this is an estimate, and it counts execution only (not the client's
// queueing). ok is false with too few calls, or when the counters were reset.
func P99Estimate(before, after StatementTotals) (p99 time.Duration, calls int64, ok bool) {
	n := after.Calls - before.Calls
	if before.Unavailable || after.Unavailable || n < MinEstimateCalls {
		return 0, n, false
	}
	mean := (after.Sum - before.Sum) / float64(n)
	variance := (after.SumSq-before.SumSq)/float64(n) - mean*mean
	if mean < 0 {
		return 0, n, false
	}
	sd := 0.0
	if variance > 0 {
		sd = math.Sqrt(variance)
	}
	return time.Duration((mean + 2.33*sd) * float64(time.Millisecond)), n, true
}
