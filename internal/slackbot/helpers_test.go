package slackbot

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slack-go/slack"
	"github.com/stretchr/testify/require"

	"github.com/zdmhq/zdm/internal/notify"
)

const testSecret = "8f742231b10e8888abcd99yyyzzz85a5"

// sign is Slack's v0 request signature, computed the way Slack documents it.
func sign(secret string, ts int64, body string) string {
	mac := hmac.New(sha256.New, []byte(secret))
	fmt.Fprintf(mac, "v0:%d:%s", ts, body)
	return "v0=" + hex.EncodeToString(mac.Sum(nil))
}

// signedRequest is a request to the bot as Slack would send it, signed at ts.
func signedRequest(path, body string, ts time.Time) *http.Request {
	r := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.Header.Set("X-Slack-Request-Timestamp", strconv.FormatInt(ts.Unix(), 10))
	r.Header.Set("X-Slack-Signature", sign(testSecret, ts.Unix(), body))
	return r
}

func commandBody(text, userID, userName, responseURL string) string {
	return url.Values{
		"command": {"/migration"}, "text": {text}, "user_id": {userID}, "user_name": {userName},
		"channel_id": {"C0TEST"}, "channel_name": {"migrations"}, "team_id": {"T0TEST"},
		"response_url": {responseURL}, "trigger_id": {"1.2.3"},
	}.Encode()
}

// pressBody is a block_actions payload: user pressed the button actionID with value.
func pressBody(t *testing.T, actionID, value, userID, userName, responseURL string) string {
	t.Helper()
	payload := map[string]any{
		"type":         "block_actions",
		"user":         map[string]any{"id": userID, "username": userName, "name": userName, "team_id": "T0TEST"},
		"team":         map[string]any{"id": "T0TEST"},
		"channel":      map[string]any{"id": "C0TEST", "name": "migrations"},
		"response_url": responseURL,
		"trigger_id":   "4.5.6",
		"actions": []map[string]any{{
			"type": "button", "action_id": actionID, "block_id": notify.BlockGate, "value": value,
			"action_ts": fmt.Sprintf("%d.%06d", time.Now().Unix(), time.Now().Nanosecond()/1000),
		}},
	}
	b, err := json.Marshal(payload)
	require.NoError(t, err)
	return url.Values{"payload": {string(b)}}.Encode()
}

// fakeSlack stands in for Slack's response_urls: every POST to /respond/<key> is kept.
type fakeSlack struct {
	*httptest.Server
	mu      sync.Mutex
	replies map[string][]message
	arrived chan string
}

func newFakeSlack(t *testing.T) *fakeSlack {
	f := &fakeSlack{replies: map[string][]message{}, arrived: make(chan string, 100)}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key, ok := strings.CutPrefix(r.URL.Path, "/respond/")
		if !ok || r.Method != http.MethodPost {
			http.NotFound(w, r)
			return
		}
		body, _ := io.ReadAll(r.Body)
		var m message
		if err := json.Unmarshal(body, &m); err != nil {
			t.Errorf("response_url got a body that is not a message: %s", body)
		}
		f.mu.Lock()
		f.replies[key] = append(f.replies[key], m)
		f.mu.Unlock()
		f.arrived <- key
		_, _ = w.Write([]byte("ok"))
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeSlack) url(key string) string { return f.URL + "/respond/" + key }

func (f *fakeSlack) got(key string) []message {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]message{}, f.replies[key]...)
}

// wait returns the first reply posted to key's response_url within timeout.
func (f *fakeSlack) wait(t *testing.T, key string, timeout time.Duration) message {
	t.Helper()
	deadline := time.After(timeout)
	for {
		if r := f.got(key); len(r) > 0 {
			return r[0]
		}
		select {
		case <-f.arrived:
		case <-deadline:
			t.Fatalf("nothing posted to response_url %q within %s", key, timeout)
		}
	}
}

// blocksJSON is a message's blocks as Slack receives them, for looking into.
func blocksJSON(t *testing.T, m message) string {
	t.Helper()
	if m.Blocks == nil {
		return ""
	}
	b, err := json.Marshal(m.Blocks)
	require.NoError(t, err)
	return string(b)
}

// decode reads the bot's HTTP answer to a command.
func decode(t *testing.T, rec *httptest.ResponseRecorder) message {
	t.Helper()
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	var m message
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &m), rec.Body.String())
	return m
}

// buttons are the gate buttons in a message: action ID -> value.
func buttons(t *testing.T, m message) map[string]string {
	t.Helper()
	out := map[string]string{}
	if m.Blocks == nil {
		return out
	}
	for _, bl := range m.Blocks.BlockSet {
		ab, ok := bl.(*slack.ActionBlock)
		if !ok {
			continue
		}
		for _, el := range ab.Elements.ElementSet {
			if btn, ok := el.(*slack.ButtonBlockElement); ok {
				out[btn.ActionID] = btn.Value
			}
		}
	}
	return out
}
