package activities

import (
	"context"
	"fmt"
	"strings"
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
	bf := &pgexec.Backfiller{Pool: a.DB, Target: t, Upper: in.Upper, Size: in.BatchSize}
	return a.runBatches(ctx, batchLoop{in: in, bf: bf, onBatch: func(b pgexec.Batch, took time.Duration) {
		a.metrics().BatchDone(t.Migration, b.Rows, took)
	}}, p)
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
