package activities

import (
	"context"
	"fmt"
	"sync"
	"time"

	"go.temporal.io/sdk/activity"

	"github.com/zdmhq/zdm/internal/pgexec"
)

// batchLoop is the loop of one backfill slice, shared by BackfillSlice (one cursor in
// zdm.migrations) and BackfillPartitionSlice (a partition's cursor): bf decides where
// each batch commits its cursor; onBatch hears of every committed batch (metrics).
type batchLoop struct {
	in      SliceInput
	bf      *pgexec.Backfiller
	onBatch func(b pgexec.Batch, took time.Duration)
}

// run runs batches from p's cursor until the budget is spent, the range is done, or the
// worker is stopping: throttle check, batch, adapt, heartbeat, wait.
func (a *Activities) runBatches(ctx context.Context, l batchLoop, p *SliceProgress) (*SliceProgress, error) {
	in, bf := l.in, l.bf
	t := in.Target
	logger := activity.GetLogger(ctx)
	retry := a.retry(ctx, t.Migration)
	gov := a.newSliceGovernor(in) // nil when backfill.max_app_p99 is off
	bf.Size, bf.Watch = gov.startSize(in), gov.batchWatch()
	defer gov.start(ctx, a.DB, logger)()
	// Heartbeat even while one batch waits out lock retries, so that Temporal does not
	// start a second attempt beside this one.
	var mu sync.Mutex
	stop := keepAlive(ctx, 2*time.Second, func() any {
		mu.Lock()
		defer mu.Unlock()
		return *p
	})
	defer stop()
	start := time.Now()
	stopping := activity.GetWorkerStopChannel(ctx)
	var checked time.Time
	for time.Since(start) < in.Budget {
		// The throttle is asked at most once a second, not before every batch.
		if in.Throttle.Enabled() && time.Since(checked) >= time.Second {
			reason, err := pgexec.ThrottleReason(ctx, a.DB, in.Throttle)
			if err != nil {
				return nil, classify(err)
			}
			checked = time.Now()
			mu.Lock()
			p.Throttled = reason
			p.Elapsed = time.Since(start)
			snapshot := *p
			mu.Unlock()
			if reason != "" {
				activity.RecordHeartbeat(ctx, snapshot)
				select {
				case <-stopping:
					return p, nil
				case <-ctx.Done():
					return nil, ctx.Err()
				case <-time.After(time.Second):
				}
				continue
			}
		}
		batchStart := time.Now()
		var b pgexec.Batch
		n, err := retry.Do(ctx, "backfill batch", func(ctx context.Context) error {
			var err error
			b, err = bf.Next(ctx, p.Cursor)
			return err
		})
		p.Retries += n
		if err != nil {
			return nil, classify(fmt.Errorf("backfill batch after %v: %w", p.Cursor, err))
		}
		took := time.Since(batchStart)
		l.onBatch(b, took)
		target, pause := gov.afterBatch(ctx, a.DB, in)
		bf.Adapt(b.Rows, took, target, gov.largest(in))
		mu.Lock()
		p.Cursor, p.Done = b.Cursor, b.Done
		p.Rows += b.Rows
		p.RowsDone += b.Rows
		p.Batches++
		p.Elapsed = time.Since(start)
		p.BatchSize = bf.Size
		gov.report(p)
		snapshot := *p
		mu.Unlock()
		activity.RecordHeartbeat(ctx, snapshot)
		if p.Done {
			break
		}
		wait := pause
		if in.MaxRowsPerSecond > 0 {
			if min := time.Duration(float64(b.Rows) / float64(in.MaxRowsPerSecond) * float64(time.Second)); min > took+wait {
				wait = min - took
			}
		}
		select {
		case <-stopping:
			logger.Info("worker stopping; backfill slice ends after its last committed batch", "migration", t.Migration)
			return p, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(wait):
		}
	}
	return p, nil
}
