package activities

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/zdmhq/zdm/internal/pgexec"
	"github.com/zdmhq/zdm/internal/wire"
)

// BackfillBounds reads the largest key now in the table. It runs after the sync trigger
// exists, so every row past it is written with its new columns already set.
func (a *Activities) BackfillBounds(ctx context.Context, in BoundsInput) (*Bounds, error) {
	if err := a.onRecordedDatabase(ctx, in.Target.Database); err != nil {
		return nil, err
	}
	upper, err := pgexec.Upper(ctx, a.DB, in.Target)
	if err != nil {
		return nil, classify(fmt.Errorf("find the last key of %s.%s: %w", in.Target.Schema, in.Target.Table, err))
	}
	st, err := pgexec.ReadProgress(ctx, a.DB, in.Target.Migration)
	if err != nil {
		return nil, err
	}
	return &Bounds{Upper: upper, Cursor: st.Cursor, RowsDone: st.RowsDone}, nil
}

// BackfillSlice runs batches until the budget is spent, the range is done, or the worker
// is stopping. Each batch commits its rows and the cursor together; the slice starts from
// the cursor committed in the database, so a retried slice never redoes a committed batch.
func (a *Activities) BackfillSlice(ctx context.Context, in SliceInput) (*SliceProgress, error) {
	t := in.Target
	if err := a.onRecordedDatabase(ctx, t.Database); err != nil {
		return nil, err
	}
	logger := activity.GetLogger(ctx)
	st, err := pgexec.ReadProgress(ctx, a.DB, t.Migration)
	if err != nil {
		return nil, err
	}
	p := &SliceProgress{Cursor: st.Cursor, RowsDone: st.RowsDone}
	if p.Cursor == nil {
		p.Cursor = in.Cursor
	}
	if activity.HasHeartbeatDetails(ctx) {
		logger.Info("backfill slice retried; resuming from the committed cursor", "migration", t.Migration, "cursor", strings.Join(p.Cursor, ","))
	}
	if in.Upper == nil {
		p.Done = true
		return p, nil
	}
	retry := a.retry(ctx, t.Migration)
	gov := a.newSliceGovernor(in) // nil when backfill.max_app_p99 is off
	bf := &pgexec.Backfiller{Pool: a.DB, Target: t, Upper: in.Upper, Size: gov.startSize(in), Watch: gov.batchWatch()}
	gov.start(ctx, a.DB, logger)
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
		a.metrics().BatchDone(t.Migration, b.Rows, took)
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

// Verify pages through the backfilled range and counts mismatched rows. Any mismatch is a
// non-retryable error naming some of the rows.
func (a *Activities) Verify(ctx context.Context, in VerifyInput) (*VerifyResult, error) {
	if err := a.onRecordedDatabase(ctx, in.Target.Database); err != nil {
		return nil, err
	}
	res := &VerifyResult{}
	if in.Upper == nil {
		return res, nil
	}
	if in.Mode == wire.VerifySampled {
		sampled, why, err := a.verifySampled(ctx, in)
		if err != nil {
			return nil, err
		}
		if sampled != nil {
			return mismatchErr(sampled)
		}
		res.Why = why
		activity.GetLogger(ctx).Info("verification reads every row", "migration", in.Target.Migration, "why", why)
	}
	size := in.PageSize
	if size <= 0 {
		size = 100000
	}
	var lo pgexec.Cursor
	if activity.HasHeartbeatDetails(ctx) {
		var saved struct {
			Cursor pgexec.Cursor
			Res    VerifyResult
		}
		if err := activity.GetHeartbeatDetails(ctx, &saved); err == nil {
			lo, *res = saved.Cursor, saved.Res
		}
	}
	for {
		hi, err := pgexec.BatchEnd(ctx, a.DB, in.Target, lo, in.Upper, size)
		if err != nil {
			return nil, classify(err)
		}
		n, sample, err := pgexec.Mismatches(ctx, a.DB, in.Target, lo, hi)
		if err != nil {
			return nil, classify(err)
		}
		res.Mismatches += n
		if len(res.Sample) < 5 {
			res.Sample = append(res.Sample, sample...)
		}
		lo = hi
		activity.RecordHeartbeat(ctx, struct {
			Cursor pgexec.Cursor
			Res    VerifyResult
		}{lo, *res})
		if hi.Equal(in.Upper) {
			break
		}
	}
	return mismatchErr(res)
}

// mismatchErr is res, or a non-retryable error naming some of its mismatched rows.
func mismatchErr(res *VerifyResult) (*VerifyResult, error) {
	if res.Mismatches > 0 {
		return res, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("verification found %d row(s) whose new columns differ from the up expression of the old (keys %s)", res.Mismatches, strings.Join(res.Sample, ", ")),
			ErrMismatch, nil, *res)
	}
	return res, nil
}
