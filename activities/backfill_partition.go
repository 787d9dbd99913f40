package activities

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/zdmhq/zdm/internal/pgexec"
	"github.com/zdmhq/zdm/internal/wire"
)

type (
	PartitionsInput     = wire.PartitionsInput
	PartitionsResult    = wire.PartitionsResult
	PartitionSliceInput = wire.PartitionSliceInput
)

// PartitionMetrics, when the worker's Metrics has it, hears about each partition's
// batches.
type PartitionMetrics interface {
	PartitionBatchDone(migration string, part int, rows int64, d time.Duration)
}

// BackfillPartitions splits the backfill's range into partitions the first time it is
// called for a run and records them in zdm.backfill_partitions; after that (a retry, a
// run continued as new, another worker) it returns them with their committed cursors.
func (a *Activities) BackfillPartitions(ctx context.Context, in PartitionsInput) (*PartitionsResult, error) {
	t := in.Target
	if err := a.onRecordedDatabase(ctx, t.Database); err != nil {
		return nil, err
	}
	parts, err := pgexec.ReadPartitions(ctx, a.DB, t.Migration, in.RunID)
	if err != nil {
		return nil, classify(fmt.Errorf("read the partitions of %s: %w", t.Migration, err))
	}
	if len(parts) > 0 {
		return &PartitionsResult{Partitions: parts, SplitBy: "recorded"}, nil
	}
	if in.Upper == nil {
		return &PartitionsResult{SplitBy: pgexec.SplitNone}, nil
	}
	cuts, by, err := pgexec.Split(ctx, a.DB, t, in.Upper, in.Parallelism)
	if err != nil {
		return nil, classify(err)
	}
	parts, err = pgexec.PreparePartitions(ctx, a.DB, t.Migration, in.RunID, cuts, in.Upper)
	if err != nil {
		return nil, classify(err)
	}
	activity.GetLogger(ctx).Info("backfill split into partitions", "migration", t.Migration, "partitions", len(parts), "split_by", by)
	return &PartitionsResult{Partitions: parts, SplitBy: by}, nil
}

// BackfillPartitionSlice runs batches of one partition until the budget is spent, the
// partition is done, or the worker is stopping. Each batch commits its rows and the
// partition's cursor together, and the slice starts from the committed cursor, so a
// slice killed mid-way and retried redoes at most the batch that did not commit.
func (a *Activities) BackfillPartitionSlice(ctx context.Context, in PartitionSliceInput) (*SliceProgress, error) {
	t := in.Slice.Target
	if err := a.onRecordedDatabase(ctx, t.Database); err != nil {
		return nil, err
	}
	a.reportParallelism(t.Migration, in.Parallelism)
	part, err := pgexec.ReadPartition(ctx, a.DB, t.Migration, in.RunID, in.Part)
	if errors.Is(err, pgexec.ErrPartitionGone) {
		return nil, temporal.NewNonRetryableApplicationError(err.Error(), ErrTableBusy, err)
	}
	if err != nil {
		return nil, classify(err)
	}
	p := &SliceProgress{Cursor: part.Cursor, RowsDone: part.RowsDone, Done: part.Done}
	if activity.HasHeartbeatDetails(ctx) {
		activity.GetLogger(ctx).Info("backfill partition slice retried; resuming from the committed cursor",
			"migration", t.Migration, "partition", in.Part, "cursor", strings.Join(p.Cursor, ","))
	}
	if p.Done {
		return p, nil
	}
	bf := &pgexec.Backfiller{Pool: a.DB, Target: t, Upper: part.Hi, Size: in.Slice.BatchSize,
		Commit: pgexec.PartitionCommit(t.Migration, in.Part)}
	pm, _ := a.Metrics.(PartitionMetrics)
	return a.runBatches(ctx, batchLoop{in: in.Slice, bf: bf, onBatch: func(b pgexec.Batch, took time.Duration) {
		a.metrics().BatchDone(t.Migration, b.Rows, took)
		if pm != nil {
			pm.PartitionBatchDone(t.Migration, in.Part, b.Rows, took)
		}
	}}, p)
}
