// Package opstest runs zdm operations through their whole life against a real
// PostgreSQL, one fresh database per case: expand, writes from old and new application
// code, rollback (the catalog must be exactly as it began), expand again, backfill and
// verify under the same writes, contract, and writes and checks afterwards. Adding an
// operation means one test file with one table of Cases.
//
// The harness reaches the engine only through phases.go.
package opstest

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zdmhq/zdm/internal/testenv"
)

// Writer is one write as an application's code does it: an insert or an update. i counts
// the writer's calls over the whole run, from 0, and never repeats, so it can make keys
// and unique values.
type Writer func(ctx context.Context, pool *pgxpool.Pool, i int) error

// Case is one lifecycle case of an operation.
type Case struct {
	// Name names the subtest and, when Migration has no name: line, the migration.
	Name string
	// Setup creates the table and what hangs off it and fills it; a few thousand rows,
	// so that the backfill runs several batches.
	Setup string
	// Migration is the migration file; the harness adds name: when it is missing.
	Migration string

	// OldWrite is the application's code from before the migration: it knows only the
	// old columns.
	OldWrite Writer
	// NewWrite is the application's new code while the migration runs: it writes the new
	// column(s) too.
	NewWrite Writer
	// FinalWrite is the new code once contracted, when it differs from NewWrite (a
	// change_type's shadow column is gone: the new type has the old name). Nil means
	// NewWrite.
	FinalWrite Writer
	// OldWritesAfterContract says that old code must still work after contract
	// (add_column of a nullable column: old code just leaves it out).
	OldWritesAfterContract bool

	// Check runs after contract and the last writes: the data is right and what hung off
	// the table is still there, on the final columns.
	Check func(t *testing.T, pool *pgxpool.Pool)

	// Redefaults names the columns whose default the migration changes on purpose
	// (set_default, drop_default): their default is not compared after contract.
	Redefaults []string
	// Renulls names the columns whose nullability the migration changes on purpose
	// (set_not_null, drop_not_null).
	Renulls []string
	// Dropped names what the migration drops on purpose (drop_column, drop_index): its
	// columns, and attached objects as Attached names them ("index accounts_note_idx").
	// They are not expected after contract.
	Dropped []string
	// WantRefused, when set, says that planning must fail with an error containing it
	// (compared without case), leaving the database as it was. When planning accepts
	// the migration, the case fails and the lifecycle runs on, to show what goes wrong.
	WantRefused string
	// MayRefuse, when set, allows planning to fail with an error containing it (compared
	// without case) instead of completing: both are right for this case.
	MayRefuse string

	// Table is the table whose attached objects and columns must survive contract;
	// "" means the migration file's table: line. FinalTable is its name after contract
	// when the migration renames it, "-" when the migration drops it (nothing is then
	// checked on it).
	Table, FinalTable string

	// BatchSize is the backfill's batch size (default 100: a 5,000-row table takes 50).
	BatchSize int
	// Writes is how many writes each writer does per phase (default 200).
	Writes int
}

// Defaults.
const (
	DefaultBatchSize = 100
	DefaultWrites    = 200
	// finalWrites is how many writes each writer still must do after contract.
	finalWrites = 20
	// caseTimeout bounds a whole case.
	caseTimeout = 5 * time.Minute
)

// Run runs c's whole lifecycle in a database of its own.
func Run(t *testing.T, c Case) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), caseTimeout)
	defer cancel()
	r := newRun(t, ctx, c, c.Migration)
	dsn, before, attached, columns := r.setUp("zdm_ops")
	if c.OldWrite != nil {
		// The case's own old code must work on the table as it is, or nothing below means much.
		r.writes("before the migration", 10, false, r.old())
	}

	p, err := r.plan("plan")
	if c.WantRefused != "" {
		if err != nil {
			r.logf("plan refused the migration: %v", err)
			assert.Contains(t, strings.ToLower(err.Error()), strings.ToLower(c.WantRefused), "plan refused the migration, but not for the expected reason")
			r.unchanged(before)
			return
		}
		// Go on: what fails further down tells why it had to be refused.
		t.Errorf("plan accepted a migration it must refuse (with an error containing %q); running it to show what goes wrong", c.WantRefused)
	}
	if err != nil && c.MayRefuse != "" && strings.Contains(strings.ToLower(err.Error()), strings.ToLower(c.MayRefuse)) {
		r.logf("plan refused the migration, which is right for this case: %v", err)
		r.unchanged(before)
		return
	}
	require.NoError(t, err, "plan")

	// Expand, writes from both codes, roll back: the table is as it began.
	r.phase("expand (run-1)", func() error { return Expand(ctx, r.pool, p, "run-1") })
	r.writes("after expand", r.c.Writes, true, r.old(), r.new())
	r.phase("rollback", func() error { return Rollback(ctx, r.pool, p) })
	assert.Equal(t, before, r.snapshot(), "rollback must leave the database exactly as it began (catalog diff: -before +after)")
	if c.OldWrite != nil {
		r.writes("after rollback", 10, false, r.old())
	}

	// Expand again, and backfill and verify while both codes write.
	p, err = r.plan("plan again")
	require.NoError(t, err, "plan again, after the rollback")
	r.phase("expand (run-2)", func() error { return Expand(ctx, r.pool, p, "run-2") })
	wait := r.startWrites("during backfill and verify", r.c.Writes, r.old(), r.new())
	var rows int64
	var batches int
	backfillErr := r.try("backfill", func() (err error) {
		rows, batches, err = Backfill(ctx, r.pool, p, r.c.BatchSize)
		return err
	})
	var verifyErr error
	if backfillErr == nil {
		r.logf("backfill: %d rows in %d batches", rows, batches)
		verifyErr = r.try("verify", func() error { return Verify(ctx, r.pool, p) })
	}
	wait()
	require.NoError(t, backfillErr, "backfill")
	require.NoError(t, verifyErr, "verify (mismatches, then validate)")
	r.phase("verify again, every row, writers stopped", func() error { return Consistent(ctx, r.pool, p) })

	// Contract: nothing of zdm's is left, nothing of the table's is lost.
	r.phase("contract", func() error { return Contract(ctx, r.pool, p) })
	r.noLeftovers()
	if r.table != "" && c.FinalTable != "-" {
		r.carried(attached, columns, Moved(p))
	}
	// New code is deployed after contract: its connections are new (a connection that
	// prepared a statement before contract still has the old column types). Old code
	// keeps its connections.
	deployed, newCode := r.deploy(dsn)
	defer deployed.Close()
	final := []writer{newCode}
	if c.OldWritesAfterContract {
		final = append(final, r.old())
	}
	r.writes("after contract", finalWrites, true, final...)
	if c.Check != nil {
		r.logf("check")
		c.Check(t, deployed)
	}
	r.logf("done")
}

// newRun is the run of c, on file (c's migration, with its name: line added when it has
// none), with the defaults filled in.
func newRun(t *testing.T, ctx context.Context, c Case, file string) *run {
	r := &run{t: t, ctx: ctx, c: c, start: time.Now()}
	if r.c.BatchSize == 0 {
		r.c.BatchSize = DefaultBatchSize
	}
	if r.c.Writes == 0 {
		r.c.Writes = DefaultWrites
	}
	r.file = []byte(withName(c.Name, file))
	r.table = c.Table
	if r.table == "" {
		r.table = tableOf(string(r.file))
	}
	return r
}

// setUp makes the case's database (its name begins with prefix) and runs Setup in it;
// it returns the database's address, its catalog, and what hangs off the table and what
// its columns carry, as they stand before the migration.
func (r *run) setUp(prefix string) (dsn, before string, attached []string, columns map[string]ColumnFacts) {
	r.t.Helper()
	dsn, r.pool = testenv.DB(r.t, prefix)
	r.exec("setup", r.c.Setup)
	before = r.snapshot()
	if r.table != "" {
		var err error
		attached, err = Attached(r.ctx, r.pool, r.table)
		require.NoError(r.t, err)
		columns, err = Columns(r.ctx, r.pool, r.table)
		require.NoError(r.t, err)
	}
	return dsn, before, attached, columns
}

// deploy opens the pool of newly deployed code on dsn and returns it with the new code
// (FinalWrite, or NewWrite counting on) writing through it. The caller closes the pool.
func (r *run) deploy(dsn string) (*pgxpool.Pool, writer) {
	r.t.Helper()
	deployed, err := pgxpool.New(r.ctx, dsn)
	require.NoError(r.t, err)
	newCode := writer{"new code", r.c.FinalWrite, &r.finalN}
	if newCode.fn == nil {
		newCode = r.new() // the same code, counting on
	}
	fn := newCode.fn
	newCode.fn = func(ctx context.Context, _ *pgxpool.Pool, i int) error { return fn(ctx, deployed, i) }
	return deployed, newCode
}

type run struct {
	t     *testing.T
	ctx   context.Context
	c     Case
	pool  *pgxpool.Pool
	file  []byte
	table string
	start time.Time

	oldN, newN, finalN atomic.Int64
}

type writer struct {
	who string
	fn  Writer
	n   *atomic.Int64
}

func (r *run) old() writer { return writer{"old code", r.c.OldWrite, &r.oldN} }
func (r *run) new() writer { return writer{"new code", r.c.NewWrite, &r.newN} }

func (r *run) logf(format string, args ...any) {
	r.t.Helper()
	r.t.Logf("%6.2fs %s", time.Since(r.start).Seconds(), fmt.Sprintf(format, args...))
}

func (r *run) plan(what string) (*PlanResult, error) {
	r.t.Helper()
	r.logf("%s", what)
	// A file name of its own would put the case's name into every error, and so the
	// fragments WantRefused and MayRefuse look for.
	return Plan(r.ctx, r.pool, "migration.yaml", r.file)
}

// phase runs one step that must succeed for the case to go on.
func (r *run) phase(name string, fn func() error) {
	r.t.Helper()
	require.NoError(r.t, r.try(name, fn), name)
}

func (r *run) try(name string, fn func() error) error {
	r.t.Helper()
	start := time.Now()
	err := fn()
	r.logf("%s (%s)%s", name, time.Since(start).Round(time.Millisecond), map[bool]string{true: ": " + fmt.Sprint(err), false: ""}[err != nil])
	return err
}

func (r *run) exec(what, sql string) {
	r.t.Helper()
	if strings.TrimSpace(sql) == "" {
		return
	}
	_, err := r.pool.Exec(r.ctx, sql)
	require.NoError(r.t, err, what)
}

func (r *run) snapshot() string {
	r.t.Helper()
	s, err := SnapshotDatabase(r.ctx, r.pool)
	require.NoError(r.t, err)
	return s
}

// unchanged asserts that a refused migration left the database as it was.
func (r *run) unchanged(before string) {
	r.t.Helper()
	assert.Equal(r.t, before, r.snapshot(), "a refused migration must leave the table as it was")
	var zdm bool
	require.NoError(r.t, r.pool.QueryRow(r.ctx, `SELECT to_regnamespace('zdm') IS NOT NULL`).Scan(&zdm))
	assert.False(r.t, zdm, "a refused migration must not create schema zdm")
}

// writes runs n writes of each writer, concurrently, and waits for them.
func (r *run) writes(phase string, n int, concurrent bool, ws ...writer) {
	r.t.Helper()
	if concurrent {
		r.startWrites(phase, n, ws...)()
		return
	}
	for _, w := range ws {
		r.startWrites(phase, n, w)()
	}
}

// startWrites starts n writes of each writer, each writer in its own goroutine, and
// returns the function that waits for them and reports every failed write.
func (r *run) startWrites(phase string, n int, ws ...writer) (wait func()) {
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	total := 0
	start := time.Now()
	for _, w := range ws {
		if w.fn == nil {
			continue
		}
		total += n
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range n {
				i := int(w.n.Add(1) - 1)
				if err := w.fn(r.ctx, r.pool, i); err != nil {
					mu.Lock()
					errs = append(errs, fmt.Errorf("%s, write %d of %s: %w", phase, i, w.who, err))
					mu.Unlock()
				}
			}
		}()
	}
	return func() {
		r.t.Helper()
		wg.Wait()
		r.logf("writes %s: %d, %d failed (%s)", phase, total, len(errs), time.Since(start).Round(time.Millisecond))
		if len(errs) > 0 {
			r.t.Errorf("%d of %d application writes failed %s; every write must succeed. First ones:\n%s",
				len(errs), total, phase, firstDistinct(errs, 5))
		}
	}
}

// firstDistinct lists up to n errors, one per distinct message (keys and values aside).
func firstDistinct(errs []error, n int) string {
	var b strings.Builder
	seen := map[string]bool{}
	for _, err := range errs {
		var cause error = err
		for u := errors.Unwrap(cause); u != nil; u = errors.Unwrap(cause) {
			cause = u
		}
		if seen[cause.Error()] {
			continue
		}
		seen[cause.Error()] = true
		fmt.Fprintf(&b, "  %v\n", err)
		if len(seen) == n {
			break
		}
	}
	return b.String()
}

// noLeftovers asserts that contract left nothing of zdm's in the database.
func (r *run) noLeftovers() {
	r.t.Helper()
	rows, err := r.pool.Query(r.ctx, `
		WITH t AS (SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname <> 'zdm' AND c.relkind IN ('r', 'p'))
		SELECT 'column ' || t.oid::regclass || '.' || attname FROM pg_attribute, t WHERE attrelid = t.oid AND attnum > 0 AND NOT attisdropped AND attname LIKE '\_zdm%'
		UNION ALL SELECT 'trigger ' || tgname FROM pg_trigger, t WHERE tgrelid = t.oid AND tgname LIKE '%zdm%'
		UNION ALL SELECT 'constraint ' || conname FROM pg_constraint, t WHERE conrelid = t.oid AND conname LIKE '\_zdm%'
		UNION ALL SELECT 'index ' || c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid, t WHERE i.indrelid = t.oid AND c.relname LIKE '\_zdm%'
		UNION ALL SELECT 'relation ' || c.oid::regclass FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname <> 'zdm' AND c.relname LIKE '\_zdm%'
		UNION ALL SELECT 'function ' || p.oid::regprocedure FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'zdm'
		ORDER BY 1`)
	require.NoError(r.t, err)
	left, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(r.t, err)
	assert.Empty(r.t, left, "contract must leave no zdm column, trigger, constraint, index or sync function")
}

// carried asserts that every object that hung off the table before the migration still
// does, and that each column kept what it carried (on its final name, moved maps old to
// final names): NOT NULL, default, comment, privileges, statistics target, and its type
// unless the migration changed it.
func (r *run) carried(attached []string, before map[string]ColumnFacts, moved map[string]string) {
	r.t.Helper()
	table := r.table
	if r.c.FinalTable != "" {
		table = r.c.FinalTable
	}
	now, err := Attached(r.ctx, r.pool, table)
	require.NoError(r.t, err)
	var lost []string
	for _, a := range attached {
		if !contains(now, a) && !contains(r.c.Dropped, a) {
			lost = append(lost, a)
		}
	}
	assert.Empty(r.t, lost, "objects attached to %s before the migration are gone after contract", r.table)
	for _, d := range r.c.Dropped {
		assert.False(r.t, contains(now, d), "%s is dropped by the migration, yet still there", d)
	}

	after, err := Columns(r.ctx, r.pool, table)
	require.NoError(r.t, err)
	for col, b := range before {
		if contains(r.c.Dropped, col) {
			_, ok := after[col]
			assert.False(r.t, ok, "column %s is dropped by the migration, yet still there", col)
			continue
		}
		final, ok := moved[col]
		if !ok {
			final = col
		}
		a, ok := after[final]
		if !assert.True(r.t, ok, "column %s (%s after the migration) is gone", col, final) {
			continue
		}
		if col == final && moved[col] != "" {
			b.Type, a.Type = "", "" // change_type: the type is what changed
			if b.Collation == "" || a.Collation == "" {
				b.Collation, a.Collation = "", ""
			}
		}
		if contains(r.c.Redefaults, col) {
			b.Default, a.Default = "", ""
		}
		if contains(r.c.Renulls, col) {
			b.NotNull, a.NotNull = false, false
		}
		assert.Equal(r.t, b, a, "column %s (%s after the migration) must keep its NOT NULL, default, comment, privileges and statistics target", col, final)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

var (
	nameLine  = regexp.MustCompile(`(?m)^name:`)
	tableLine = regexp.MustCompile(`(?m)^table:\s*["']?([^"'\s#]+)`)
	notName   = regexp.MustCompile(`[^a-z0-9]+`)
)

// withName adds a name: line made from the case's name when the file has none.
func withName(caseName, file string) string {
	if nameLine.MatchString(file) {
		return file
	}
	n := strings.Trim(notName.ReplaceAllString(strings.ToLower(caseName), "-"), "-")
	if len(n) > 40 {
		n = strings.TrimRight(n[:40], "-")
	}
	return "name: " + n + "\n" + file
}

func tableOf(file string) string {
	m := tableLine.FindStringSubmatch(file)
	if m == nil {
		return ""
	}
	return m[1]
}
