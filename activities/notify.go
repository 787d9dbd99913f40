package activities

import (
	"context"
	"errors"

	"github.com/slack-go/slack"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/zdmhq/zdm/internal/notify"
	"github.com/zdmhq/zdm/internal/wire"
)

// Error types of Notify (package wire).
const (
	ErrNotifyInvalid = wire.ErrNotifyInvalid
	ErrNotifyRefused = wire.ErrNotifyRefused
)

// Notification events: the kinds of internal/notify.
const (
	NotifyGate       = notify.KindGate
	NotifyCompleted  = notify.KindCompleted
	NotifyFailed     = notify.KindFailed
	NotifyRolledBack = notify.KindRolledBack
)

// Notify posts in to Slack through a.Notifier; it does nothing when notifications are
// off. A rate limit is retried after the delay Slack asks for.
func (a *Activities) Notify(ctx context.Context, in NotifyInput) error {
	ev := notify.Event{
		Kind: in.Event, Migration: in.Migration, Run: in.RunID, Table: in.Table, Gate: in.Gate, Detail: in.Detail,
		RowsDone: in.RowsDone, RowsTotal: in.RowsTotal, Elapsed: in.Elapsed,
	}
	if err := ev.Validate(); err != nil {
		return temporal.NewNonRetryableApplicationError(err.Error(), ErrNotifyInvalid, nil)
	}
	if !a.Notifier.Enabled() {
		activity.GetLogger(ctx).Debug("Slack notifications off; not posted", "migration", in.Migration, "event", in.Event)
		return nil
	}
	_, err := a.Notifier.Post(ctx, ev)
	var limited *slack.RateLimitedError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &limited):
		return temporal.NewApplicationErrorWithOptions(err.Error(), "SlackRateLimited",
			temporal.ApplicationErrorOptions{NextRetryDelay: limited.RetryAfter, Cause: err})
	case notify.Refused(err):
		return temporal.NewNonRetryableApplicationError(err.Error(), ErrNotifyRefused, err)
	}
	return err
}
