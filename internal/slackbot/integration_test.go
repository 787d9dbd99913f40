package slackbot

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slack-go/slack"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/testsuite"

	"github.com/zdmhq/zdm/activities"
	"github.com/zdmhq/zdm/internal/notify"
	"github.com/zdmhq/zdm/internal/progress"
	"github.com/zdmhq/zdm/internal/spec"
	"github.com/zdmhq/zdm/internal/testenv"
	"github.com/zdmhq/zdm/workflows"
)

// A real migration waits at its contract gate; the bot shows its true progress, refuses
// forged, replayed and unauthorised requests and buttons for another gate, and an
// approver's press moves the gate and replaces the message.
func TestApproveFromSlackOnARealMigration(t *testing.T) {
	t.Parallel()
	c := temporalClient(t)
	dsn, _ := testDB(t, 3000)
	suffix := randomSuffix()
	queue, name := "slackbot-"+suffix, "slack-approve-"+suffix
	startWorker(t, queue, dsn)
	run := startMigration(t, c, queue, name, "{batch_size: 500}", workflows.Options{})
	waitProgress(t, c, name, 30*time.Second, "gate contract", atGate("contract"))
	r := newRig(t, c, Options{})

	// /migration status answers inline, in the channel, with the real figures.
	m, took := r.command("status "+name, "UREADER", "status")
	assert.Less(t, took, 3*time.Second)
	assert.Equal(t, slack.ResponseTypeInChannel, m.ResponseType)
	j := blocksJSON(t, m)
	for _, want := range []string{"awaiting approval", "public.customers", "3,000 / 3,000 rows", "`████████████████████`  *100.0%*", "Waiting at gate *contract*"} {
		assert.Contains(t, j, want)
	}
	assert.NotContains(t, j, "may be stale")
	btn := buttons(t, m)
	require.Contains(t, btn, notify.ActionApprove)
	require.Contains(t, btn, notify.ActionReject)
	value := btn[notify.ActionApprove]
	g, err := notify.ParseGateAction(value)
	require.NoError(t, err)
	assert.Equal(t, run.GetRunID(), g.Run, "the buttons name the run they were drawn for")

	stillWaiting := func(why string) {
		t.Helper()
		waitProgress(t, c, name, 5*time.Second, "still at gate contract "+why, atGate("contract"))
	}

	t.Run("forged or replayed presses are refused before anything else", func(t *testing.T) {
		body := pressBody(t, notify.ActionApprove, value, "UAPPROVER", "alice", r.slack.url("forged"))
		now := time.Now()
		tampered := strings.Replace(body, "alice", "alicf", 1)
		for what, mutate := range map[string]func(*http.Request){
			"tampered body": func(req *http.Request) {
				req.Body, req.ContentLength = io.NopCloser(strings.NewReader(tampered)), int64(len(tampered))
			},
			"stale timestamp": func(req *http.Request) {
				old := now.Add(-10 * time.Minute).Unix()
				req.Header.Set("X-Slack-Request-Timestamp", strconv.FormatInt(old, 10))
				req.Header.Set("X-Slack-Signature", sign(testSecret, old, body))
			},
			"missing signature": func(req *http.Request) { req.Header.Del("X-Slack-Signature") },
			"missing timestamp": func(req *http.Request) { req.Header.Del("X-Slack-Request-Timestamp") },
		} {
			resp, _, _ := r.send("/slack/interactions", body, now, mutate)
			assert.Equal(t, http.StatusUnauthorized, resp.StatusCode, what)
		}
		resp, _, _ := r.send("/slack/commands", commandBody("status "+name, "U1", "u", r.slack.url("forged")), now, func(req *http.Request) {
			req.Header.Set("X-Slack-Signature", sign("guessed-secret", now.Unix(), commandBody("status "+name, "U1", "u", r.slack.url("forged"))))
		})
		assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
		time.Sleep(200 * time.Millisecond)
		assert.Empty(t, r.slack.got("forged"), "a refused request gets no answer")
		stillWaiting("after forged presses")
	})

	t.Run("a user who is not an approver is refused", func(t *testing.T) {
		m := r.press(notify.ActionApprove, value, "UINTRUDER", "mallory", "intruder")
		assert.Equal(t, slack.ResponseTypeEphemeral, m.ResponseType)
		assert.False(t, m.ReplaceOriginal)
		assert.Contains(t, m.Text, "UINTRUDER is not in this bot's SLACK_APPROVERS")
		stillWaiting("after an intruder's press")
	})

	t.Run("a button for a gate the migration does not wait at does nothing", func(t *testing.T) {
		wrong := notify.GateAction{Migration: name, Gate: "read_new", Run: g.Run}.Value()
		m := r.press(notify.ActionApprove, wrong, "UAPPROVER", "alice", "wrong-gate")
		assert.Equal(t, slack.ResponseTypeEphemeral, m.ResponseType)
		assert.False(t, m.ReplaceOriginal)
		assert.Contains(t, m.Text, `Nothing done: migration `+name+` is waiting at gate "contract", not "read_new"`)
		stillWaiting("after a press for another gate")
	})

	t.Run("a button that names no run, drawn by an older zdm, does nothing", func(t *testing.T) {
		legacy := notify.GateAction{Migration: name, Gate: "contract"}.Value()
		m := r.press(notify.ActionApprove, legacy, "UAPPROVER", "alice", "legacy")
		assert.False(t, m.ReplaceOriginal)
		assert.Contains(t, m.Text, "Nothing done: this button was drawn by an older zdm")
		stillWaiting("after a press of a button without a run")
	})

	t.Run("an approver's press moves the gate and replaces the message", func(t *testing.T) {
		m := r.press(notify.ActionApprove, value, "UAPPROVER", "alice", "approve")
		assert.True(t, m.ReplaceOriginal, "the message with the buttons is replaced")
		assert.Contains(t, m.Text, "<@UAPPROVER> approved gate *contract*")
		assert.Empty(t, buttons(t, m), "nothing left to press twice")
		assert.Contains(t, blocksJSON(t, m), "*contract* approved by slack:UAPPROVER (alice)")

		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		var res workflows.Result
		require.NoError(t, run.Get(ctx, &res))
		assert.Equal(t, workflows.PhaseCompleted, res.Status)
		require.Len(t, res.Progress.Approvals, 1)
		ap := res.Progress.Approvals[0]
		assert.Equal(t, "slack:UAPPROVER (alice)", ap.By)
		assert.True(t, ap.Approved)
		assert.Equal(t, "update", ap.Via)
	})

	t.Run("the old button, pressed again, does nothing and says so", func(t *testing.T) {
		m := r.press(notify.ActionApprove, value, "UAPPROVER", "alice", "again")
		assert.False(t, m.ReplaceOriginal)
		assert.Contains(t, m.Text, "Nothing done: migration *"+name+"* has already ended (Completed")
	})

	t.Run("status of the ended migration", func(t *testing.T) {
		m, _ := r.command("status "+name, "UREADER", "status-after")
		j := blocksJSON(t, m)
		assert.Contains(t, j, ":white_check_mark: completed")
		assert.Empty(t, buttons(t, m))
	})
}

// The worker posts a gate notification (the Notify activity, through chat.postMessage);
// its Reject button, pressed by an approver, rolls the real migration back.
func TestRejectFromAGateNotification(t *testing.T) {
	t.Parallel()
	c := temporalClient(t)
	dsn, pool := testDB(t, 1000)
	suffix := randomSuffix()
	queue, name := "slackbot-"+suffix, "slack-reject-"+suffix
	startWorker(t, queue, dsn)
	run := startMigration(t, c, queue, name, "{batch_size: 500}", workflows.Options{})
	p := waitProgress(t, c, name, 30*time.Second, "gate contract", atGate("contract"))

	posts := make(chan url2blocks, 1)
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		require.NoError(t, r.ParseForm())
		posts <- url2blocks{channel: r.PostForm.Get("channel"), blocks: r.PostForm.Get("blocks")}
		_, _ = w.Write([]byte(`{"ok":true,"channel":"C0NOTIFY","ts":"1.1"}`))
	}))
	defer api.Close()
	n, err := notify.New(notify.Config{Token: "xoxb-test", Channel: "C0NOTIFY", APIURL: api.URL + "/"}, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	var suite testsuite.WorkflowTestSuite
	actEnv := suite.NewTestActivityEnvironment()
	actEnv.RegisterActivity(&activities.Activities{Notifier: n})
	var acts *activities.Activities
	_, err = actEnv.ExecuteActivity(acts.Notify, activities.NotifyInput{
		Migration: name, RunID: run.GetRunID(), Table: p.Table, Event: activities.NotifyGate, Gate: p.AwaitingGate,
		RowsDone: p.RowsDone, RowsTotal: p.RowsTotal, Elapsed: p.Elapsed,
	})
	require.NoError(t, err)

	var posted url2blocks
	select {
	case posted = <-posts:
	case <-time.After(5 * time.Second):
		t.Fatal("no chat.postMessage")
	}
	assert.Equal(t, "C0NOTIFY", posted.channel)
	var blocks slack.Blocks
	require.NoError(t, json.Unmarshal([]byte(posted.blocks), &blocks))
	btn := buttons(t, message{Blocks: &blocks})
	require.Contains(t, btn, notify.ActionReject, "the notification carries the bot's buttons")

	r := newRig(t, c, Options{})
	m := r.press(notify.ActionReject, btn[notify.ActionReject], "UAPPROVER", "alice", "reject")
	assert.True(t, m.ReplaceOriginal)
	assert.Contains(t, m.Text, "<@UAPPROVER> rejected gate *contract*; the migration rolls back")

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var res workflows.Result
	require.NoError(t, run.Get(ctx, &res))
	assert.Equal(t, workflows.PhaseRolledBack, res.Status)
	assert.Equal(t, "slack:UAPPROVER (alice)", res.Progress.Approvals[0].By)
	var cols int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM information_schema.columns WHERE table_name = 'customers' AND column_name = 'name_lower'`).Scan(&cols))
	assert.Zero(t, cols, "the rollback removed the new column")
}

type url2blocks struct{ channel, blocks string }

// A message's buttons belong to the run they were drawn for. After that run is rejected
// and the migration is started again under the same name, the old gate notification's
// Approve and Reject (posted by the workflow itself) do nothing to the new run, and say
// so; the new run's own buttons decide it.
func TestAButtonOfAnEarlierRunIsRefused(t *testing.T) {
	t.Parallel()
	c := temporalClient(t)
	dsn, _ := testDB(t, 1000)
	suffix := randomSuffix()
	queue, name := "slackbot-"+suffix, "slack-earlier-"+suffix
	n, posts := slackAPI(t)
	startNotifyingWorker(t, queue, dsn, n)
	r := newRig(t, c, Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	first := startMigration(t, c, queue, name, "{batch_size: 500}", workflows.Options{})
	waitProgress(t, c, name, 30*time.Second, "gate contract of the first run", atGate("contract"))
	old := postedButtons(t, posts, 30*time.Second)
	require.Contains(t, old, notify.ActionApprove)
	require.Contains(t, old, notify.ActionReject)
	g, err := notify.ParseGateAction(old[notify.ActionApprove])
	require.NoError(t, err)
	assert.Equal(t, first.GetRunID(), g.Run, "the workflow's notification names its run")

	// The first run is rejected (from the CLI, say), rolls back, and the migration is
	// started again under the same name.
	h, err := c.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
		WorkflowID: spec.WorkflowID(name), UpdateName: workflows.UpdateReject,
		Args:         []any{workflows.Decision{Gate: "contract", By: "cli:bob", Comment: "start over"}},
		WaitForStage: client.WorkflowUpdateStageCompleted,
	})
	require.NoError(t, err)
	require.NoError(t, h.Get(ctx, nil))
	var res workflows.Result
	require.NoError(t, first.Get(ctx, &res))
	require.Equal(t, workflows.PhaseRolledBack, res.Status)

	second := startMigration(t, c, queue, name, "{batch_size: 500}", workflows.Options{})
	require.NotEqual(t, first.GetRunID(), second.GetRunID())
	waitProgress(t, c, name, 30*time.Second, "gate contract of the second run", atGate("contract"))

	for _, action := range []string{notify.ActionApprove, notify.ActionReject} {
		m := r.press(action, old[action], "UAPPROVER", "alice", "old-"+action)
		assert.Equal(t, slack.ResponseTypeEphemeral, m.ResponseType)
		assert.False(t, m.ReplaceOriginal, "the old message stays as it is")
		assert.Contains(t, m.Text, "Nothing done: this message belongs to an earlier run of migration *"+name+"* (run `"+first.GetRunID()+"`)")
		assert.Contains(t, m.Text, "now is run `"+second.GetRunID()+"`")
		waitProgress(t, c, name, 5*time.Second, "the second run still at gate contract after an old "+action, atGate("contract"))
	}

	assert.Equal(t, postedButtons(t, posts, 30*time.Second), map[string]string{
		notify.ActionApprove: notify.GateAction{Migration: name, Gate: "contract", Run: second.GetRunID()}.Value(),
		notify.ActionReject:  notify.GateAction{Migration: name, Gate: "contract", Run: second.GetRunID()}.Value(),
	}, "the second run's notification names the second run")
	// The buttons come with a live answer from the worker; on a loaded machine a query
	// may miss the bot's call timeout, and a person would ask again.
	var cur map[string]string
	for try := 0; try < 20 && cur[notify.ActionApprove] == ""; try++ {
		if try > 0 {
			time.Sleep(500 * time.Millisecond)
		}
		m, _ := r.command("status "+name, "UREADER", fmt.Sprintf("second-status-%d", try))
		cur = buttons(t, m)
	}
	g, err = notify.ParseGateAction(cur[notify.ActionApprove])
	require.NoError(t, err)
	assert.Equal(t, second.GetRunID(), g.Run, "and so do the buttons of /migration status")
	m := r.press(notify.ActionApprove, cur[notify.ActionApprove], "UAPPROVER", "alice", "new-approve")
	assert.True(t, m.ReplaceOriginal, m.Text)
	require.NoError(t, second.Get(ctx, &res))
	assert.Equal(t, workflows.PhaseCompleted, res.Status)
	require.Len(t, res.Progress.Approvals, 1, "only the second run's own button decided it")
	assert.Equal(t, "slack:UAPPROVER (alice)", res.Progress.Approvals[0].By)
}

// With no worker answering, status falls back to Temporal's record (phase, the rows
// of the last backfill heartbeat), says the figures may be stale and never hangs:
// inline when the fallback is ready in time, through response_url when it is not.
func TestStatusWithoutAWorkerFallsBackToTemporalsRecord(t *testing.T) {
	t.Parallel()
	c := temporalClient(t)
	dsn, _ := testDB(t, 20000)
	suffix := randomSuffix()
	queue, name := "slackbot-"+suffix, "slack-stale-"+suffix
	w, conn := startWorker(t, queue, dsn)
	// About 10 s of backfill, in 5 s slices heartbeating every batch.
	startMigration(t, c, queue, name, "{batch_size: 100, max_rows_per_second: 2000}",
		workflows.Options{HeartbeatTimeout: 2 * time.Second})
	testenv.WaitFor(t, 30*time.Second, "a backfill slice that has heartbeated", func() bool {
		resp, err := c.DescribeWorkflowExecution(context.Background(), spec.WorkflowID(name), "")
		if err != nil {
			return false
		}
		sp, _ := progress.RecordOf(resp).Backfill()
		return sp != nil && sp.RowsDone > 0
	})

	// The worker loses Temporal mid-slice, as a crashed one would: the slice's last
	// heartbeat is all Temporal has.
	conn.Close()
	w.Stop()

	inline := newRig(t, c, Options{CallTimeout: time.Second})
	m, took := inline.command("status "+name, "UREADER", "inline")
	assert.Less(t, took, 2500*time.Millisecond, "answered within Slack's time")
	assert.Equal(t, slack.ResponseTypeInChannel, m.ResponseType, m.Text)
	j := blocksJSON(t, m)
	assert.Contains(t, j, "backfilling")
	assert.Contains(t, j, "*may be stale*")
	assert.Contains(t, j, "rows* backfilled and committed as of the last heartbeat")
	assert.Empty(t, buttons(t, m))
	assert.Empty(t, inline.slack.got("inline"), "an inline answer is not posted again")

	late := newRig(t, c, Options{CallTimeout: time.Second, AnswerWithin: 200 * time.Millisecond})
	m, took = late.command("status "+name, "UREADER", "late")
	assert.Less(t, took, time.Second, "acknowledged at once")
	assert.Equal(t, slack.ResponseTypeEphemeral, m.ResponseType)
	assert.Contains(t, m.Text, "Asking Temporal about migration "+name)
	posted := late.slack.wait(t, "late", 10*time.Second)
	assert.Equal(t, slack.ResponseTypeInChannel, posted.ResponseType)
	assert.Contains(t, blocksJSON(t, posted), "*may be stale*")

	// list needs no worker either: the migration shows with what Temporal knows.
	m, _ = late.command("list", "UREADER", "list")
	if strings.HasPrefix(m.Text, ":hourglass") || strings.Contains(m.Text, "Asking Temporal") {
		m = late.slack.wait(t, "list", 10*time.Second)
	}
	j = blocksJSON(t, m)
	assert.Contains(t, j, "*"+name+"*")
	assert.Contains(t, j, "no worker answered: progress unknown")
}

// Slash commands for migrations that do not exist, and many at once, are answered.
func TestStatusOfAnUnknownMigrationAndConcurrentCommands(t *testing.T) {
	t.Parallel()
	c := temporalClient(t)
	r := newRig(t, c, Options{})
	m, _ := r.command("status no-such-migration", "UREADER", "unknown")
	assert.Equal(t, slack.ResponseTypeEphemeral, m.ResponseType)
	assert.Contains(t, m.Text, "No migration named *no-such-migration*")

	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m, took := r.command("list", "UREADER", "many-"+strconv.Itoa(i))
			assert.Less(t, took, 3*time.Second)
			assert.NotEmpty(t, m.Text)
		}()
	}
	wg.Wait()
}
