package pgexec

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	pg_query "github.com/pganalyze/pg_query_go/v6"

	"github.com/zdmhq/zdm/internal/planner"
)

// A statement waiting for its table lock queues every later query on the table behind
// it, for up to lock_timeout. When the lock is held by something that will not let go
// within lock_timeout, a try is doomed and only makes the application wait: a VACUUM or
// ANALYZE, autovacuum's included (PostgreSQL cancels autovacuum only for a waiter that
// passes deadlock_timeout, 1s by default, which a short lock_timeout never reaches), a
// prepared transaction, or a transaction that has already been open longer than
// lock_timeout. The holder's query text is never read: it may hold the application's
// data. Before each try zdm looks at the table's lock holders and, while such a holder is
// there, waits without asking for the lock. It signals no session and never changes the
// table's settings. An autovacuum is the one holder zdm does not simply wait out: it asks
// for a lock the application's statements do not queue behind, for long enough that
// PostgreSQL cancels the autovacuum, as it would for any DDL (preempt.go).

// Holder is a session holding a lock that a statement of zdm's would wait for.
type Holder struct {
	PID int32
	// Autovacuum is set for an autovacuum worker.
	Autovacuum bool
	// Prepared is set for a prepared (two-phase) transaction, which has no session.
	Prepared bool
	// Since is when the holder's transaction began (zero when PostgreSQL does not show
	// it to zdm's role).
	Since time.Time
	// Table is the locked table, Mode the lock held, Want the lock zdm needs.
	Table, Mode, Want string
	// Vacuum is set for a VACUUM or ANALYZE, autovacuum's (Autovacuum, when PostgreSQL
	// shows zdm who runs it) or a person's.
	Vacuum bool
	// SeenSince is set when Since is when zdm first saw the transaction hold the lock,
	// PostgreSQL not showing its start to zdm's role.
	SeenSince bool
}

// String says what zdm waits for, as a person reads it in logs and progress.
func (h Holder) String() string {
	switch {
	case h.Autovacuum:
		return fmt.Sprintf("waiting for autovacuum on %s (pid %d)", h.Table, h.PID)
	case h.Vacuum:
		return fmt.Sprintf("waiting for a vacuum or analyze on %s (pid %d; autovacuum, or a VACUUM someone runs)", h.Table, h.PID)
	case h.Prepared:
		return fmt.Sprintf("waiting for a prepared transaction holding %s on %s", h.Mode, h.Table)
	case h.SeenSince:
		return fmt.Sprintf("waiting for a transaction holding %s on %s since at least %s (pid %d)",
			h.Mode, h.Table, h.Since.UTC().Format("15:04:05.000 UTC"), h.PID)
	default:
		return fmt.Sprintf("waiting for a transaction open since %s (pid %d, %s on %s)",
			h.Since.UTC().Format("15:04:05.000 UTC"), h.PID, h.Mode, h.Table)
	}
}

// WaitError is a statement that gave up waiting for a holder to go.
type WaitError struct {
	ID     string
	Holder Holder
	Waited time.Duration
}

func (e *WaitError) Error() string {
	return fmt.Sprintf("%s: gave up after %s %s", e.ID, e.Waited.Round(time.Millisecond), e.Holder)
}

// lockTarget is a table a statement locks and the mode it asks for.
type lockTarget struct {
	Table string // as written in the statement, quoted where needed
	Mode  string // pg_locks' name: AccessExclusiveLock...
}

// lockTargets reads, with PostgreSQL's parser, which existing tables the statements lock
// and how. Statements it cannot read, and those that lock nothing the application
// queues behind (concurrent builds, functions, plain queries), give none: they are tried
// as before.
func lockTargets(stmts []planner.Statement) []lockTarget {
	var out []lockTarget
	seen := map[lockTarget]bool{}
	add := func(t lockTarget) {
		if t.Table != "" && !seen[t] {
			seen[t] = true
			out = append(out, t)
		}
	}
	for _, s := range stmts {
		if s.Concurrent {
			continue
		}
		tree, err := pg_query.Parse(s.SQL)
		if err != nil {
			continue
		}
		for _, raw := range tree.GetStmts() {
			for _, t := range stmtTargets(raw.GetStmt(), s.Lock) {
				add(t)
			}
		}
	}
	return out
}

const (
	accessExclusive = "AccessExclusiveLock"
	shareRowExcl    = "ShareRowExclusiveLock"
	shareUpdExcl    = "ShareUpdateExclusiveLock"
	shareLock       = "ShareLock"
)

// alterMode is the lock of an ALTER TABLE as the planner describes it.
func alterMode(lock string) string {
	switch lock {
	case planner.LockShareRowExcl:
		return shareRowExcl
	case planner.LockShareUpdExcl:
		return shareUpdExcl
	}
	return accessExclusive
}

func stmtTargets(n *pg_query.Node, lock string) []lockTarget {
	one := func(rv *pg_query.RangeVar, mode string) []lockTarget {
		if rv == nil || rv.GetRelname() == "" {
			return nil
		}
		return []lockTarget{{Table: rangeVarName(rv), Mode: mode}}
	}
	switch {
	case n.GetAlterTableStmt() != nil:
		a := n.GetAlterTableStmt()
		out := one(a.GetRelation(), alterMode(lock))
		for _, c := range a.GetCmds() {
			// A foreign key also locks the table it references.
			if con := c.GetAlterTableCmd().GetDef().GetConstraint(); con != nil && con.GetPktable() != nil {
				out = append(out, one(con.GetPktable(), shareRowExcl)...)
			}
		}
		return out
	case n.GetRenameStmt() != nil:
		return one(n.GetRenameStmt().GetRelation(), accessExclusive)
	case n.GetCreateTrigStmt() != nil:
		return one(n.GetCreateTrigStmt().GetRelation(), shareRowExcl)
	case n.GetIndexStmt() != nil && !n.GetIndexStmt().GetConcurrent():
		return one(n.GetIndexStmt().GetRelation(), shareLock)
	case n.GetCreatePolicyStmt() != nil:
		return one(n.GetCreatePolicyStmt().GetTable(), accessExclusive)
	case n.GetLockStmt() != nil:
		var out []lockTarget
		for _, r := range n.GetLockStmt().GetRelations() {
			out = append(out, one(r.GetRangeVar(), accessExclusive)...)
		}
		return out
	case n.GetDropStmt() != nil:
		d := n.GetDropStmt()
		var out []lockTarget
		for _, o := range d.GetObjects() {
			parts := nameParts(o)
			switch d.GetRemoveType() {
			case pg_query.ObjectType_OBJECT_TABLE, pg_query.ObjectType_OBJECT_INDEX:
				// DROP INDEX locks the index's table too; the index's own lock is
				// enough to find a holder of the table (they take both).
			case pg_query.ObjectType_OBJECT_TRIGGER, pg_query.ObjectType_OBJECT_RULE, pg_query.ObjectType_OBJECT_POLICY:
				if len(parts) < 2 {
					continue
				}
				parts = parts[:len(parts)-1] // the last name is the trigger's; the rest is its table
			default:
				continue
			}
			if d.GetConcurrent() {
				continue
			}
			out = append(out, lockTarget{Table: pgx.Identifier(parts).Sanitize(), Mode: accessExclusive})
		}
		return out
	}
	return nil
}

func rangeVarName(rv *pg_query.RangeVar) string {
	if rv.GetSchemaname() != "" {
		return pgx.Identifier{rv.GetSchemaname(), rv.GetRelname()}.Sanitize()
	}
	return pgx.Identifier{rv.GetRelname()}.Sanitize()
}

func nameParts(n *pg_query.Node) []string {
	var parts []string
	for _, p := range n.GetList().GetItems() {
		if s := p.GetString_(); s != nil {
			parts = append(parts, s.GetSval())
		}
	}
	return parts
}

// conflicts lists the modes that conflict with a requested one (PostgreSQL's table of
// lock modes, "Conflicting Lock Modes").
var conflicts = map[string][]string{
	"AccessShareLock":          {"AccessExclusiveLock"},
	"RowShareLock":             {"ExclusiveLock", "AccessExclusiveLock"},
	"RowExclusiveLock":         {"ShareLock", "ShareRowExclusiveLock", "ExclusiveLock", "AccessExclusiveLock"},
	"ShareUpdateExclusiveLock": {"ShareUpdateExclusiveLock", "ShareLock", "ShareRowExclusiveLock", "ExclusiveLock", "AccessExclusiveLock"},
	"ShareLock":                {"RowExclusiveLock", "ShareUpdateExclusiveLock", "ShareRowExclusiveLock", "ExclusiveLock", "AccessExclusiveLock"},
	"ShareRowExclusiveLock":    {"RowExclusiveLock", "ShareUpdateExclusiveLock", "ShareLock", "ShareRowExclusiveLock", "ExclusiveLock", "AccessExclusiveLock"},
	"ExclusiveLock":            {"RowShareLock", "RowExclusiveLock", "ShareUpdateExclusiveLock", "ShareLock", "ShareRowExclusiveLock", "ExclusiveLock", "AccessExclusiveLock"},
	"AccessExclusiveLock":      {"AccessShareLock", "RowShareLock", "RowExclusiveLock", "ShareUpdateExclusiveLock", "ShareLock", "ShareRowExclusiveLock", "ExclusiveLock", "AccessExclusiveLock"},
}

// holdersSQL lists the granted locks on the targets that conflict with what zdm asks
// for, with what PostgreSQL shows of their sessions. pg_locks and the progress views
// name every session to any role; pg_stat_activity hides the backend type and the
// transaction's start of other roles' sessions unless zdm's role has pg_read_all_stats.
const holdersSQL = `
SELECT l.pid, l.virtualtransaction,
       v.pid IS NOT NULL OR an.pid IS NOT NULL,
       CASE WHEN a.backend_type IS NOT NULL THEN a.backend_type = 'autovacuum worker'
            ELSE a.pid IS NOT NULL AND a.usesysid IS NULL END,
       a.xact_start, l.relation::regclass::text, l.mode, t.want
FROM unnest($1::text[], $2::text[], $3::text[]) AS t(rel, mode, want)
JOIN pg_locks l ON l.locktype = 'relation' AND l.granted
     AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
     AND l.relation = to_regclass(t.rel) AND l.mode = t.mode
LEFT JOIN pg_stat_activity a ON a.pid = l.pid
LEFT JOIN pg_stat_progress_vacuum v ON v.pid = l.pid
LEFT JOIN pg_stat_progress_analyze an ON an.pid = l.pid
WHERE l.pid IS DISTINCT FROM pg_backend_pid()`

// holderLook remembers, between looks, since when each transaction of unknown age was
// seen holding a conflicting lock.
type holderLook struct {
	seen map[string]time.Time // virtualtransaction -> first seen
}

// doomed returns the session that would make a try on targets time out, if any: a
// vacuum or analyze (autovacuum's, or anyone's), a prepared transaction, or a
// transaction open for longer than the lock timeout, from its start when PostgreSQL
// shows it, else from how long zdm has seen it hold the lock.
func (hl *holderLook) doomed(ctx context.Context, q interface {
	Query(context.Context, string, ...any) (pgx.Rows, error)
}, targets []lockTarget, lockTimeout time.Duration) (*Holder, error) {
	var rels, modes, wants []string
	for _, t := range targets {
		for _, m := range conflicts[t.Mode] {
			rels, modes, wants = append(rels, t.Table), append(modes, m), append(wants, t.Mode)
		}
	}
	if len(rels) == 0 {
		return nil, nil
	}
	rows, err := q.Query(ctx, holdersSQL, rels, modes, wants)
	if err != nil {
		return nil, fmt.Errorf("look at the holders of the table's locks: %w", err)
	}
	var found []heldLock
	for rows.Next() {
		var r heldLock
		var pid *int32
		var since *time.Time
		if err := rows.Scan(&pid, &r.vxid, &r.vacuum, &r.Autovacuum, &since, &r.Table, &r.Mode, &r.Want); err != nil {
			rows.Close()
			return nil, fmt.Errorf("look at the holders of the table's locks: %w", err)
		}
		if pid == nil {
			r.Prepared = true
		} else {
			r.PID = *pid
		}
		if since != nil {
			r.Since = *since
		}
		found = append(found, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("look at the holders of the table's locks: %w", err)
	}
	return hl.pick(found, time.Now(), lockTimeout), nil
}

// heldLock is one granted lock that conflicts with zdm's, with its session.
type heldLock struct {
	Holder
	vxid   string // the holder's virtual transaction
	vacuum bool   // the holder runs a VACUUM or ANALYZE
}

// pick returns the holder among found that would make a try time out, the most certain
// first: a vacuum, a prepared transaction, a transaction known to be older than the lock
// timeout, one seen holding the lock for longer than it. It remembers, for the next look,
// since when each transaction has been seen.
func (hl *holderLook) pick(found []heldLock, now time.Time, lockTimeout time.Duration) *Holder {
	seen := map[string]time.Time{}
	var worst *Holder
	rank := 0
	for _, r := range found {
		first, ok := hl.seen[r.vxid]
		if !ok {
			first = now
		}
		seen[r.vxid] = first
		h := r.Holder
		n := 0
		switch {
		case r.vacuum || h.Autovacuum:
			// A VACUUM or ANALYZE holds SHARE UPDATE EXCLUSIVE for as long as it runs;
			// autovacuum's is cancelled only by a waiter past deadlock_timeout.
			h.Vacuum = true
			n = 4
		case h.Prepared:
			n = 3
		case !h.Since.IsZero() && now.Sub(h.Since) > lockTimeout:
			n = 2
		case h.Since.IsZero() && now.Sub(first) >= lockTimeout:
			h.Since = first
			h.SeenSince = true
			n = 1
		}
		if n > rank {
			rank, worst = n, &h
		}
	}
	hl.seen = seen
	return worst
}

// lockWaitPoll bounds how often zdm looks again while a doomed holder is there: every
// lock timeout, at least every 10ms and at most every 100ms.
func lockWaitPoll(lockTimeout time.Duration) time.Duration {
	return min(max(lockTimeout, 10*time.Millisecond), 100*time.Millisecond)
}

// waitForHolders returns a check run before each try of statements on pool: while a
// holder that would make the try time out is there, it polls (bounded by deadline) and
// tells r.OnWait each time the holder changes. It asks for no lock itself.
func waitForHolders(pool *pgxpool.Pool, id string, stmts []planner.Statement, lockTimeout time.Duration, r Retry) func(ctx context.Context, deadline time.Time) error {
	targets := lockTargets(stmts)
	if len(targets) == 0 || pool == nil {
		return nil
	}
	look := &holderLook{}
	poll := lockWaitPoll(lockTimeout)
	preempted := map[int32]bool{}
	return func(ctx context.Context, deadline time.Time) error {
		began := time.Now()
		var last *Holder
		for {
			h, err := look.doomed(ctx, pool, targets, lockTimeout)
			if err != nil || h == nil {
				return err
			}
			if h.Autovacuum && !preempted[h.PID] {
				// Once per autovacuum: one that outlives the request runs to prevent
				// wraparound, and is waited for.
				preempted[h.PID] = true
				if r.OnWait != nil {
					r.OnWait(id, *h, time.Since(began))
				}
				if gone, err := preemptAutovacuum(ctx, pool, h.Table); err != nil || gone {
					return err
				}
			}
			if last == nil || last.PID != h.PID || last.Table != h.Table {
				if r.OnWait != nil {
					r.OnWait(id, *h, time.Since(began))
				}
			}
			last = h
			if !deadline.IsZero() && time.Now().Add(poll).After(deadline) {
				return &WaitError{ID: id, Holder: *h, Waited: time.Since(began)}
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(poll):
			}
		}
	}
}
