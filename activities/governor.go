package activities

import (
	"context"
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
	probeSource = "probe p99 (a row read and a commit)"
)

// minProbes is how many probes a window needs before its p99 counts.
const minProbes = 5

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
	// estimate is the last window's: the probes' p99 or pg_stat_statements', the larger.
	estimate time.Duration
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
	stop = g.prober.Stop
	if g.prom != nil {
		g.prom.logger = logger
		stopProm := g.prom.start(ctx)
		stop = func() { g.prober.Stop(); stopProm() }
		sources += "; " + promSource
	}
	if g.pgss {
		sources += "; " + pgssSource
	} else if err != nil {
		logger.Info("governor: pg_stat_statements unreadable; lock waits only", "error", err)
	}
	logger.Info("governor on", "max_app_p99", g.ctl.Config().Limit, "sources", sources)
	return stop
}

// estimateNow returns, once a window of estimateEvery has closed, the largest of the
// window's estimates: the probes' p99, pg_stat_statements' p99 estimate and the
// application's own figure from latency_query.
func (g *sliceGovernor) estimateNow(ctx context.Context, pool *pgxpool.Pool) (est time.Duration, source string, fresh bool) {
	if time.Since(g.windowAt) < estimateEvery {
		return 0, "", false
	}
	g.windowAt = time.Now()
	if w := g.prober.Take(); w.N >= minProbes {
		est, source, fresh = w.P99, probeSource, true
	}
	if p99, ok := g.pgssNow(ctx, pool); ok && p99 > est {
		est, source, fresh = p99, pgssSource, true
	}
	if l, ok := g.prom.latest(); ok && l > est {
		est, source, fresh = l, promSource, true
	}
	if fresh {
		g.estimate = est
	}
	return est, source, fresh
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
// The lock waits are the batch's own; the estimates (probes, pg_stat_statements) cover
// the last second. A fresh estimate over the lock wait is what the governor sees; between
// estimates, a last estimate over half the limit keeps it from growing on lock waits
// alone (it neither shrinks again on a stale figure).
func (g *sliceGovernor) afterBatch(ctx context.Context, pool *pgxpool.Pool, in SliceInput) (target, pause time.Duration) {
	if g == nil {
		return in.TargetBatchTime, in.Pause
	}
	g.mu.Lock()
	w := g.waits
	g.waits = pgexec.AppWaits{}
	g.mu.Unlock()
	obs := governor.Observation{
		Latency: w.Longest, Waiters: w.Waiters, Source: waitSource,
		Valid: w.Err == nil && w.Samples > 0,
	}
	if est, source, fresh := g.estimateNow(ctx, pool); fresh && est > obs.Latency {
		obs = governor.Observation{Latency: est, Source: source, Valid: true}
	} else if !fresh && g.estimate > g.ctl.Config().Limit/2 && g.estimate > obs.Latency {
		return g.last.BatchTime, g.last.Pause
	}
	d := g.ctl.Observe(obs)
	g.last = d
	return d.BatchTime, d.Pause
}

// report writes the governor's reason and state into the slice's progress.
func (g *sliceGovernor) report(p *SliceProgress) {
	if g == nil {
		return
	}
	p.Governor, p.GovernorState = g.last.Holding, g.ctl.State()
}
