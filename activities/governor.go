package activities

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.temporal.io/sdk/log"

	"github.com/zdmhq/zdm/internal/governor"
	"github.com/zdmhq/zdm/internal/pgexec"
	"github.com/zdmhq/zdm/internal/spec"
)

// governorStartBatch is the batch size a governed backfill starts from: about 5 ms of
// updates on a 2-core PostgreSQL, so that the first batch, measured before anything is
// known, cannot hold the application for long. Batches double per batch from there.
const governorStartBatch = 1000

// The governor's sources, as progress names them.
const (
	waitSource  = "longest lock wait"
	pgssSource  = "p99 estimate (pg_stat_statements, mean + 2.33 sd)"
	probeSource = "probe p90 over 3s (a row read and a commit)"
)

// The probes are judged over probeSpan, by their probeQuantile, once at least minProbes
// are in it. A single slow probe in ten is a checkpoint or the backfill's last burst
// being flushed; one in ten or more over the limit, for three seconds, is the load the
// backfill puts on every transaction now.
const (
	probeSpan     = 3 * time.Second
	probeQuantile = 0.9
	minProbes     = 10
)

type probeSample struct {
	at  time.Time
	lat time.Duration
}

// estimateEvery is how often pg_stat_statements is read: at 300 statements a second a
// second holds enough calls for an estimate.
const estimateEvery = time.Second

// sliceGovernor keeps the application's latency under the slice's MaxAppP99: each batch
// is watched from a connection of its own (pgexec.WaitSampler), and the governor sets
// the next batch's target time and the pause after it. A nil *sliceGovernor (the limit
// is off) passes the user's settings through.
type sliceGovernor struct {
	ctl     *governor.Controller
	sampler *pgexec.WaitSampler
	prober  *pgexec.Prober
	prom    *promLatency // nil without backfill.latency_query

	mu    sync.Mutex
	waits pgexec.AppWaits
	last  governor.Decision

	// pg_stat_statements, when it is installed: the last reading and estimate.
	table    string
	pgss     bool
	totals   pgexec.StatementTotals
	windowAt time.Time
	// windowRows are the rows backfilled since windowAt: the window's pace.
	windowRows int64
	probes     []probeSample // the last probeSpan's
}

func (a *Activities) newSliceGovernor(in SliceInput) *sliceGovernor {
	if in.MaxAppP99 <= 0 {
		return nil
	}
	c := governor.New(governor.Defaults(in.MaxAppP99, in.TargetBatchTime, in.Pause))
	c.Resume(in.Governor)
	return &sliceGovernor{ctl: c, sampler: &pgexec.WaitSampler{Pool: a.DB}, prober: &pgexec.Prober{Pool: a.DB, Target: in.Target},
		prom: newPromLatency(in), last: c.Decision(), table: in.Target.Table}
}

// start reads pg_stat_statements once, to know whether it can serve, starts the probes
// and says in the log which sources the governor reads. The returned stop ends the
// probes.
func (g *sliceGovernor) start(ctx context.Context, pool *pgxpool.Pool, logger log.Logger) (stop func()) {
	if g == nil {
		return func() {}
	}
	g.prober.Start(ctx)
	g.windowAt = time.Now()
	t, err := pgexec.ReadStatementTotals(ctx, pool, g.table)
	g.pgss, g.totals = err == nil && !t.Unavailable, t
	sources := waitSource + " (pg_locks); " + probeSource
	if g.prom != nil {
		g.prom.logger = logger
		sources += "; " + promSource
	}
	if g.pgss {
		sources += "; " + pgssSource
	} else if err != nil {
		logger.Info("governor: pg_stat_statements unreadable; lock waits only", "error", err)
	}
	logger.Info("governor on", "max_app_p99", g.ctl.Config().Limit, "sources", sources)
	return g.prober.Stop
}

// estimateNow returns, once a window of estimateEvery has closed, the largest of the
// window's estimates: the probes' p99, pg_stat_statements' p99 estimate and the
// application's own figure from latency_query.
func (g *sliceGovernor) estimateNow(ctx context.Context, pool *pgxpool.Pool) (est time.Duration, source string, rate float64, fresh bool) {
	took := time.Since(g.windowAt)
	if took < estimateEvery {
		return 0, "", 0, false
	}
	rate = float64(g.windowRows) / took.Seconds()
	g.windowAt, g.windowRows = time.Now(), 0
	if q, ok := g.probeQuantile(g.prober.Take()); ok {
		est, source, fresh = q, probeSource, true
	}
	if p99, ok := g.pgssNow(ctx, pool); ok && p99 > est {
		est, source, fresh = p99, pgssSource, true
	}
	if l, ok := g.prom.read(ctx); ok && l > est {
		est, source, fresh = l, promSource, true
	}
	return est, source, rate, fresh
}

// probeQuantile adds a window's probes to the last probeSpan's and returns their
// probeQuantile.
func (g *sliceGovernor) probeQuantile(w pgexec.ProbeWindow) (time.Duration, bool) {
	now := time.Now()
	for _, l := range w.Samples {
		g.probes = append(g.probes, probeSample{at: now, lat: l})
	}
	keep := g.probes[:0]
	for _, p := range g.probes {
		if now.Sub(p.at) < probeSpan {
			keep = append(keep, p)
		}
	}
	g.probes = keep
	if len(keep) < minProbes {
		return 0, false
	}
	lats := make([]time.Duration, len(keep))
	for i, p := range keep {
		lats[i] = p.lat
	}
	slices.Sort(lats)
	return lats[int(float64(len(lats)-1)*probeQuantile)], true
}

// pgssNow returns pg_stat_statements' p99 estimate over the calls since its last reading.
func (g *sliceGovernor) pgssNow(ctx context.Context, pool *pgxpool.Pool) (time.Duration, bool) {
	if !g.pgss {
		return 0, false
	}
	t, err := pgexec.ReadStatementTotals(ctx, pool, g.table)
	if err != nil || t.Unavailable {
		return 0, false
	}
	if t.Calls < g.totals.Calls { // counters reset: start a new window
		g.totals = t
		return 0, false
	}
	p99, _, ok := pgexec.P99Estimate(g.totals, t)
	g.totals = t
	return p99, ok
}

// startSize is the first batch's size: a fresh governed backfill starts small.
func (g *sliceGovernor) startSize(in SliceInput) int {
	if g == nil || in.Governor.BatchTime > 0 {
		return in.BatchSize
	}
	return min(in.BatchSize, governorStartBatch)
}

// largest is the largest batch size adapting may reach: the file's batch_size when only
// the governor adapts (batch_size keeps its meaning of rows per transaction at most),
// else spec.MaxBatchSize as target_batch_time always allowed.
func (g *sliceGovernor) largest(in SliceInput) int {
	if g == nil || in.TargetBatchTime > 0 || in.FileBatchSize <= 0 {
		return spec.MaxBatchSize
	}
	return in.FileBatchSize
}

// batchWatch is the Backfiller's watch, nil without a governor.
func (g *sliceGovernor) batchWatch() pgexec.BatchWatch {
	if g == nil {
		return nil
	}
	return func(ctx context.Context, pid uint32) func() {
		stop := g.sampler.Watch(ctx, pid)
		return func() {
			w := stop()
			g.mu.Lock()
			g.waits = w
			g.mu.Unlock()
		}
	}
}

// afterBatch feeds the governor what the last batch caused and returns the target time
// for the next batch and the pause before it.
//
// The lock waits are the batch's own, and a shorter batch shortens them: they set the
// batch time. The estimates (probes, pg_stat_statements, latency_query) cover the last
// second and come from the load the backfill puts on the database, which a shorter batch
// does not lower: they set the pace, rows a second (internal/governor, Observation.Load).
func (g *sliceGovernor) afterBatch(ctx context.Context, pool *pgxpool.Pool, in SliceInput, rows int64) (target, pause time.Duration, rate float64) {
	if g == nil {
		return in.TargetBatchTime, in.Pause, 0
	}
	g.windowRows += rows
	g.mu.Lock()
	w := g.waits
	g.waits = pgexec.AppWaits{}
	g.mu.Unlock()
	d := g.last
	// Once a window: the load (probes, statements, latency_query) sets the pace.
	if est, source, rate, fresh := g.estimateNow(ctx, pool); fresh {
		d = g.ctl.Observe(governor.Observation{Latency: est, Source: source, Valid: true, Load: true, Rate: rate})
	}
	// Every batch: the lock waits it caused set the batch time.
	if w.Err == nil && w.Samples > 0 {
		d = g.ctl.Observe(governor.Observation{Latency: w.Longest, Waiters: w.Waiters, Source: waitSource, Valid: true})
	}
	g.last = d
	return d.BatchTime, d.Pause, d.MaxRowsPerSecond
}

// report writes the governor's reason and state into the slice's progress.
func (g *sliceGovernor) report(p *SliceProgress) {
	if g == nil {
		return
	}
	p.Governor, p.GovernorState = g.last.Holding, g.ctl.State()
}
