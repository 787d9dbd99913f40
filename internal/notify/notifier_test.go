package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slack-go/slack"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeSlack is Slack's Web API as far as chat.postMessage goes: it keeps what was
// posted and answers with what the test says.
type fakeSlack struct {
	*httptest.Server
	mu     sync.Mutex
	posts  []posted
	answer func(w http.ResponseWriter)
}

type posted struct {
	Auth    string
	Channel string
	Text    string
	Blocks  []map[string]any
}

func newFakeSlack(t *testing.T) *fakeSlack {
	f := &fakeSlack{}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/chat.postMessage" {
			http.NotFound(w, r)
			return
		}
		require.NoError(t, r.ParseForm())
		p := posted{Auth: r.Header.Get("Authorization") + r.PostForm.Get("token"), Channel: r.PostForm.Get("channel"), Text: r.PostForm.Get("text")}
		require.NoError(t, json.Unmarshal([]byte(r.PostForm.Get("blocks")), &p.Blocks))
		f.mu.Lock()
		f.posts = append(f.posts, p)
		answer := f.answer
		f.mu.Unlock()
		if answer != nil {
			answer(w)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"ok":true,"channel":"C123","ts":"1700000000.000100"}`))
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeSlack) all() []posted {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]posted{}, f.posts...)
}

func TestWithoutATokenNotificationsAreOffAndSaySoOnce(t *testing.T) {
	var logs bytes.Buffer
	n, err := New(Config{Channel: "#migrations"}, slog.New(slog.NewTextHandler(&logs, nil)))
	require.NoError(t, err)
	assert.False(t, n.Enabled())
	ts, err := n.Post(context.Background(), Event{Kind: KindCompleted, Migration: "orders"})
	require.NoError(t, err)
	assert.Empty(t, ts)
	assert.Equal(t, 1, strings.Count(logs.String(), "\n"), logs.String())
	assert.Contains(t, logs.String(), "Slack notifications off: SLACK_BOT_TOKEN is not set")

	var none *Notifier
	assert.False(t, none.Enabled())
	_, err = none.Post(context.Background(), Event{Kind: KindCompleted, Migration: "orders"})
	require.NoError(t, err)
}

func TestATokenWithoutAChannelIsRefused(t *testing.T) {
	_, err := New(Config{Token: "xoxb-secret"}, slog.New(slog.DiscardHandler))
	require.ErrorContains(t, err, "SLACK_CHANNEL is not")
	assert.NotContains(t, err.Error(), "xoxb-secret")
}

func TestGateNotificationCarriesTheButtonsTheBotHandles(t *testing.T) {
	f := newFakeSlack(t)
	var logs bytes.Buffer
	n, err := New(Config{Token: "xoxb-secret", Channel: "C123", APIURL: f.URL + "/"}, slog.New(slog.NewTextHandler(&logs, nil)))
	require.NoError(t, err)
	ts, err := n.Post(context.Background(), Event{
		Kind: KindGate, Migration: "orders", Table: "public.orders", Gate: "contract", Run: testRun,
		RowsDone: 1500, RowsTotal: 1500, Elapsed: 75 * time.Second,
	})
	require.NoError(t, err)
	assert.Equal(t, "1700000000.000100", ts)
	assert.NotContains(t, logs.String(), "xoxb-secret", "the token never reaches the log")

	posts := f.all()
	require.Len(t, posts, 1)
	p := posts[0]
	assert.Contains(t, p.Auth, "xoxb-secret", "the bot token authenticates the post")
	assert.Equal(t, "C123", p.Channel)
	assert.Equal(t, "Migration orders waits for approval at gate contract", p.Text)
	raw, _ := json.Marshal(p.Blocks)
	assert.Contains(t, string(raw), "1,500 / 1,500 (100%)")
	assert.Contains(t, string(raw), "1m15s")
	assert.Contains(t, string(raw), "there is no rollback after it")

	var actions map[string]any
	for _, b := range p.Blocks {
		if b["type"] == "actions" {
			actions = b
		}
	}
	require.NotNil(t, actions, "an actions block with the buttons")
	assert.Equal(t, BlockGate, actions["block_id"])
	els := actions["elements"].([]any)
	require.Len(t, els, 2)
	for i, id := range []string{ActionApprove, ActionReject} {
		el := els[i].(map[string]any)
		assert.Equal(t, id, el["action_id"])
		g, err := ParseGateAction(el["value"].(string))
		require.NoError(t, err)
		assert.Equal(t, GateAction{Migration: "orders", Gate: "contract", Run: testRun}, g, "the button names the run it decides")
		assert.NotNil(t, el["confirm"], "%s asks for confirmation", id)
	}
}

const testRun = "0195c3a2-7d4e-7a1b-9f00-3c5e8d2b1a44"

// A gate event that does not know its run (an activity input recorded before runs were
// passed) says where the buttons are rather than draw buttons that decide nothing.
func TestGateNotificationWithoutARunHasNoButtons(t *testing.T) {
	ev := Event{Kind: KindGate, Migration: "orders", Gate: "contract"}
	require.NoError(t, ev.Validate())
	_, blocks := Message(ev)
	raw, err := json.Marshal(blocks)
	require.NoError(t, err)
	assert.NotContains(t, string(raw), `"actions"`)
	assert.Contains(t, string(raw), "Waiting at gate *contract*")
	assert.Contains(t, string(raw), "`/migration status orders` draws them")
}

func TestGateActionValuesNameTheirRun(t *testing.T) {
	v := GateAction{Migration: "orders", Gate: "contract", Run: testRun}.Value()
	assert.Equal(t, `{"migration":"orders","gate":"contract","run":"`+testRun+`"}`, v)
	g, err := ParseGateAction(v)
	require.NoError(t, err)
	assert.Equal(t, testRun, g.Run)

	// A button drawn before buttons named their run still reads, with no run: the bot
	// then refuses it, saying why.
	g, err = ParseGateAction(`{"migration":"orders","gate":"contract"}`)
	require.NoError(t, err)
	assert.Equal(t, GateAction{Migration: "orders", Gate: "contract"}, g)

	_, err = ParseGateAction(`{"migration":"orders","gate":"contract","run":"x y"}`)
	assert.ErrorContains(t, err, "names no valid run")
	assert.Error(t, Event{Kind: KindGate, Migration: "orders", Gate: "contract", Run: "<run>"}.Validate())
}

func TestFailureNotificationEscapesItsDetail(t *testing.T) {
	f := newFakeSlack(t)
	n, err := New(Config{Token: "xoxb-t", Channel: "C123", APIURL: f.URL + "/"}, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	_, err = n.Post(context.Background(), Event{Kind: KindFailed, Migration: "orders", Detail: "value <NULL> & more"})
	require.NoError(t, err)
	raw, _ := json.Marshal(f.all()[0].Blocks)
	assert.Contains(t, string(raw), `value \u0026lt;NULL\u0026gt; \u0026amp; more`)
	assert.NotContains(t, string(raw), `"actions"`, "only a gate notification has buttons")
}

func TestSlackRefusalsAreToldApartFromPassingTrouble(t *testing.T) {
	f := newFakeSlack(t)
	n, err := New(Config{Token: "xoxb-t", Channel: "C404", APIURL: f.URL + "/"}, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	ev := Event{Kind: KindCompleted, Migration: "orders"}

	f.answer = func(w http.ResponseWriter) { _, _ = w.Write([]byte(`{"ok":false,"error":"channel_not_found"}`)) }
	_, err = n.Post(context.Background(), ev)
	require.ErrorContains(t, err, "channel_not_found")
	assert.True(t, Refused(err))

	f.answer = func(w http.ResponseWriter) { _, _ = w.Write([]byte(`{"ok":false,"error":"internal_error"}`)) }
	_, err = n.Post(context.Background(), ev)
	require.Error(t, err)
	assert.False(t, Refused(err))

	f.answer = func(w http.ResponseWriter) {
		w.Header().Set("Retry-After", "7")
		w.WriteHeader(http.StatusTooManyRequests)
	}
	_, err = n.Post(context.Background(), ev)
	var limited *slack.RateLimitedError
	require.ErrorAs(t, err, &limited)
	assert.Equal(t, 7*time.Second, limited.RetryAfter)
	assert.False(t, Refused(err))
}

func TestEventsAreValidated(t *testing.T) {
	for _, ev := range []Event{
		{Kind: "gate", Migration: "orders"},
		{Kind: "gate", Migration: "orders", Gate: "drop"},
		{Kind: "started", Migration: "orders"},
		{Kind: "completed", Migration: "Orders!"},
	} {
		assert.Error(t, ev.Validate(), "%+v", ev)
	}
	assert.NoError(t, Event{Kind: "rolled_back", Migration: "orders"}.Validate())
}

func TestTextHelpers(t *testing.T) {
	assert.Equal(t, "`██████████░░░░░░░░░░`", Bar(52.1))
	assert.Equal(t, "`░░░░░░░░░░░░░░░░░░░░`", Bar(-3))
	assert.Equal(t, "`████████████████████`", Bar(140))
	assert.Equal(t, "1,234,567", Count(1234567))
	assert.Equal(t, "-1,000", Count(-1000))
	assert.Equal(t, "999", Count(999))
	assert.Equal(t, "4m05s", Duration(245*time.Second))
	assert.Equal(t, "2h03m", Duration(2*time.Hour+3*time.Minute))
	assert.Equal(t, "ab…", Truncate("abcdef", 3))
	_, err := ParseGateAction(`{"migration":"orders","gate":"contract","x":1}`)
	assert.NoError(t, err)
	_, err = ParseGateAction(`not json`)
	assert.Error(t, err)
}
