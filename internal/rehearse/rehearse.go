// Package rehearse runs a migration on a copy of its tables, the way a worker would run
// it on the real ones, and says what the real run will cost: zdm rehearse. It copies the
// tables the migration touches (schema by pg_dump, rows streamed COPY to COPY, whole or
// a sample) from the source into a scratch database, replays the source's recent write
// rate there, runs every phase through the same pgexec code the activities use, and
// reports per phase its duration, rate, lock waits, the load's latency, WAL and growth,
// extrapolated to the whole table for a sample. The source is only read.
package rehearse

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.temporal.io/sdk/temporal"

	"github.com/zdmhq/zdm/activities"
	"github.com/zdmhq/zdm/internal/pgexec"
	"github.com/zdmhq/zdm/internal/planner"
	"github.com/zdmhq/zdm/internal/spec"
)

// Options tune a rehearsal.
type Options struct {
	// SourceDSN is the source's connection string, for pg_dump (through its
	// environment, never its arguments). It is not logged or stored.
	SourceDSN string
	// Sample is the percentage of the source's pages copied, in (0, 100].
	Sample float64
	Load   Load
	// LoadWindow is how long the source's write rate is sampled.
	LoadWindow time.Duration
	// Keep leaves the copied tables in the scratch database.
	Keep bool
	// Progress, when set, hears a line as each step begins.
	Progress io.Writer
}

// Report is what a rehearsal measured and predicts.
type Report struct {
	Migration string    `json:"migration"`
	File      string    `json:"file"`
	Checksum  string    `json:"checksum"`
	StartedAt time.Time `json:"started_at"`
	Finished  time.Time `json:"finished_at"`
	// Sample is the percentage asked for; SampleMethod how rows were chosen.
	Sample       float64     `json:"sample_percent"`
	SampleMethod string      `json:"sample_method"`
	Table        string      `json:"table"`
	Copied       []TableCopy `json:"copied"`
	CopySeconds  float64     `json:"copy_seconds"`
	// RowRatio is the source's rows over the copied rows of the backfilled table: what
	// per-row work is multiplied by.
	RowRatio float64  `json:"row_ratio"`
	LoadMode LoadMode `json:"load_mode"`
	Load     []Rates  `json:"load,omitempty"`
	Phases   []*Phase `json:"phases"`
	// MeasuredSeconds is the migration's time on the copy; PredictedSeconds the real
	// run's, MarginSeconds the half-width of its interval (see Notes).
	MeasuredSeconds  float64  `json:"measured_seconds"`
	PredictedSeconds float64  `json:"predicted_seconds"`
	MarginSeconds    float64  `json:"margin_seconds"`
	Success          bool     `json:"success"`
	Error            string   `json:"error,omitempty"`
	Notes            []string `json:"notes,omitempty"`
}

// Phase is one phase of the migration on the copy.
type Phase struct {
	Name    string  `json:"name"`
	Seconds float64 `json:"seconds"`
	// ScaledSeconds is the part that grows with the rows (batches, pages, statements
	// that read or rewrite the table); the rest is taken as is.
	ScaledSeconds    float64 `json:"scaled_seconds"`
	PredictedSeconds float64 `json:"predicted_seconds"`
	Rows             int64   `json:"rows,omitempty"`
	RowsPerSecond    float64 `json:"rows_per_second,omitempty"`
	Statements       int     `json:"statements,omitempty"`
	// LockRetries counts statements and batches retried after a lock timeout;
	// LockWaitSeconds is the time lost to them (each failed try's lock_timeout and the
	// backoff after it); LongestStatement is the slowest statement, its waits included.
	LockRetries             int        `json:"lock_retries"`
	LockWaitSeconds         float64    `json:"lock_wait_seconds"`
	LongestStatement        string     `json:"longest_statement,omitempty"`
	LongestStatementSeconds float64    `json:"longest_statement_seconds,omitempty"`
	Load                    *LoadStats `json:"load,omitempty"`
	// WALBytes is the WAL the cluster wrote during the phase: the scratch database's
	// whole cluster, so other work on it counts too.
	WALBytes int64 `json:"wal_bytes"`
	// TableBytesBefore/After are pg_total_relation_size of the backfilled table.
	TableBytesBefore int64 `json:"table_bytes_before"`
	TableBytesAfter  int64 `json:"table_bytes_after"`

	batches []batchTime
}

type batchTime struct {
	rows int64
	took time.Duration
}

// ErrSameDatabase is the error for a scratch database that is the source.
var ErrSameDatabase = errors.New("the scratch database is the source database")

// Run rehearses m: copy, load, plan, expand, backfill, verify, validate, contract. The
// report comes back even when the migration fails on the copy (Success false, Error
// set); the error is for a rehearsal that could not be made at all.
func Run(ctx context.Context, source, scratch *pgxpool.Pool, m *spec.Migration, opts Options) (*Report, error) {
	if opts.Sample <= 0 || opts.Sample > 100 {
		return nil, fmt.Errorf("--sample %g%%: use a percentage above 0 and at most 100", opts.Sample)
	}
	if opts.LoadWindow <= 0 {
		opts.LoadWindow = 5 * time.Second
	}
	srcID, err := pgexec.DatabaseIdentity(ctx, source)
	if err != nil {
		return nil, err
	}
	dstID, err := pgexec.DatabaseIdentity(ctx, scratch)
	if err != nil {
		return nil, err
	}
	if srcID.Same(dstID) {
		return nil, fmt.Errorf("%w (%s): zdm rehearse would change the real tables (fix: point the scratch URL at another, empty database, e.g. createdb zdm_rehearsal)", ErrSameDatabase, srcID)
	}
	r := &rehearsal{src: source, dst: scratch, m: m, opts: opts,
		rep: &Report{Migration: m.Name, File: m.Source.HistoryFile(), Checksum: m.Source.Checksum,
			StartedAt: time.Now(), Sample: opts.Sample, LoadMode: opts.Load.Mode}}
	// The copies go at the end, also when the copy itself fails halfway.
	if !opts.Keep {
		defer r.dropCopies()
	}
	if err := r.copy(ctx); err != nil {
		return nil, err
	}
	if err := r.startLoad(ctx); err != nil {
		return nil, err
	}
	runErr := r.migrate(ctx)
	if r.load != nil {
		r.load.stop()
		for _, ph := range r.rep.Phases {
			ph.Load = r.load.stats(ph.Name)
		}
	}
	r.predict()
	r.rep.Finished = time.Now()
	r.rep.Success = runErr == nil
	if runErr != nil {
		r.rep.Error = rootMessage(runErr)
	}
	r.rep.Notes = append(r.rep.Notes,
		"WAL is what the scratch database's whole cluster wrote during each phase (pg_current_wal_lsn): other work there counts too",
		"not included: Temporal's share of a real run (about 1 s), the gates' waits for a person, and the waits for applications to see flag changes (flags are not toggled on the copy)")
	return r.rep, nil
}

type rehearsal struct {
	src, dst *pgxpool.Pool
	m        *spec.Migration
	opts     Options
	rep      *Report
	copied   []string // tables created in the scratch database
	load     *load
	plan     *planner.Plan
}

func (r *rehearsal) say(format string, args ...any) {
	if r.opts.Progress != nil {
		fmt.Fprintf(r.opts.Progress, format+"\n", args...)
	}
}

func (r *rehearsal) note(format string, args ...any) {
	r.rep.Notes = append(r.rep.Notes, fmt.Sprintf(format, args...))
}

// tables lists what the migration names (its table, its operations' tables, the tables
// they reference) that exists in the source; sampled says which of them are sampled:
// those the operations change. Referenced tables are copied whole, so that a foreign
// key the migration adds finds every parent.
func (r *rehearsal) tables(ctx context.Context) (names []string, sampled map[string]bool, err error) {
	changed := map[string]bool{}
	for _, t := range r.m.Tables() {
		changed[t] = true
	}
	all := append([]string{}, r.m.Tables()...)
	if r.m.Table != "" {
		all = append([]string{r.m.Table}, all...)
	}
	for _, op := range r.m.Operations {
		if ref, ok := op.Op.(interface{ References() []string }); ok {
			all = append(all, ref.References()...)
		}
	}
	seen := map[string]bool{}
	sampled = map[string]bool{}
	for _, t := range all {
		if seen[t] {
			continue
		}
		seen[t] = true
		var exists bool
		if err := r.src.QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL`, quoteTable(t)).Scan(&exists); err != nil {
			return nil, nil, err
		}
		if !exists {
			continue // made by the migration itself, or a mistake the plan will name
		}
		if err := r.dst.QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL`, quoteTable(t)).Scan(&exists); err != nil {
			return nil, nil, err
		}
		if exists {
			return nil, nil, fmt.Errorf("table %s already exists in the scratch database: zdm rehearse copies it there itself (fix: drop it there, or use an empty scratch database)", t)
		}
		names = append(names, t)
		sampled[t] = changed[t] && r.opts.Sample < 100
	}
	return names, sampled, nil
}

// copy makes the scratch database's copy: types and schemas, the tables without their
// indexes and constraints, the rows, then the indexes, constraints and triggers (as
// pg_restore does: faster, and the copy's indexes are freshly built), then statistics
// and sequences.
func (r *rehearsal) copy(ctx context.Context) error {
	start := time.Now()
	names, sampled, err := r.tables(ctx)
	if err != nil {
		return err
	}
	if len(names) == 0 {
		r.note("no table of the migration exists in the source: nothing was copied")
		return nil
	}
	pgDump, err := pgDumpFor(ctx, r.src)
	if err != nil {
		return err
	}
	c := &copier{src: r.src, dst: r.dst, sourceDSN: r.opts.SourceDSN, notes: &r.rep.Notes}
	r.say("copying the schema of %s", strings.Join(names, ", "))
	if err := c.typeDeps(ctx, names); err != nil {
		return err
	}
	pre, err := c.dumpSection(ctx, pgDump, "pre-data", names)
	if err != nil {
		return err
	}
	post, err := c.dumpSection(ctx, pgDump, "post-data", names)
	if err != nil {
		return err
	}
	if err := c.apply(ctx, pre); err != nil {
		return err
	}
	r.copied = names
	// The table whose growth each phase reports, until the plan names the one it backfills.
	r.rep.Table = names[0]
	r.rep.SampleMethod = "whole tables"
	if r.opts.Sample < 100 {
		r.rep.SampleMethod = fmt.Sprintf("TABLESAMPLE SYSTEM (%g): a random %g%% of the table's pages, every row on them", r.opts.Sample, r.opts.Sample)
	}
	// One snapshot for every table, and a transaction that cannot write.
	err = pgx.BeginTxFunc(ctx, r.src, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		for _, t := range names {
			pct := 100.0
			if sampled[t] {
				pct = r.opts.Sample
			}
			r.say("copying the rows of %s (%g%%)", t, pct)
			began := time.Now()
			rows, size, err := copyRows(ctx, tx, r.dst, t, pct)
			if err != nil {
				return err
			}
			tc := TableCopy{Table: t, Sampled: sampled[t], CopiedRows: rows, Bytes: size, Seconds: since(began)}
			tc.SourceRows = rows
			if sampled[t] {
				if tc.SourceRows, err = sourceRows(ctx, tx, t, true); err != nil {
					return err
				}
			}
			r.rep.Copied = append(r.rep.Copied, tc)
		}
		return nil
	})
	if err != nil {
		return err
	}
	r.say("building the copies' indexes and constraints")
	if err := c.apply(ctx, post); err != nil {
		return err
	}
	for _, t := range names {
		if _, err := r.dst.Exec(ctx, "ANALYZE "+quoteTable(t)); err != nil {
			return fmt.Errorf("analyze the copy of %s: %w", t, err)
		}
		if err := setSequences(ctx, r.src, r.dst, t); err != nil {
			return err
		}
	}
	r.rep.CopySeconds = since(start)
	return nil
}

func (r *rehearsal) dropCopies() {
	if len(r.copied) == 0 {
		return
	}
	idents := make([]string, len(r.copied))
	for i, t := range r.copied {
		idents[i] = quoteTable(t)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := r.dst.Exec(ctx, "DROP TABLE IF EXISTS "+strings.Join(idents, ", ")); err != nil {
		r.note("the copies were left in the scratch database: %v", err)
	}
}

// startLoad works out the write rate and starts replaying it.
func (r *rehearsal) startLoad(ctx context.Context) error {
	if r.opts.Load.Mode == LoadOff || len(r.copied) == 0 {
		r.note("no synthetic write load (--load off)")
		if r.opts.Load.Mode != LoadOff {
			r.rep.LoadMode = LoadOff
		}
		return nil
	}
	r.say("sampling the source's write rate for %s", r.opts.LoadWindow)
	rates, err := sampleRates(ctx, r.src, r.copied, r.opts.LoadWindow)
	if err != nil {
		return err
	}
	if r.opts.Load.Mode == LoadFixed {
		// The given rate on the migration's own table, in the source's mix of
		// inserts, updates and deletes, or all updates when the source wrote nothing.
		main := r.copied[0]
		var mix Rates
		for _, x := range rates {
			if x.Table == main {
				mix = x
			}
		}
		fixed := Rates{Table: main, Updates: r.opts.Load.Rate}
		if t := mix.total(); t > 0 {
			k := r.opts.Load.Rate / t
			fixed = Rates{Table: main, Inserts: mix.Inserts * k, Updates: mix.Updates * k, Deletes: mix.Deletes * k}
		}
		rates = []Rates{fixed}
	}
	rates = r.scaleToSample(rates)
	var busy []Rates
	for _, x := range rates {
		if x.total() > 0 {
			busy = append(busy, x)
		}
	}
	r.rep.Load = busy
	if len(busy) == 0 {
		var standby bool
		_ = r.src.QueryRow(ctx, `SELECT pg_is_in_recovery()`).Scan(&standby)
		if standby {
			r.note("the source is a replica, whose pg_stat_user_tables does not count the primary's writes: no synthetic load (use --load N/s with the primary's rate)")
			return nil
		}
		r.note("the source wrote nothing to these tables during the %s sample: no synthetic load (use --load N/s to set one)", r.opts.LoadWindow)
		return nil
	}
	l, err := newLoad(ctx, r.dst, busy, &r.rep.Notes)
	if err != nil {
		return err
	}
	r.load = l
	l.start(ctx)
	return nil
}

// scaleToSample replays, on a sampled table, the share of the source's writes that fell
// on the rows copied: each row then sees writes as often as on the source. The whole
// rate on a tenth of the rows would write each row ten times as often, and the backfill
// (whose batches meet those writes on their pages and in their row locks) would be
// measured slower than it will run on the source.
func (r *rehearsal) scaleToSample(rates []Rates) []Rates {
	out := make([]Rates, 0, len(rates))
	for _, x := range rates {
		for _, c := range r.rep.Copied {
			if c.Table == x.Table && c.Sampled && c.SourceRows > 0 && c.CopiedRows > 0 && c.CopiedRows < c.SourceRows {
				k := float64(c.CopiedRows) / float64(c.SourceRows)
				r.note("the load on %s is the source's write rate times the %.1f%% of its rows copied (%.0f of %.0f writes/s), so each row is written as often as on the source",
					x.Table, 100*k, x.total()*k, x.total())
				x.Inserts, x.Updates, x.Deletes = x.Inserts*k, x.Updates*k, x.Deletes*k
			}
		}
		out = append(out, x)
	}
	return out
}

// phase measures one phase: its time, WAL, the table's growth, and marks the load's
// writes due meanwhile.
func (r *rehearsal) phase(ctx context.Context, name string, fn func(*Phase) error) error {
	r.say("%s", name)
	ph := &Phase{Name: name}
	r.rep.Phases = append(r.rep.Phases, ph)
	lsn0 := r.lsn(ctx)
	ph.TableBytesBefore = r.tableSize(ctx)
	if r.load != nil {
		r.load.setPhase(name)
	}
	began := time.Now()
	err := fn(ph)
	ph.Seconds = since(began)
	if r.load != nil {
		r.load.setPhase("")
	}
	if lsn1 := r.lsn(ctx); lsn0 != "" && lsn1 != "" {
		_ = r.dst.QueryRow(ctx, `SELECT pg_wal_lsn_diff($1::pg_lsn, $2::pg_lsn)::bigint`, lsn1, lsn0).Scan(&ph.WALBytes)
	}
	ph.TableBytesAfter = r.tableSize(ctx)
	if ph.Rows > 0 && ph.Seconds > 0 {
		ph.RowsPerSecond = float64(ph.Rows) / ph.Seconds
	}
	return err
}

func (r *rehearsal) lsn(ctx context.Context) string {
	var s string
	_ = r.dst.QueryRow(ctx, `SELECT pg_current_wal_lsn()::text`).Scan(&s)
	return s
}

func (r *rehearsal) tableSize(ctx context.Context) int64 {
	if r.rep.Table == "" {
		return 0
	}
	var n *int64
	_ = r.dst.QueryRow(ctx, `SELECT pg_total_relation_size(to_regclass($1))`, quoteTable(r.rep.Table)).Scan(&n)
	if n == nil {
		return 0
	}
	return *n
}

// retry is the activities' retry, counting into ph.
func (r *rehearsal) retry(ph *Phase) pgexec.Retry {
	rt := pgexec.DefaultRetry
	lt := r.m.LockTimeout.D()
	rt.OnRetry = func(_ string, _ int, wait time.Duration, _ error) {
		ph.LockRetries++
		ph.LockWaitSeconds += (wait + lt).Seconds()
	}
	return rt
}

// ddl runs statements as the RunDDL activity does (each in its own transaction under
// the lock timeout, retried), one at a time to time each.
func (r *rehearsal) ddl(ctx context.Context, ph *Phase, stmts []planner.Statement) error {
	for _, s := range stmts {
		began := time.Now()
		_, err := pgexec.Exec(ctx, r.dst, []planner.Statement{s}, r.plan.LockTimeout, r.retry(ph))
		r.timed(ph, s.ID, began, s.Scans || s.Rewrites)
		if err != nil {
			return err
		}
	}
	return nil
}

// timed records a statement's time in ph; scaled says whether it grows with the rows.
func (r *rehearsal) timed(ph *Phase, id string, began time.Time, scaled bool) {
	d := since(began)
	ph.Statements++
	if d > ph.LongestStatementSeconds {
		ph.LongestStatementSeconds, ph.LongestStatement = d, id
	}
	if scaled {
		ph.ScaledSeconds += d
	}
}

func anyScans(stmts []planner.Statement) bool {
	for _, s := range stmts {
		if s.Scans || s.Rewrites {
			return true
		}
	}
	return false
}

// migrate runs the workflow's forward path on the copy, gates taken as approved.
func (r *rehearsal) migrate(ctx context.Context) (err error) {
	m := r.m
	runID := "rehearsal-" + time.Now().UTC().Format("20060102T150405")
	err = r.phase(ctx, "prepare", func(ph *Phase) error {
		p, err := activities.Plan(ctx, &activities.Activities{DB: r.dst}, m, false)
		if err != nil {
			return err
		}
		r.plan = p
		r.rep.Table = p.TableName()
		if err := pgexec.EnsureState(ctx, r.dst); err != nil {
			return err
		}
		_, err = pgexec.Claim(ctx, r.dst, m.Name, p.Claims(), runID)
		return err
	})
	if err != nil {
		return fmt.Errorf("plan the migration on the copy: %w", err)
	}
	p := r.plan
	defer func() {
		if err != nil {
			// Leave the scratch database as the workflow would: rolled back.
			_, _ = pgexec.ExecOneTx(context.Background(), r.dst, "rollback", p.Rollback, p.LockTimeout, pgexec.DefaultRetry)
		}
		_ = pgexec.Release(context.Background(), r.dst, m.Name, map[bool]string{true: pgexec.StatusFailed, false: pgexec.StatusCompleted}[err != nil], runID)
	}()
	if m.Flags != nil {
		r.note("flags %s are not toggled: no application reads the copy", strings.TrimSpace(m.Flags.DualWrite+" "+m.Flags.ReadNew))
	}
	if err := r.phase(ctx, "expand", func(ph *Phase) error {
		if err := r.ddl(ctx, ph, p.Expand); err != nil {
			return err
		}
		if len(p.Rollback) > 0 {
			began := time.Now()
			_, err := pgexec.Rehearse(ctx, r.dst, "rehearse/rollback", p.Rollback, p.LockTimeout, r.retry(ph))
			r.timed(ph, "rehearse/rollback", began, anyScans(p.Rollback))
			return err
		}
		return nil
	}); err != nil {
		return fmt.Errorf("expand: %w", err)
	}
	target := pgexec.TargetOf(p)
	var upper pgexec.Cursor
	if !p.NoBackfill {
		if err := r.phase(ctx, "backfill", func(ph *Phase) error {
			var err error
			upper, err = r.backfill(ctx, ph, target)
			return err
		}); err != nil {
			return fmt.Errorf("backfill: %w", err)
		}
		if err := r.phase(ctx, "verify", func(ph *Phase) error { return r.verify(ctx, ph, target, upper) }); err != nil {
			return fmt.Errorf("verify: %w", err)
		}
	}
	if err := r.phase(ctx, "validate", func(ph *Phase) error {
		if err := r.ddl(ctx, ph, p.Validate); err != nil {
			return err
		}
		began := time.Now()
		_, err := pgexec.Rehearse(ctx, r.dst, "rehearse/contract", p.Contract, p.LockTimeout, r.retry(ph))
		r.timed(ph, "rehearse/contract", began, anyScans(p.Contract))
		return err
	}); err != nil {
		return fmt.Errorf("validate: %w", err)
	}
	if err := r.phase(ctx, "contract", func(ph *Phase) error {
		// As the Contract activity: one transaction, then the concurrent statements.
		var done func(context.Context, pgx.Tx) (bool, error)
		if len(p.Ops) > 0 {
			done = func(ctx context.Context, tx pgx.Tx) (bool, error) {
				exists, err := pgexec.TriggerExists(ctx, tx, p)
				return !exists, err
			}
		}
		began := time.Now()
		_, err := pgexec.ExecOneTxSkip(ctx, r.dst, "contract", p.Contract, p.LockTimeout, r.retry(ph), done)
		r.timed(ph, "contract", began, anyScans(p.Contract))
		return err
	}); err != nil {
		return fmt.Errorf("contract: %w", err)
	}
	return nil
}

// backfill runs batches as the BackfillSlice activity does, from the first key to the
// last, keeping each batch's time.
func (r *rehearsal) backfill(ctx context.Context, ph *Phase, t pgexec.Target) (pgexec.Cursor, error) {
	upper, err := pgexec.Upper(ctx, r.dst, t)
	if err != nil || upper == nil {
		return upper, err
	}
	b := r.m.Backfill
	if b.MaxReplicationLag > 0 || b.ThrottleQuery != "" {
		r.note("the backfill's throttle (max_replication_lag, throttle_query) is not asked on the copy: it answers for the source")
	}
	bf := &pgexec.Backfiller{Pool: r.dst, Target: t, Upper: upper, Size: b.BatchSize}
	retry := r.retry(ph)
	var cursor pgexec.Cursor
	for {
		began := time.Now()
		var batch pgexec.Batch
		_, err := retry.Do(ctx, "backfill batch", func(ctx context.Context) error {
			var err error
			batch, err = bf.Next(ctx, cursor)
			return err
		})
		if err != nil {
			return upper, fmt.Errorf("backfill batch after %v: %w", cursor, err)
		}
		took := time.Since(began)
		bf.Adapt(batch.Rows, took, b.TargetBatchTime.D(), spec.MaxBatchSize)
		ph.batches = append(ph.batches, batchTime{rows: batch.Rows, took: took})
		ph.Rows += batch.Rows
		ph.Statements++
		if s := took.Seconds(); s > ph.LongestStatementSeconds {
			ph.LongestStatementSeconds, ph.LongestStatement = s, "backfill batch"
		}
		cursor = batch.Cursor
		if batch.Done {
			break
		}
		wait := b.Pause.D()
		if b.MaxRowsPerSecond > 0 {
			if least := time.Duration(float64(batch.Rows) / float64(b.MaxRowsPerSecond) * float64(time.Second)); least > took+wait {
				wait = least - took
			}
		}
		select {
		case <-ctx.Done():
			return upper, ctx.Err()
		case <-time.After(wait):
		}
	}
	return upper, nil
}

// verifyPage is the Verify activity's page size.
const verifyPage = 100000

// verify pages through the table as the Verify activity does.
func (r *rehearsal) verify(ctx context.Context, ph *Phase, t pgexec.Target, upper pgexec.Cursor) error {
	if upper == nil {
		return nil
	}
	var lo pgexec.Cursor
	var mismatches int64
	var sample []string
	for {
		hi, err := pgexec.BatchEnd(ctx, r.dst, t, lo, upper, verifyPage)
		if err != nil {
			return err
		}
		n, s, err := pgexec.Mismatches(ctx, r.dst, t, lo, hi)
		if err != nil {
			return err
		}
		mismatches += n
		sample = append(sample, s...)
		ph.Statements++
		lo = hi
		if hi.Equal(upper) {
			break
		}
	}
	var rows int64
	_ = r.dst.QueryRow(ctx, `SELECT count(*) FROM `+quoteTable(r.rep.Table)).Scan(&rows)
	ph.Rows = rows
	if mismatches > 0 {
		return fmt.Errorf("verification found %d row(s) whose new columns differ from the up expression of the old (keys %s)", mismatches, strings.Join(sample[:min(5, len(sample))], ", "))
	}
	return nil
}

// predict extrapolates each phase to the source's whole table: the per-row parts
// (backfill, verify, statements that read or rewrite the table) by the row ratio, the
// rest as measured. The margin comes from how much the backfill's batches varied.
func (r *rehearsal) predict() {
	rep := r.rep
	rep.RowRatio = 1
	for _, c := range rep.Copied {
		if c.Table == rep.Table && c.Sampled && c.CopiedRows > 0 {
			rep.RowRatio = float64(c.SourceRows) / float64(c.CopiedRows)
		}
	}
	var scaled float64
	for _, ph := range rep.Phases {
		if ph.Name == "backfill" || ph.Name == "verify" {
			ph.ScaledSeconds = ph.Seconds
		}
		ph.ScaledSeconds = math.Min(ph.ScaledSeconds, ph.Seconds)
		ph.PredictedSeconds = ph.Seconds - ph.ScaledSeconds + ph.ScaledSeconds*rep.RowRatio
		rep.MeasuredSeconds += ph.Seconds
		rep.PredictedSeconds += ph.PredictedSeconds
		scaled += ph.ScaledSeconds * rep.RowRatio
	}
	if rep.RowRatio == 1 {
		rep.MarginSeconds = 0
		if len(rep.Copied) > 0 {
			r.note("the whole table was copied: the prediction is the measured time")
		}
		return
	}
	rel, n := batchSpread(rep.Phases)
	if scaled == 0 {
		return
	}
	if n == 0 {
		rel = 0.5
		r.note("no backfill to learn the spread from: the margin (±50%% of the statements that read or rewrite the table) is a rough guess")
	} else if n < 3 {
		rel = 0.5
		r.note("only %d backfill batch(es) on the sample: the margin (±50%% of the per-row part) is a rough guess; a larger --sample gives a firmer one", n)
	} else {
		r.note("margin: 95%% interval of the mean time per row over %d backfill batches, applied to every per-row part (%.0f%% of the prediction); it covers batch-to-batch noise, not a source whose rows, caches or hardware differ from the copy's", n, 100*scaled/math.Max(rep.PredictedSeconds, 1e-9))
	}
	rep.MarginSeconds = scaled * rel
}

// batchSpread is the relative half-width of a 95% interval of the backfill's mean time
// per row, from the spread of its batches, and how many batches it saw.
func batchSpread(phases []*Phase) (float64, int) {
	var xs []float64
	for _, ph := range phases {
		for _, b := range ph.batches {
			if b.rows > 0 {
				xs = append(xs, b.took.Seconds()/float64(b.rows))
			}
		}
	}
	n := len(xs)
	if n < 3 {
		return 0, n
	}
	var mean float64
	for _, x := range xs {
		mean += x
	}
	mean /= float64(n)
	var ss float64
	for _, x := range xs {
		ss += (x - mean) * (x - mean)
	}
	sd := math.Sqrt(ss / float64(n-1))
	return 1.96 * sd / mean / math.Sqrt(float64(n)), n
}

// rootMessage is the message of an activity-style error without its wrapping.
func rootMessage(err error) string {
	var app *temporal.ApplicationError
	if errors.As(err, &app) {
		return app.Message()
	}
	return err.Error()
}
