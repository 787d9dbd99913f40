package activities

import (
	"context"
	"sync"
	"time"

	"github.com/zdmhq/zdm/internal/governor"
	"github.com/zdmhq/zdm/internal/pgexec"
)

// governorStartBatch is the batch size a governed backfill starts from: about 5 ms of
// updates on a 2-core PostgreSQL, so that the first batch, measured before anything is
// known, cannot hold the application for long. Batches double per batch from there.
const governorStartBatch = 1000

// waitSource names what the governor reads, for progress.
const waitSource = "longest lock wait"

// sliceGovernor keeps the application's latency under the slice's MaxAppP99: each batch
// is watched from a connection of its own (pgexec.WaitSampler), and the governor sets
// the next batch's target time and the pause after it. A nil *sliceGovernor (the limit
// is off) passes the user's settings through.
type sliceGovernor struct {
	ctl     *governor.Controller
	sampler *pgexec.WaitSampler

	mu    sync.Mutex
	waits pgexec.AppWaits
	last  governor.Decision
}

func (a *Activities) newSliceGovernor(in SliceInput) *sliceGovernor {
	if in.MaxAppP99 <= 0 {
		return nil
	}
	c := governor.New(governor.Defaults(in.MaxAppP99, in.TargetBatchTime, in.Pause))
	c.Resume(in.Governor)
	return &sliceGovernor{ctl: c, sampler: &pgexec.WaitSampler{Pool: a.DB}, last: c.Decision()}
}

// startSize is the first batch's size: a fresh governed backfill starts small.
func (g *sliceGovernor) startSize(in SliceInput) int {
	if g == nil || in.Governor.BatchTime > 0 {
		return in.BatchSize
	}
	return min(in.BatchSize, governorStartBatch)
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
func (g *sliceGovernor) afterBatch(in SliceInput) (target, pause time.Duration) {
	if g == nil {
		return in.TargetBatchTime, in.Pause
	}
	g.mu.Lock()
	w := g.waits
	g.waits = pgexec.AppWaits{}
	g.mu.Unlock()
	d := g.ctl.Observe(governor.Observation{
		Latency: w.Longest, Waiters: w.Waiters, Source: waitSource,
		Valid: w.Err == nil && w.Samples > 0,
	})
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
