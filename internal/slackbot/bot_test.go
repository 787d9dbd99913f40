package slackbot

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/slack-go/slack"
	"github.com/slack-go/slack/socketmode"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	workflowpb "go.temporal.io/api/workflow/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/mocks"

	"github.com/zdmhq/zdm/activities"
	"github.com/zdmhq/zdm/internal/notify"
	"github.com/zdmhq/zdm/internal/progress"
	"github.com/zdmhq/zdm/workflows"
)

func env(kv ...string) func(string) string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) string { return m[k] }
}

func TestWithoutASigningSecretTheBotDoesNotStart(t *testing.T) {
	_, err := ConfigFromEnv(env("SLACK_APPROVERS", "U1AAA"))
	require.ErrorContains(t, err, "SLACK_SIGNING_SECRET is not set")

	cfg, err := ConfigFromEnv(env("SLACK_SIGNING_SECRET", "s", "SLACK_APPROVERS", " U1AAA, W2BBB ,U1AAA,"))
	require.NoError(t, err)
	assert.Equal(t, []string{"U1AAA", "W2BBB"}, cfg.Approvers)
	assert.Equal(t, DefaultAddr, cfg.Addr)
	assert.Equal(t, DefaultTemporal, cfg.TemporalAddress)
	assert.Equal(t, DefaultNamespace, cfg.Namespace)
}

func TestConfigRefusesWhatItCannotRunSafelyWith(t *testing.T) {
	_, err := ConfigFromEnv(env("SLACK_SIGNING_SECRET", "s", "SLACK_APPROVERS", "@alice,U1AAA"))
	require.ErrorContains(t, err, `SLACK_APPROVERS holds "@alice", which is not a Slack user ID`)

	_, err = ConfigFromEnv(env("ZDM_SLACK_SOCKET_MODE", "1", "SLACK_BOT_TOKEN", "xoxb-1"))
	require.ErrorContains(t, err, "Socket Mode needs SLACK_APP_TOKEN")

	cfg, err := ConfigFromEnv(env("ZDM_SLACK_SOCKET_MODE", "1", "SLACK_BOT_TOKEN", "xoxb-1", "SLACK_APP_TOKEN", "xapp-1"))
	require.NoError(t, err, "Socket Mode has no requests to sign")
	assert.True(t, cfg.SocketMode)

	_, err = ConfigFromEnv(env("SLACK_SIGNING_SECRET", "s", "ZDM_SLACK_SOCKET_MODE", "yes"))
	require.ErrorContains(t, err, "ZDM_SLACK_SOCKET_MODE")
}

// offlineBot has no Temporal client at all: any request that reached Temporal would
// panic, which proves the paths tested here never do.
func offlineBot(t *testing.T, logs *bytes.Buffer, opts Options) *Bot {
	t.Helper()
	var h slog.Handler = slog.DiscardHandler
	if logs != nil {
		h = slog.NewTextHandler(logs, nil)
	}
	cfg := Config{SigningSecret: testSecret, Approvers: []string{"UAPPROVER"}, Channel: "C0NOTIFY",
		TemporalAddress: "127.0.0.1:1", Namespace: "default"}
	return New(cfg, nil, slog.New(h), opts)
}

func TestRequestsAreVerifiedBeforeAnythingElse(t *testing.T) {
	var logs bytes.Buffer
	bot := offlineBot(t, &logs, Options{})
	h := bot.Handler()
	body := commandBody("help", "U1", "alice", "http://127.0.0.1:1/never")
	now := time.Now()

	serve := func(r *http.Request) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		return rec
	}

	t.Run("valid", func(t *testing.T) {
		m := decode(t, serve(signedRequest("/slack/commands", body, now)))
		assert.Equal(t, slack.ResponseTypeEphemeral, m.ResponseType)
		assert.Contains(t, blocksJSON(t, m), "/migration status NAME")
		assert.Contains(t, blocksJSON(t, m), `\u003c@UAPPROVER\u003e`, "help names the approvers")
	})
	t.Run("tampered body", func(t *testing.T) {
		r := signedRequest("/slack/commands", body, now)
		r.Body = http.NoBody
		tampered := strings.Replace(body, "help", "list", 1)
		r2 := httptest.NewRequest(http.MethodPost, "/slack/commands", strings.NewReader(tampered))
		r2.Header = r.Header.Clone()
		assert.Equal(t, http.StatusUnauthorized, serve(r2).Code)
	})
	t.Run("stale timestamp", func(t *testing.T) {
		// Correctly signed, but six minutes old: a replay.
		assert.Equal(t, http.StatusUnauthorized, serve(signedRequest("/slack/commands", body, now.Add(-6*time.Minute))).Code)
	})
	t.Run("timestamp from the future", func(t *testing.T) {
		assert.Equal(t, http.StatusUnauthorized, serve(signedRequest("/slack/commands", body, now.Add(6*time.Minute))).Code)
	})
	t.Run("missing headers", func(t *testing.T) {
		for _, hdr := range []string{"X-Slack-Signature", "X-Slack-Request-Timestamp"} {
			r := signedRequest("/slack/commands", body, now)
			r.Header.Del(hdr)
			assert.Equal(t, http.StatusUnauthorized, serve(r).Code, hdr)
		}
	})
	t.Run("signed with another secret", func(t *testing.T) {
		r := signedRequest("/slack/interactions", body, now)
		r.Header.Set("X-Slack-Signature", sign("not-the-secret", now.Unix(), body))
		assert.Equal(t, http.StatusUnauthorized, serve(r).Code)
	})
	t.Run("no secret configured refuses everything", func(t *testing.T) {
		b := New(Config{}, nil, slog.New(slog.DiscardHandler), Options{})
		rec := httptest.NewRecorder()
		b.Handler().ServeHTTP(rec, signedRequest("/slack/commands", body, now))
		assert.Equal(t, http.StatusUnauthorized, rec.Code)
	})
	t.Run("health check", func(t *testing.T) {
		assert.Equal(t, http.StatusOK, serve(httptest.NewRequest(http.MethodGet, "/healthz", nil)).Code)
	})
	assert.NotContains(t, logs.String(), testSecret, "the secret never reaches the log")
	assert.Contains(t, logs.String(), "timestamp more than 5 minutes off")
}

func TestUsageAndUnknownSubcommands(t *testing.T) {
	bot := offlineBot(t, nil, Options{})
	m := bot.Command(slack.SlashCommand{Command: "/migration", Text: "status"})
	assert.Contains(t, m.Text, "Usage: `/migration status NAME`")
	m = bot.Command(slack.SlashCommand{Command: "/migration", Text: "status Orders;drop"})
	assert.Contains(t, m.Text, "Usage")
	m = bot.Command(slack.SlashCommand{Command: "/migration", Text: "<frobnicate>"})
	assert.Equal(t, slack.ResponseTypeEphemeral, m.ResponseType)
	assert.Contains(t, blocksJSON(t, m), "I do not know `\\u0026lt;frobnicate\\u0026gt;`")
}

func TestASlowAnswerIsAcknowledgedThenPostedToResponseURL(t *testing.T) {
	f := newFakeSlack(t)
	bot := offlineBot(t, nil, Options{AnswerWithin: 50 * time.Millisecond})
	cmd := slack.SlashCommand{Command: "/migration", ResponseURL: f.url("slow")}

	m, deferred := bot.answer(cmd, "migration orders", func(context.Context) message {
		time.Sleep(300 * time.Millisecond)
		return inChannel("the full answer")
	})
	assert.True(t, deferred)
	assert.Equal(t, slack.ResponseTypeEphemeral, m.ResponseType)
	assert.Contains(t, m.Text, "Asking Temporal about migration orders")
	late := f.wait(t, "slow", 5*time.Second)
	assert.Equal(t, "the full answer", late.Text)
	assert.Equal(t, slack.ResponseTypeInChannel, late.ResponseType)

	cmd.ResponseURL = f.url("fast")
	m, deferred = bot.answer(cmd, "x", func(context.Context) message { return inChannel("quick") })
	assert.False(t, deferred)
	assert.Equal(t, "quick", m.Text)
	require.NoError(t, bot.Wait(context.Background()))
	assert.Empty(t, f.got("fast"), "an answer given inline is not posted again")
}

func TestAPressByANonApproverIsRefusedAndNamesTheReason(t *testing.T) {
	f := newFakeSlack(t)
	bot := offlineBot(t, nil, Options{})
	value := notify.GateAction{Migration: "orders", Gate: "contract"}.Value()
	rec := httptest.NewRecorder()
	bot.Handler().ServeHTTP(rec, signedRequest("/slack/interactions",
		pressBody(t, notify.ActionApprove, value, "UINTRUDER", "mallory", f.url("press")), time.Now()))
	assert.Equal(t, http.StatusOK, rec.Code)
	m := f.wait(t, "press", 5*time.Second)
	assert.Equal(t, slack.ResponseTypeEphemeral, m.ResponseType)
	assert.False(t, m.ReplaceOriginal, "the status message and its buttons stay for approvers")
	assert.Contains(t, m.Text, "your Slack user ID UINTRUDER is not in this bot's SLACK_APPROVERS")
	assert.Contains(t, m.Text, "<@UAPPROVER>")
}

func TestAButtonZdmDidNotDrawDoesNothing(t *testing.T) {
	f := newFakeSlack(t)
	bot := offlineBot(t, nil, Options{})
	bot.Interaction(mustParse(t, pressBody(t, notify.ActionApprove, `{"migration":"orders","gate":"drop_everything"}`, "UAPPROVER", "alice", f.url("p"))))
	assert.Contains(t, f.wait(t, "p", 5*time.Second).Text, "nothing was done")
}

func mustParse(t *testing.T, body string) slack.InteractionCallback {
	t.Helper()
	r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	ic, err := slack.InteractionCallbackParse(r)
	require.NoError(t, err)
	return ic
}

func TestSocketModeUsesTheSameHandlers(t *testing.T) {
	f := newFakeSlack(t)
	bot := offlineBot(t, nil, Options{})
	acks := make(chan any, 2)
	bot.SocketEvent(socketmode.Event{Type: socketmode.EventTypeSlashCommand,
		Data: slack.SlashCommand{Command: "/migration", Text: "help"}, Request: &socketmode.Request{}},
		func(p any) { acks <- p })
	select {
	case p := <-acks:
		m, ok := p.(message)
		require.True(t, ok, "the command's answer travels in the ack")
		assert.Contains(t, blocksJSON(t, m), "/migration list")
	case <-time.After(5 * time.Second):
		t.Fatal("slash command not acknowledged")
	}

	ic := mustParse(t, pressBody(t, notify.ActionReject, notify.GateAction{Migration: "orders", Gate: "contract"}.Value(), "UNOBODY", "eve", f.url("sock")))
	bot.SocketEvent(socketmode.Event{Type: socketmode.EventTypeInteractive, Data: ic, Request: &socketmode.Request{}},
		func(p any) { acks <- p })
	assert.Nil(t, <-acks, "a press is acknowledged empty, at once")
	assert.Contains(t, f.wait(t, "sock", 5*time.Second).Text, "You cannot reject gate *contract*")
}

func TestStatusOfALiveMigrationAtAGateCarriesTheButtons(t *testing.T) {
	bot := offlineBot(t, nil, Options{})
	bot.cfg.UIURL = "https://temporal.example.com"
	at := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
	v := statusView{Name: "orders", Live: true, FirstRunID: "run-0",
		Record: &progress.Record{WorkflowID: "zdm-orders", RunID: "run-1", Status: enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING},
		Progress: &workflows.Progress{
			Migration: "orders", Table: "public.orders", Phase: workflows.PhaseAwaiting, AwaitingGate: "contract",
			Gates: []string{"read_new", "contract"}, RowsDone: 521000, RowsTotal: 1000000, Percent: 52.1,
			RowsPerSec: 183000.4, ETA: 3 * time.Second, Batches: 53, Paused: true, PausedBy: "bob <maintenance>",
			Approvals: []workflows.Approval{{Gate: "read_new", Approved: true, By: "slack:U1 (alice)", At: at, Via: "update"}},
			LastError: "deadlock detected", StartedAt: at, Elapsed: 245 * time.Second,
		}}
	m := inChannel(statusText(v), bot.statusBlocks(v)...)
	j := blocksJSON(t, m)
	for _, want := range []string{
		"awaiting approval", "public.orders", "`██████████░░░░░░░░░░`  *52.1%*", "521,000 / 1,000,000 rows",
		"183,000 rows/s", "yes, by bob \\u0026lt;maintenance\\u0026gt;", "read_new, contract",
		"*read_new* approved by slack:U1 (alice)", "deadlock detected", "Waiting at gate *contract*",
		"https://temporal.example.com/namespaces/default/workflows/zdm-orders", "4m05s ago",
	} {
		assert.Contains(t, j, want)
	}
	assert.NotContains(t, j, "may be stale")
	assert.NotContains(t, j, "ETA", "no ETA while paused")
	assert.Equal(t, map[string]string{
		notify.ActionApprove: `{"migration":"orders","gate":"contract","run":"run-0"}`,
		notify.ActionReject:  `{"migration":"orders","gate":"contract","run":"run-0"}`,
	}, buttons(t, m), "the buttons name the first run of the run chain, which outlives continue-as-new")
	assert.Equal(t, "Migration orders: awaiting approval, waiting at gate contract", m.Text)
	assert.NotContains(t, j, "(:double_vertical_bar: paused)", "a pause holds the backfill only, which is over")

	// Without Temporal's record the run is unknown: no buttons that could name the wrong one.
	v.Record, v.FirstRunID = nil, ""
	j = blocksJSON(t, inChannel("", bot.statusBlocks(v)...))
	assert.Empty(t, buttons(t, inChannel("", bot.statusBlocks(v)...)))
	assert.Contains(t, j, "`/migration status orders` draws them")
}

// While paused, the backfill has no rate and no ETA to show, and the status says who paused it.
func TestStatusOfAPausedBackfillSaysPausedWithoutRateOrETA(t *testing.T) {
	bot := offlineBot(t, nil, Options{})
	v := statusView{Name: "orders", Live: true, FirstRunID: "run-0",
		Record: &progress.Record{WorkflowID: "zdm-orders", RunID: "run-0", Status: enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING, Phase: "backfilling"},
		Progress: &workflows.Progress{Migration: "orders", Table: "public.orders", Phase: workflows.PhaseBackfilling,
			RowsDone: 250, RowsTotal: 1000, Percent: 25, RowsPerSec: 49.6, Paused: true, PausedBy: "bob peak hours"}}
	m := inChannel(statusText(v), bot.statusBlocks(v)...)
	j := blocksJSON(t, m)
	assert.Equal(t, "Migration orders: backfilling, paused by bob peak hours", m.Text)
	assert.Contains(t, j, ":gear: backfilling (:double_vertical_bar: paused)")
	assert.Contains(t, j, "250 / 1,000 rows · paused by bob peak hours: no rate or ETA until resumed")
	assert.NotContains(t, j, "rows/s")
	assert.NotContains(t, j, "· ETA")

	v.Progress.Paused, v.Progress.PausedBy, v.Progress.ETA = false, "", 15*time.Second
	m = inChannel(statusText(v), bot.statusBlocks(v)...)
	assert.Equal(t, "Migration orders: backfilling", m.Text)
	assert.Contains(t, blocksJSON(t, m), "250 / 1,000 rows · 50 rows/s · ETA 15s")
}

// A press is checked against the migration's current run before anything is sent to it.
func TestAPressIsCheckedAgainstTheCurrentRun(t *testing.T) {
	const first, later = "0195c3a2-0000-7000-8000-000000000001", "0195c3a2-0000-7000-8000-000000000002"
	describe := func(firstRun string, st enumspb.WorkflowExecutionStatus) *workflowservice.DescribeWorkflowExecutionResponse {
		return &workflowservice.DescribeWorkflowExecutionResponse{WorkflowExecutionInfo: &workflowpb.WorkflowExecutionInfo{
			Execution:  &commonpb.WorkflowExecution{WorkflowId: "zdm-orders", RunId: firstRun + "-cont"},
			FirstRunId: firstRun, Status: st,
		}}
	}
	press := func(t *testing.T, c *mocks.Client, value string) message {
		t.Helper()
		f := newFakeSlack(t)
		bot := offlineBot(t, nil, Options{})
		if c != nil {
			bot.temporal = c
		}
		bot.Interaction(mustParse(t, pressBody(t, notify.ActionApprove, value, "UAPPROVER", "alice", f.url("p"))))
		return f.wait(t, "p", 5*time.Second)
	}

	t.Run("a button that names no run decides nothing, and Temporal is not asked", func(t *testing.T) {
		m := press(t, nil, `{"migration":"orders","gate":"contract"}`)
		assert.False(t, m.ReplaceOriginal)
		assert.Contains(t, m.Text, "Nothing done: this button was drawn by an older zdm and does not say which run of migration *orders* it belongs to")
		assert.Contains(t, m.Text, "`/migration status orders`")
	})
	t.Run("a button of an earlier run decides nothing", func(t *testing.T) {
		c := mocks.NewClient(t)
		c.On("DescribeWorkflowExecution", mock.Anything, "zdm-orders", "").Return(describe(later, enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING), nil)
		m := press(t, c, notify.GateAction{Migration: "orders", Gate: "contract", Run: first}.Value())
		assert.False(t, m.ReplaceOriginal)
		assert.Contains(t, m.Text, "Nothing done: this message belongs to an earlier run of migration *orders* (run `"+first+"`); the migration of that name now is run `"+later+"`")
		c.AssertNotCalled(t, "UpdateWorkflow", mock.Anything, mock.Anything)
	})
	t.Run("a button of a run that has ended decides nothing", func(t *testing.T) {
		c := mocks.NewClient(t)
		c.On("DescribeWorkflowExecution", mock.Anything, "zdm-orders", "").Return(describe(first, enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED), nil)
		m := press(t, c, notify.GateAction{Migration: "orders", Gate: "contract", Run: first}.Value())
		assert.Contains(t, m.Text, "Nothing done: migration *orders* has already ended (Completed")
	})
	t.Run("a button of the current run goes to that run chain only", func(t *testing.T) {
		c := mocks.NewClient(t)
		c.On("DescribeWorkflowExecution", mock.Anything, "zdm-orders", "").Return(describe(first, enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING), nil)
		c.On("UpdateWorkflow", mock.Anything, mock.MatchedBy(func(o client.UpdateWorkflowOptions) bool {
			return o.WorkflowID == "zdm-orders" && o.FirstExecutionRunID == first && o.UpdateName == workflows.UpdateApprove
		})).Return(nil, errors.New(`migration orders is waiting at gate "read_new", not "contract"`)).Once()
		m := press(t, c, notify.GateAction{Migration: "orders", Gate: "contract", Run: first}.Value())
		assert.Contains(t, m.Text, `Nothing done: migration orders is waiting at gate "read_new", not "contract"`)
	})
}

func TestStatusWithoutAWorkerShowsTemporalsRecordAndSaysItMayBeStale(t *testing.T) {
	bot := offlineBot(t, nil, Options{})
	beat := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
	v := statusView{Name: "orders", QueryErr: context.DeadlineExceeded,
		Record: &progress.Record{WorkflowID: "zdm-orders", Status: enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING,
			Phase: "backfilling", Table: "public.orders", StartTime: beat.Add(-time.Minute),
			Activities: []progress.PendingActivity{{Type: "BackfillSlice", State: "Scheduled", Attempt: 2,
				LastFailure: "activity Heartbeat timeout", LastHeartbeat: beat,
				Slice: &activities.SliceProgress{RowsDone: 4200}}}}}
	m := inChannel(statusText(v), bot.statusBlocks(v)...)
	j := blocksJSON(t, m)
	for _, want := range []string{"backfilling", "public.orders", "*4,200 rows* backfilled", "last heartbeat",
		"BackfillSlice scheduled, attempt 2, last failure: activity Heartbeat timeout", "*may be stale*", "No zdm worker answered within 2s"} {
		assert.Contains(t, j, want)
	}
	assert.Empty(t, buttons(t, m), "no buttons on figures that may be stale")
	assert.Contains(t, m.Text, "(may be stale)")

	v.Record.Phase = "awaiting_approval"
	v.Record.Activities = nil
	v.QueryErr = errors.New("workflow task failed")
	j = blocksJSON(t, inChannel("", bot.statusBlocks(v)...))
	assert.Contains(t, j, "Waits for approval. Which gate, and the buttons, show once a worker answers")
	assert.Contains(t, j, "The worker could not answer (workflow task failed)")
}

func TestStatusOfAnEndedMigrationIsNotStale(t *testing.T) {
	bot := offlineBot(t, nil, Options{})
	v := statusView{Name: "orders", QueryErr: context.DeadlineExceeded,
		Record:  &progress.Record{Status: enumspb.WORKFLOW_EXECUTION_STATUS_FAILED, Phase: "failed", CloseTime: time.Now()},
		Outcome: &progress.Outcome{Status: "failed", Err: "verification found 3 row(s) whose new columns differ"}}
	j := blocksJSON(t, inChannel("", bot.statusBlocks(v)...))
	assert.Contains(t, j, "verification found 3 row(s)")
	assert.Contains(t, j, "*Ended*")
	assert.NotContains(t, j, "may be stale")
}

func TestProgressTextShowsRateAndETAWhileRunning(t *testing.T) {
	s := progressText(statusView{Live: true, Progress: &workflows.Progress{
		RowsDone: 250, RowsTotal: 1000, Percent: 25, RowsPerSec: 49.6, ETA: 15 * time.Second}})
	assert.Equal(t, "`█████░░░░░░░░░░░░░░░`  *25.0%*\n250 / 1,000 rows · 50 rows/s · ETA 15s", s)
}

func TestStatusSaysWhatTheDDLWaitsFor(t *testing.T) {
	bot := offlineBot(t, nil, Options{})
	v := statusView{Name: "orders", QueryErr: context.DeadlineExceeded,
		Record: &progress.Record{WorkflowID: "zdm-orders", Status: enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING,
			Phase: "awaiting_approval", Table: "public.orders",
			Activities: []progress.PendingActivity{
				{Type: "Rehearse", State: "Started", Attempt: 1, Note: "rehearse contract: waiting for autovacuum on public.orders (pid 42)"},
				{Type: "RunDDL", State: "Started", Attempt: 1, Note: "expand"},
			}}}
	j := blocksJSON(t, inChannel(statusText(v), bot.statusBlocks(v)...))
	assert.Contains(t, j, "rehearse contract: waiting for autovacuum on public.orders (pid 42)")
	assert.NotContains(t, j, "expand")
}
