package activities

import (
	"context"
	"errors"
	"time"

	"github.com/slack-go/slack"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/zdmhq/zdm/internal/notify"
)

// Error types of Notify. Both are final: retrying does not fix them.
const (
	// ErrNotifyInvalid is a notification the workflow should not have asked for.
	ErrNotifyInvalid = "InvalidNotification"
	// ErrNotifyRefused is Slack refusing the message: bad token, missing scope, a
	// channel that does not exist or the bot is not in.
	ErrNotifyRefused = "SlackRefused"
)

// Notification events.
const (
	NotifyGate       = notify.KindGate
	NotifyCompleted  = notify.KindCompleted
	NotifyFailed     = notify.KindFailed
	NotifyRolledBack = notify.KindRolledBack
)

// NotifyInput is one message to the team's Slack channel.
type NotifyInput struct {
	Migration string `json:"migration"`
	// RunID is the workflow's first run ID (the same across continue-as-new, different
	// for each run of a migration name): the gate buttons carry it, so that a message
	// cannot decide a later run of the same migration. Empty in inputs recorded before
	// it existed: the message then has no buttons.
	RunID string `json:"run_id,omitempty"`
	Table string `json:"table,omitempty"`
	// Event is gate, completed, failed or rolled_back.
	Event string `json:"event"`
	// Gate is the gate the migration waits at (event gate); the message carries
	// Approve and Reject buttons for it.
	Gate string `json:"gate,omitempty"`
	// Detail is shown as it is: why it failed, who rejected and why.
	Detail    string        `json:"detail,omitempty"`
	RowsDone  int64         `json:"rows_done,omitempty"`
	RowsTotal int64         `json:"rows_total,omitempty"`
	Elapsed   time.Duration `json:"elapsed,omitempty"`
}

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
