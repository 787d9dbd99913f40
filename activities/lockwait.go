package activities

import (
	"context"
	"sync"
	"time"

	"go.temporal.io/sdk/activity"

	"github.com/zdmhq/zdm/internal/pgexec"
)

// waitNote is what a DDL activity is waiting for, if anything, for its heartbeats: the
// Temporal UI and zdm status show the pending activity's last heartbeat.
type waitNote struct {
	mu   sync.Mutex
	what string
}

func (n *waitNote) set(s string) {
	n.mu.Lock()
	n.what = s
	n.mu.Unlock()
}

// details are the heartbeat details of an activity doing step: the step, and what it
// waits for while a try is held back.
func (n *waitNote) details(step string) func() any {
	return func() any {
		n.mu.Lock()
		defer n.mu.Unlock()
		if n.what == "" {
			return step
		}
		return step + ": " + n.what
	}
}

// retryNoting is the activities' retry that also says, in logs and heartbeats, when a try
// is held back by a session that would make it time out.
func (a *Activities) retryNoting(ctx context.Context, migration string, note *waitNote) pgexec.Retry {
	r := a.retry(ctx, migration)
	logger := activity.GetLogger(ctx)
	onRetry := r.OnRetry
	r.OnRetry = func(id string, attempt int, wait time.Duration, err error) {
		note.set("")
		onRetry(id, attempt, wait, err)
	}
	r.OnWait = func(id string, h pgexec.Holder, waited time.Duration) {
		note.set(h.String())
		logger.Warn("not asking for the lock yet: the try would time out and queue the application", "statement", id,
			"holder", h.String(), "waited", waited.Round(time.Millisecond))
	}
	return r
}
