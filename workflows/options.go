package workflows

import (
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/zdmhq/zdm/internal/wire"
)

// waitKey marks a workflow context whose activities, when the workflow is cancelled,
// are waited for until they have really stopped: a rollback must never run beside an
// expand or a backfill batch still in flight, nor a claim be released before Prepare
// has made it.
type waitKey struct{}

// waiting applies waitKey to an activity context.
func waiting(ctx workflow.Context) workflow.Context {
	if wait, _ := ctx.Value(waitKey{}).(bool); wait {
		return workflow.WithWaitForCancellation(ctx, true)
	}
	return ctx
}

var final = []string{wire.ErrInvalidMigration, wire.ErrTableBusy, wire.ErrSQL, wire.ErrFlagsUnavailable, wire.ErrMismatch,
	wire.ErrWrongDatabase}

func prepareOptions(ctx workflow.Context) workflow.Context {
	return waiting(workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 2 * time.Minute,
		RetryPolicy: &temporal.RetryPolicy{InitialInterval: time.Second, MaximumInterval: 30 * time.Second,
			MaximumAttempts: 10, NonRetryableErrorTypes: final},
	}))
}

func shortOptions(ctx workflow.Context) workflow.Context {
	return waiting(workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: time.Minute,
		RetryPolicy: &temporal.RetryPolicy{InitialInterval: time.Second, MaximumInterval: 30 * time.Second,
			MaximumAttempts: 30, NonRetryableErrorTypes: final},
	}))
}

func longOptions(ctx workflow.Context, d time.Duration) workflow.Context {
	return waiting(workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: d,
		HeartbeatTimeout:    time.Minute,
		RetryPolicy: &temporal.RetryPolicy{InitialInterval: time.Second, MaximumInterval: time.Minute,
			MaximumAttempts: 20, NonRetryableErrorTypes: final},
	}))
}

// untilDoneOptions are for steps that must finish (contract, rollback, release): they
// retry without limit, a worker on the wrong database included, until one on the
// migration's database takes them; the Temporal UI shows the pending activity's last
// failure.
func untilDoneOptions(ctx workflow.Context) workflow.Context {
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 10 * time.Minute,
		HeartbeatTimeout:    time.Minute,
		RetryPolicy:         &temporal.RetryPolicy{InitialInterval: time.Second, MaximumInterval: time.Minute},
	})
}

func (r *run) sliceOptions(ctx workflow.Context) workflow.Context {
	return waiting(workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: r.opts.SliceBudget + 5*time.Minute,
		HeartbeatTimeout:    r.opts.HeartbeatTimeout,
		RetryPolicy: &temporal.RetryPolicy{InitialInterval: time.Second, MaximumInterval: 30 * time.Second,
			NonRetryableErrorTypes: final},
	}))
}

func notifyOptions(ctx workflow.Context) workflow.Context {
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 15 * time.Second,
		RetryPolicy: &temporal.RetryPolicy{InitialInterval: time.Second, MaximumInterval: 10 * time.Second, MaximumAttempts: 3,
			NonRetryableErrorTypes: []string{wire.ErrNotifyInvalid, wire.ErrNotifyRefused}},
	})
}
