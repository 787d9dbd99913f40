package activities

import (
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/zdmhq/zdm/internal/notify"
	"github.com/zdmhq/zdm/internal/wire"
)

// nilActs names activities the way the workflow does.
var nilActs *Activities

func notifyEnv(t *testing.T, answer string, status int) (*testsuite.TestActivityEnvironment, *atomic.Int32) {
	t.Helper()
	var posts atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		posts.Add(1)
		if status == http.StatusTooManyRequests {
			w.Header().Set("Retry-After", "3")
		}
		w.WriteHeader(status)
		_, _ = w.Write([]byte(answer))
	}))
	t.Cleanup(srv.Close)
	n, err := notify.New(notify.Config{Token: "xoxb-t", Channel: "C123", APIURL: srv.URL + "/"}, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	var s testsuite.WorkflowTestSuite
	env := s.NewTestActivityEnvironment()
	env.RegisterActivity(&Activities{Notifier: n})
	return env, &posts
}

func appErr(t *testing.T, err error) *temporal.ApplicationError {
	t.Helper()
	var app *temporal.ApplicationError
	require.True(t, errors.As(err, &app), "application error, got %v", err)
	return app
}

func TestNotifyPostsTheGate(t *testing.T) {
	env, posts := notifyEnv(t, `{"ok":true,"ts":"1.2"}`, http.StatusOK)
	_, err := env.ExecuteActivity(nilActs.Notify, NotifyInput{
		Migration: "orders", Table: "public.orders", Event: NotifyGate, Gate: "contract",
		RowsDone: 10, RowsTotal: 10, Elapsed: time.Minute,
	})
	require.NoError(t, err)
	assert.EqualValues(t, 1, posts.Load())
}

func TestNotifyWithoutNotifierDoesNothing(t *testing.T) {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestActivityEnvironment()
	env.RegisterActivity(&Activities{})
	_, err := env.ExecuteActivity(nilActs.Notify, NotifyInput{Migration: "orders", Event: NotifyCompleted})
	require.NoError(t, err)
}

func TestNotifyRefusesABadEventAndBadChannelForGood(t *testing.T) {
	env, posts := notifyEnv(t, `{"ok":false,"error":"not_in_channel"}`, http.StatusOK)
	_, err := env.ExecuteActivity(nilActs.Notify, NotifyInput{Migration: "orders", Event: "gate"})
	app := appErr(t, err)
	assert.Equal(t, ErrNotifyInvalid, app.Type())
	assert.True(t, app.NonRetryable())
	assert.EqualValues(t, 0, posts.Load())

	_, err = env.ExecuteActivity(nilActs.Notify, NotifyInput{Migration: "orders", Event: NotifyFailed, Detail: "boom"})
	app = appErr(t, err)
	assert.Equal(t, ErrNotifyRefused, app.Type())
	assert.True(t, app.NonRetryable())
	assert.Contains(t, app.Error(), "not_in_channel")
}

func TestNotifyRetriesARateLimitAfterSlacksDelay(t *testing.T) {
	env, _ := notifyEnv(t, ``, http.StatusTooManyRequests)
	_, err := env.ExecuteActivity(nilActs.Notify, NotifyInput{Migration: "orders", Event: NotifyRolledBack})
	app := appErr(t, err)
	assert.False(t, app.NonRetryable())
	assert.Equal(t, 3*time.Second, app.NextRetryDelay())

	env, _ = notifyEnv(t, `down`, http.StatusBadGateway)
	_, err = env.ExecuteActivity(nilActs.Notify, NotifyInput{Migration: "orders", Event: NotifyCompleted})
	require.Error(t, err)
	assert.False(t, appErr(t, err).NonRetryable(), "a Slack outage is retried")
}

func TestTheWorkflowNamesNotificationsAsNotifyDoes(t *testing.T) {
	assert.Equal(t, []string{NotifyGate, NotifyCompleted, NotifyFailed, NotifyRolledBack},
		[]string{wire.NotifyGate, wire.NotifyCompleted, wire.NotifyFailed, wire.NotifyRolledBack})
}
