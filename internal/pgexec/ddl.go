// Package pgexec runs a plan's SQL against PostgreSQL: DDL under a short lock_timeout with
// retries, the batched backfill that records its cursor in the same transaction as each
// batch, verification, and zdm's own bookkeeping table.
package pgexec

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/zdmhq/zdm/internal/planner"
)

// SQLSTATEs zdm retries.
const (
	codeLockNotAvailable     = "55P03"
	codeDeadlockDetected     = "40P01"
	codeSerializationFailure = "40001"
	codeQueryCanceled        = "57014"
)

// Retry is the backoff for statements that lose the race for a lock. Every try that
// waits for its lock queues the application's queries on the table behind it for up to
// the lock timeout, so tries are short (the lock timeout) and spread out (jittered
// backoff starting near it, capped low so a free moment is not missed), and none is made
// while a holder that will not let go in time is there (see lockwait.go).
type Retry struct {
	// Initial is the first backoff; 0 means the statement's lock timeout. Max caps it.
	Initial, Max time.Duration
	// Attempts bounds the tries of one statement, Total the time of all tries and waits
	// (0: no bound); past either the error goes to the caller (and to Temporal's own
	// retry policy).
	Attempts int
	Total    time.Duration
	// OnRetry, when set, hears about every retry.
	OnRetry func(id string, attempt int, wait time.Duration, err error)
	// OnWait, when set, hears each time a try is held back because a session that would
	// make it time out holds the lock (an autovacuum, a long transaction); waited is how
	// long this wait has lasted so far.
	OnWait func(id string, h Holder, waited time.Duration)
}

// DefaultRetry starts near the lock timeout, doubles to 1s, with jitter, for up to 300
// tries or 5 minutes, whichever ends first; the activity's own retries take over after.
var DefaultRetry = Retry{Max: time.Second, Attempts: 300, Total: 5 * time.Minute}

// forLockTimeout is r with its unset first backoff taken from the lock timeout.
func (r Retry) forLockTimeout(lt time.Duration) Retry {
	if r.Initial <= 0 {
		r.Initial = lt
	}
	return r
}

// Backoff is the wait before try attempt+1: exponential, capped, with full jitter in its
// upper half so that contending workers spread out.
func (r Retry) Backoff(attempt int) time.Duration {
	initial := r.Initial
	if initial <= 0 {
		initial = 10 * time.Millisecond
	}
	d := initial << min(attempt, 20)
	if d <= 0 || (r.Max > 0 && d > r.Max) {
		d = r.Max
	}
	return d/2 + rand.N(d/2+1)
}

// IsLockTimeout says whether err is a lock the statement could not get in time, a deadlock
// or a serialization failure: worth retrying.
func IsLockTimeout(err error) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case codeLockNotAvailable, codeDeadlockDetected, codeSerializationFailure:
			return true
		}
	}
	return false
}

// Do runs fn, retrying lock timeouts with backoff. It returns how many retries it took.
func (r Retry) Do(ctx context.Context, id string, fn func(context.Context) error) (int, error) {
	return r.do(ctx, id, nil, fn)
}

// do is Do with a check before each try (waitForHolders), given the deadline of r.Total.
func (r Retry) do(ctx context.Context, id string, before func(context.Context, time.Time) error, fn func(context.Context) error) (int, error) {
	began := time.Now()
	var deadline time.Time
	if r.Total > 0 {
		deadline = began.Add(r.Total)
	}
	for attempt := 0; ; attempt++ {
		if before != nil {
			if err := before(ctx, deadline); err != nil {
				return attempt, err
			}
		}
		err := fn(ctx)
		if err == nil || !IsLockTimeout(err) {
			return attempt, err
		}
		wait := r.Backoff(attempt)
		if attempt+1 >= r.Attempts || (!deadline.IsZero() && time.Now().Add(wait).After(deadline)) {
			return attempt, fmt.Errorf("%s: gave up after %d tries in %s: %w", id, attempt+1, time.Since(began).Round(time.Millisecond), err)
		}
		if r.OnRetry != nil {
			r.OnRetry(id, attempt+1, wait, err)
		}
		select {
		case <-ctx.Done():
			return attempt, ctx.Err()
		case <-time.After(wait):
		}
	}
}

// setLockTimeout is run at the start of every zdm transaction.
func setLockTimeout(ctx context.Context, tx pgx.Tx, d time.Duration) error {
	// SET LOCAL takes no parameters; set_config does.
	_, err := tx.Exec(ctx, "SELECT set_config('lock_timeout', $1, true), set_config('statement_timeout', '0', true)",
		fmt.Sprintf("%dms", d.Milliseconds()))
	return err
}

// Exec runs each statement in its own transaction under lockTimeout, retrying lock
// timeouts. It returns the number of retries.
func Exec(ctx context.Context, pool *pgxpool.Pool, stmts []planner.Statement, lockTimeout time.Duration, r Retry) (int, error) {
	r = r.forLockTimeout(lockTimeout)
	total := 0
	for _, s := range stmts {
		n, err := r.do(ctx, s.ID, waitForHolders(pool, s.ID, []planner.Statement{s}, lockTimeout, r), func(ctx context.Context) error {
			if s.Concurrent {
				return execConcurrent(ctx, pool, s)
			}
			return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
				if err := setLockTimeout(ctx, tx, lockTimeout); err != nil {
					return err
				}
				_, err := tx.Exec(ctx, s.SQL)
				return err
			})
		})
		total += n
		if err != nil {
			return total, fmt.Errorf("%s: %w", s.ID, err)
		}
	}
	return total, nil
}

// ExecTx runs all statements in one transaction under lockTimeout, retrying the whole
// transaction on lock timeouts. skip, when it returns true inside the transaction, means
// the work was already done (a retried activity) and nothing is run.
func ExecTx(ctx context.Context, pool *pgxpool.Pool, id string, stmts []planner.Statement, lockTimeout time.Duration, r Retry, skip func(context.Context, pgx.Tx) (bool, error)) (int, error) {
	return runTx(ctx, pool, id, stmts, lockTimeout, r, skip, false)
}

// ExecOneTx runs the statements that can run in a transaction all in one, retried as a
// whole on lock timeouts, then each Concurrent one on its own: no application write
// sees the table half-changed.
func ExecOneTx(ctx context.Context, pool *pgxpool.Pool, id string, stmts []planner.Statement, lockTimeout time.Duration, r Retry) (int, error) {
	return ExecOneTxSkip(ctx, pool, id, stmts, lockTimeout, r, nil)
}

// ExecOneTxSkip is ExecOneTx whose transaction is skipped when skip says it committed
// before (a retried activity); the Concurrent statements, idempotent, run either way.
func ExecOneTxSkip(ctx context.Context, pool *pgxpool.Pool, id string, stmts []planner.Statement, lockTimeout time.Duration, r Retry, skip func(context.Context, pgx.Tx) (bool, error)) (int, error) {
	var tx, alone []planner.Statement
	for _, s := range stmts {
		if s.Concurrent {
			alone = append(alone, s)
		} else {
			tx = append(tx, s)
		}
	}
	n, err := ExecTx(ctx, pool, id, tx, lockTimeout, r, skip)
	if err != nil {
		return n, err
	}
	m, err := Exec(ctx, pool, alone, lockTimeout, r)
	return n + m, err
}

// errRehearsal rolls back a rehearsal that succeeded.
var errRehearsal = errors.New("rehearsal: rolled back")

// Rehearse runs the statements in one transaction under lockTimeout and rolls it back,
// so that whatever would make them fail later is found now, while the migration can
// still roll back and before anyone is asked to approve. Concurrent statements, which
// cannot run in a transaction, are left out. Lock timeouts are retried like any DDL.
func Rehearse(ctx context.Context, pool *pgxpool.Pool, id string, stmts []planner.Statement, lockTimeout time.Duration, r Retry) (int, error) {
	var inTx []planner.Statement
	for _, s := range stmts {
		if !s.Concurrent {
			inTx = append(inTx, s)
		}
	}
	return runTx(ctx, pool, id, inTx, lockTimeout, r, nil, true)
}

// runTx is the one loop of ExecTx and Rehearse: before each try it waits out any holder
// that would make the try time out, then runs the statements in one transaction under
// lockTimeout, committed, or rolled back when rollback is set.
func runTx(ctx context.Context, pool *pgxpool.Pool, id string, stmts []planner.Statement, lockTimeout time.Duration, r Retry, skip func(context.Context, pgx.Tx) (bool, error), rollback bool) (int, error) {
	r = r.forLockTimeout(lockTimeout)
	return r.do(ctx, id, waitForHolders(pool, id, stmts, lockTimeout, r), func(ctx context.Context) error {
		err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			if err := setLockTimeout(ctx, tx, lockTimeout); err != nil {
				return err
			}
			if skip != nil {
				done, err := skip(ctx, tx)
				if err != nil || done {
					return err
				}
			}
			for _, s := range stmts {
				if _, err := tx.Exec(ctx, s.SQL); err != nil {
					return fmt.Errorf("%s: %w", s.ID, err)
				}
			}
			if rollback {
				return errRehearsal
			}
			return nil
		})
		if rollback && errors.Is(err, errRehearsal) {
			return nil
		}
		return err
	})
}

// TriggerExists says whether the plan's sync trigger is on the table.
func TriggerExists(ctx context.Context, q interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}, p *planner.Plan) (bool, error) {
	var ok bool
	err := q.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = to_regclass($1) AND tgname = $2)`,
		planner.TableIdent(p), p.Trigger).Scan(&ok)
	return ok, err
}

// Check runs the plan's EXPLAIN checks. It returns the first failure of each operation,
// keyed by field; err is set only when the database itself could not answer.
func Check(ctx context.Context, pool *pgxpool.Pool, p *planner.Plan) (map[string]error, error) {
	out := map[string]error{}
	failed := map[string]bool{}
	for _, c := range p.Checks {
		if failed[c.Group] {
			continue
		}
		if _, err := pool.Exec(ctx, c.SQL); err != nil {
			var pe *pgconn.PgError
			if !errors.As(err, &pe) {
				return nil, fmt.Errorf("check %s: %w", c.Field, err)
			}
			out[c.Field] = &CheckError{Check: c, Msg: pe.Message}
			failed[c.Group] = true
		}
	}
	if len(out) == 0 || !p.ChecksAfterExpand {
		return out, nil
	}
	again, err := checkAfterExpand(ctx, pool, p, failed)
	if err != nil {
		return nil, err
	}
	// A group that holds on the schema as expand leaves it holds: its statements run
	// after expand.
	for _, c := range p.Checks {
		if failed[c.Group] && again[c.Group] {
			delete(out, c.Field)
		}
	}
	return out, nil
}

// CheckError is a plan check that failed: the server's message, and the check, whose
// Fix and Says tell the person what to do.
type CheckError struct {
	Check planner.Check
	Msg   string
}

func (e *CheckError) Error() string { return e.Msg }

// checkAfterExpand runs the checks of the failed groups again in a transaction that
// first runs the plan's expand (but for the statements that cannot run in one, index
// builds, which no check needs) and is then rolled back. It says which groups hold
// there. Expand takes its locks under the plan's lock timeout, as it would when run.
func checkAfterExpand(ctx context.Context, pool *pgxpool.Pool, p *planner.Plan, groups map[string]bool) (map[string]bool, error) {
	holds := map[string]bool{}
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if err := setLockTimeout(ctx, tx, p.LockTimeout); err != nil {
			return err
		}
		// The sync function lives in zdm's schema, which the claim creates later.
		if _, err := tx.Exec(ctx, `CREATE SCHEMA IF NOT EXISTS zdm`); err != nil {
			return err
		}
		for _, s := range p.Expand {
			if s.Concurrent {
				continue
			}
			if _, err := tx.Exec(ctx, s.SQL); err != nil {
				return errRehearsed // expand itself fails: the checks' first answers stand
			}
		}
		for g := range groups {
			holds[g] = true
		}
		for _, c := range p.Checks {
			if !holds[c.Group] {
				continue
			}
			if _, err := tx.Exec(ctx, "SAVEPOINT zdm_check"); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, c.SQL); err != nil {
				holds[c.Group] = false
			}
			if _, err := tx.Exec(ctx, "ROLLBACK TO SAVEPOINT zdm_check"); err != nil {
				return err
			}
		}
		return errRehearsed
	})
	if err != nil && !errors.Is(err, errRehearsed) {
		// A lock timeout too: the checks cannot be answered now, and a refusal would
		// blame the file for what a busy table did. The caller tries again.
		return nil, fmt.Errorf("rehearse expand for the plan's checks: %w", err)
	}
	return holds, nil
}

// errRehearsed rolls back a rehearsal.
var errRehearsed = errors.New("rehearsed")

// execConcurrent runs a statement that cannot run in a transaction (CREATE INDEX
// CONCURRENTLY). Its SHARE UPDATE EXCLUSIVE lock does not queue reads or writes, so it
// may wait as long as it needs. An invalid index left by a failed earlier try is dropped
// first: IF NOT EXISTS alone would keep it.
func execConcurrent(ctx context.Context, pool *pgxpool.Pool, s planner.Statement) error {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	if s.Index != "" {
		var valid *bool
		err := conn.QueryRow(ctx, `SELECT (SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass($1))`, s.Index).Scan(&valid)
		if err != nil {
			return err
		}
		if valid != nil && !*valid {
			if _, err := conn.Exec(ctx, "DROP INDEX CONCURRENTLY IF EXISTS "+s.Index); err != nil {
				return fmt.Errorf("drop invalid index %s left by an earlier try: %w", s.Index, err)
			}
		}
	}
	if _, err := conn.Exec(ctx, "SET lock_timeout = 0"); err != nil {
		return err
	}
	defer func() { _, _ = conn.Exec(context.WithoutCancel(ctx), "RESET lock_timeout") }()
	if _, err = conn.Exec(ctx, s.SQL); err != nil || s.Index == "" {
		return err
	}
	// IF NOT EXISTS also succeeds on an index someone else left invalid: the build is
	// done only when the index is valid.
	var valid *bool
	if err := conn.QueryRow(ctx, `SELECT (SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass($1))`, s.Index).Scan(&valid); err != nil {
		return err
	}
	if valid != nil && !*valid {
		return fmt.Errorf("index %s is not valid after its build", s.Index)
	}
	return nil
}
