package workflows

import (
	"fmt"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/zdmhq/zdm/internal/wire"
)

// autoParallel runs the partitions of a `parallelism: auto` backfill at most
// State.AutoParallelism at a time, and moves that limit with what each slice's latency
// governor saw: one more after a slice the governor did not hold back, one fewer after
// a slice that went over max_app_p99. It starts at 1 and lies between 1 and the
// partitions not done; it travels across continue-as-new in the state.
//
// Only the workflow's own counters change here (no command), so the limit costs the
// history nothing but the "auto-parallelism" version marker of the branch that uses it.
type autoParallel struct {
	r *run
	// running is the slices started and not returned, in this run.
	running int
}

// autoParallelism is the limiter of a backfill with parallelism: auto, nil otherwise
// (a fixed number runs every partition at once, as it always has).
func (r *run) autoParallelism() *autoParallel {
	if !r.m.Backfill.Parallelism.Auto() {
		return nil
	}
	a := &autoParallel{r: r}
	a.clamp()
	return a
}

// limit is the slices allowed at once; 0 without auto.
func (a *autoParallel) limit() int {
	if a == nil {
		return 0
	}
	return a.r.st.AutoParallelism
}

// acquire waits for a place to run a slice, and takes it. It returns false, taking
// nothing, when quit says the partition's loop is to end (a failure elsewhere, the run's
// slices spent) or the workflow is cancelled. A paused backfill gives no place: a slice
// waiting for one when the pause came does not start until resume.
func (a *autoParallel) acquire(ctx workflow.Context, part *PartitionState, quit func() bool) bool {
	if a == nil {
		return true
	}
	err := workflow.Await(ctx, func() bool {
		return quit() || (!a.r.st.Paused && a.running < a.r.st.AutoParallelism)
	})
	if err != nil || quit() {
		return false
	}
	a.running++
	part.running = true
	return true
}

// activeShare is what a returning slice's elapsed time is divided by to count the
// backfill's active time: the slices running side by side, itself included (all the
// partitions when they all run at once).
func (a *autoParallel) activeShare(partitions int) time.Duration {
	if a == nil {
		return time.Duration(partitions)
	}
	return time.Duration(max(1, a.running))
}

// release gives the place back once a slice returned, and moves the limit by what the
// slice reports (s is nil for a failed slice, which moves nothing). A slice held back
// by a throttle (replication lag, the throttle query) raises nothing either: the
// database asked for less, not more.
func (a *autoParallel) release(ctx workflow.Context, part *PartitionState, s *wire.SliceProgress) {
	if a == nil {
		return
	}
	a.running--
	part.running = false
	if s == nil {
		return
	}
	before := a.r.st.AutoParallelism
	switch {
	case s.GovernorState.Over:
		a.r.st.AutoParallelism--
	case s.Governor == "" && s.Throttled == "":
		a.r.st.AutoParallelism++
	}
	a.clamp()
	if k := a.r.st.AutoParallelism; k != before {
		workflow.GetLogger(ctx).Info("backfill parallelism changed", "from", before, "to", k,
			"after_partition", part.Part, "over_limit", s.GovernorState.Over)
	}
}

// clamp keeps the limit between 1 and the partitions not done: a partition that
// finishes frees its place, and a limit above the partitions left would only make the
// next raise count for nothing.
func (a *autoParallel) clamp() {
	left := 0
	for _, p := range a.r.st.Partitions {
		if !p.Done {
			left++
		}
	}
	a.r.st.AutoParallelism = max(1, min(a.r.st.AutoParallelism, left))
}

// autoRecentRate is the backfill's rate with auto: the partitions' last rates, averaged
// over those that have one, times the partitions allowed at once (the sum of every
// partition's last rate would count partitions waiting for a place as running).
func (r *run) autoRecentRate() float64 {
	var sum float64
	n, left := 0, 0
	for _, p := range r.st.Partitions {
		if p.Done {
			continue
		}
		left++
		if p.Rate > 0 {
			sum += p.Rate
			n++
		}
	}
	if n == 0 {
		return 0
	}
	return sum / float64(n) * float64(min(max(1, r.st.AutoParallelism), left))
}

// progressParallelism is Progress.Parallelism: the number in the file, or with auto the
// partitions allowed at once now.
func (r *run) progressParallelism() int {
	if r.m.Backfill.Parallelism.Auto() {
		return r.st.AutoParallelism
	}
	return int(r.m.Backfill.Parallelism)
}

// autoSummary is the part of PartitionsSummary that says how many partitions run at
// once when the governor decides it; "" otherwise.
func autoSummary(p Progress) string {
	if !p.ParallelismAuto || p.Parallelism <= 0 {
		return ""
	}
	return fmt.Sprintf(", parallelism %d (auto)", p.Parallelism)
}

// waiting says whether a partition of an auto backfill waits for a place: not done, and
// no slice of it running.
func (r *run) waiting(p PartitionState) bool {
	return r.m.Backfill.Parallelism.Auto() && !p.Done && !p.running
}
