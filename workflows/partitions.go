package workflows

import (
	"fmt"

	"go.temporal.io/sdk/workflow"

	"github.com/zdmhq/zdm/internal/plan"
	"github.com/zdmhq/zdm/internal/wire"
)

// PartitionState is where one partition of a partitioned backfill is, carried across
// continue-as-new.
type PartitionState struct {
	plan.Partition
	// BatchSize is what the partition's last slice adapted its batches to.
	BatchSize int `json:"batch_size,omitempty"`
	// Rate is the rows/s of the partition's last slice.
	Rate      float64 `json:"rate,omitempty"`
	Throttled string  `json:"throttled,omitempty"`
	// Governor is where the partition's latency governor stood after its last slice.
	Governor      string             `json:"governor,omitempty"`
	GovernorState wire.GovernorState `json:"governor_state,omitzero"`
	// running: a slice of it runs now (kept with parallelism: auto only, autoparallel.go).
	running bool
}

// PartitionProgress is one partition in the progress query.
type PartitionProgress struct {
	Part     int   `json:"part"`
	RowsDone int64 `json:"rows_done"`
	Done     bool  `json:"done"`
	// Waiting: with parallelism: auto, the partition waits for a place to run.
	Waiting bool `json:"waiting,omitempty"`
}

// parallelism is the partitions the file asks for (1 when it asks for none).
func (r *run) parallelism() int { return r.m.Backfill.Parallelism.Partitions() }

// backfillPartitioned splits the range into partitions (once: an activity creates
// them, or reads them back with their committed cursors) and runs one loop of slices per
// partition at once, each slice an activity any worker on the task queue may take. The
// run continues as new once its slices reach the limit, after every running slice has
// returned: the partitions' cursors, rows and done flags travel in the state.
func (r *run) backfillPartitioned(ctx workflow.Context, ch *channels) error {
	target := plan.TargetOf(r.st.Plan)
	runID := workflow.GetInfo(ctx).FirstRunID
	if r.st.Partitions == nil {
		var res wire.PartitionsResult
		err := workflow.ExecuteActivity(shortOptions(ctx), wire.BackfillPartitions, wire.PartitionsInput{
			Target: target, Upper: r.st.Upper, Parallelism: r.parallelism(), RunID: runID,
		}).Get(ctx, &res)
		if err != nil {
			return err
		}
		r.st.Partitions = make([]PartitionState, len(res.Partitions))
		for i, p := range res.Partitions {
			r.st.Partitions[i] = PartitionState{Partition: p}
		}
		r.sumPartitions()
		workflow.GetLogger(ctx).Info("backfill partitioned", "partitions", len(res.Partitions), "split_by", res.SplitBy)
	}

	// With parallelism: auto, at most the governor's number of slices run at once.
	auto := r.autoParallelism()

	// The first failure cancels the other partitions' slices; they are waited for, so
	// that no batch is still running when a rollback starts.
	pctx, cancel := workflow.WithCancel(ctx)
	defer cancel()
	var failed error
	stop := false
	wg := workflow.NewWaitGroup(ctx)
	for i := range r.st.Partitions {
		if r.st.Partitions[i].Done {
			continue
		}
		wg.Add(1)
		workflow.Go(pctx, func(gctx workflow.Context) {
			defer wg.Done()
			part := &r.st.Partitions[i]
			for !part.Done && !stop && failed == nil {
				if r.st.Paused {
					if err := workflow.Await(gctx, func() bool { return !r.st.Paused || failed != nil }); err != nil || failed != nil {
						return
					}
				}
				if !auto.acquire(gctx, part, func() bool { return stop || failed != nil }) {
					return
				}
				var s wire.SliceProgress
				err := workflow.ExecuteActivity(r.sliceOptions(gctx), wire.BackfillPartitionSlice, wire.PartitionSliceInput{
					Slice: r.sliceInput(target, part), Part: part.Part, RunID: runID, Parallelism: auto.limit(),
				}).Get(gctx, &s)
				if err != nil {
					auto.release(gctx, part, nil)
					if failed == nil {
						failed = err
						cancel()
					}
					return
				}
				part.Cursor, part.RowsDone, part.Done, part.Throttled = s.Cursor, s.RowsDone, s.Done, s.Throttled
				part.Batches += int64(s.Batches)
				if s.BatchSize > 0 {
					part.BatchSize = s.BatchSize
				}
				part.Governor, part.GovernorState = s.Governor, s.GovernorState
				part.Rate = 0
				if s.Elapsed > 0 && s.Rows > 0 && !s.Done {
					part.Rate = float64(s.Rows) / s.Elapsed.Seconds()
				}
				r.st.Batches += int64(s.Batches)
				r.st.LockRetries += s.Retries
				// Partitions run side by side: the backfill's active time is about their
				// time over the partitions.
				r.st.BackfillActive += s.Elapsed / auto.activeShare(len(r.st.Partitions))
				auto.release(gctx, part, &s)
				r.sumPartitions()
				r.st.SlicesThisRun++
				if r.st.SlicesThisRun >= r.opts.SlicesPerRun || workflow.GetInfo(gctx).GetContinueAsNewSuggested() {
					stop = true
				}
			}
		})
	}
	// Wait even when the workflow is cancelled: the slices, cancelled too, are waited
	// for until they have really stopped.
	wctx, _ := workflow.NewDisconnectedContext(ctx)
	wg.Wait(wctx)
	if failed != nil {
		return failed
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	for _, p := range r.st.Partitions {
		if !p.Done {
			return r.continueAsNew(ctx, ch)
		}
	}
	r.st.BackfillDone = true
	r.st.Throttled, r.st.Governor = "", ""
	r.st.RowsTotal = r.st.RowsDone
	return nil
}

// sumPartitions sets the backfill's totals from its partitions.
func (r *run) sumPartitions() {
	var rows int64
	var rate float64
	throttled, governed := "", ""
	for _, p := range r.st.Partitions {
		rows += p.RowsDone
		rate += p.Rate
		if throttled == "" {
			throttled = p.Throttled
		}
		if governed == "" && !p.Done && p.Governor != "" {
			governed = fmt.Sprintf("partition %d: %s", p.Part, p.Governor)
		}
	}
	r.st.RowsDone, r.st.RecentRate, r.st.Throttled, r.st.Governor = rows, rate, throttled, governed
	if r.m.Backfill.Parallelism.Auto() {
		r.st.RecentRate = r.autoRecentRate()
	}
	if r.st.RowsDone > r.st.RowsTotal {
		r.st.RowsTotal = r.st.RowsDone
	}
}

// sliceInput is what every slice of a partition is given; the partition's own bounds
// and cursor are read from the database by the activity.
func (r *run) sliceInput(target plan.Target, part *PartitionState) wire.SliceInput {
	batchSize := part.BatchSize
	if batchSize <= 0 {
		batchSize = r.batchSize()
	}
	return wire.SliceInput{
		Target:           target,
		BatchSize:        batchSize,
		MaxRowsPerSecond: r.partitionRate(),
		Pause:            r.m.Backfill.Pause.D(),
		Budget:           r.opts.SliceBudget,
		Throttle: plan.Throttle{MaxReplicationLag: r.m.Backfill.MaxReplicationLag.D(),
			Query: r.m.Backfill.ThrottleQuery},
		TargetBatchTime: r.m.Backfill.TargetBatchTime.D(),
		MaxAppP99:       r.m.Backfill.MaxAppP99.D(),
		Governor:        part.GovernorState,
		FileBatchSize:   r.m.Backfill.BatchSize,
		LatencyQuery:    r.m.Backfill.LatencyQuery,
		PrometheusURL:   r.prometheusURL(),
	}
}

// partitionRate is each partition's share of max_rows_per_second, which bounds the
// whole backfill (0: no limit).
func (r *run) partitionRate() int {
	limit := r.m.Backfill.MaxRowsPerSecond
	if limit <= 0 || len(r.st.Partitions) == 0 {
		return limit
	}
	return max(1, limit/len(r.st.Partitions))
}

// partitionProgress is the partitions as the progress query shows them.
func (r *run) partitionProgress() []PartitionProgress {
	if len(r.st.Partitions) == 0 {
		return nil
	}
	out := make([]PartitionProgress, len(r.st.Partitions))
	for i, p := range r.st.Partitions {
		out[i] = PartitionProgress{Part: p.Part, RowsDone: p.RowsDone, Done: p.Done, Waiting: r.waiting(p)}
	}
	return out
}

// PartitionsSummary is a partitioned backfill in a few words, "4 partitions, 1 done",
// for status, watch and Slack; "" with one cursor.
func PartitionsSummary(p Progress) string {
	if len(p.Partitions) == 0 {
		return ""
	}
	done := 0
	for _, part := range p.Partitions {
		if part.Done {
			done++
		}
	}
	return fmt.Sprintf("%d partitions, %d done", len(p.Partitions), done) + autoSummary(p)
}
