package slackbot

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/slack-go/slack"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/worker"

	"github.com/zdmhq/zdm/activities"
	"github.com/zdmhq/zdm/internal/notify"
	"github.com/zdmhq/zdm/internal/spec"
	"github.com/zdmhq/zdm/internal/testenv"
	"github.com/zdmhq/zdm/workflows"
)

// One Temporal dev server serves every integration test of the package; each test has
// its own database, task queue and migration names.
var dev struct {
	once     sync.Once
	server   *testsuite.DevServer
	client   client.Client
	hostPort string
	dir      string
	err      error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if dev.client != nil {
		dev.client.Close()
	}
	if dev.server != nil {
		_ = dev.server.Stop()
	}
	if dev.dir != "" {
		_ = os.RemoveAll(dev.dir)
	}
	os.Exit(code)
}

func integration(t *testing.T) { t.Helper(); testenv.Need(t, "DATABASE_URL") }

func temporalBin(t *testing.T) string { t.Helper(); return testenv.TemporalBin(t) }

// temporalClient starts the package's dev server on first use.
func temporalClient(t *testing.T) client.Client {
	t.Helper()
	integration(t)
	bin := temporalBin(t)
	dev.once.Do(func() {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			dev.err = err
			return
		}
		dev.hostPort = l.Addr().String()
		l.Close()
		dir, err := os.MkdirTemp("", "zdm-slackbot-temporal")
		if err != nil {
			dev.err = err
			return
		}
		dev.dir = dir
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		dev.server, dev.err = testsuite.StartDevServer(ctx, testsuite.DevServerOptions{
			ExistingPath:  bin,
			DBFilename:    filepath.Join(dir, "temporal.db"),
			LogLevel:      "error",
			ClientOptions: &client.Options{HostPort: dev.hostPort},
			SearchAttributes: temporal.NewSearchAttributes(
				workflows.MigrationPhase.ValueSet(""), workflows.MigrationTable.ValueSet("")),
			Stdout: io.Discard, Stderr: io.Discard,
		})
		if dev.err != nil {
			return
		}
		dev.client, dev.err = client.Dial(client.Options{HostPort: dev.hostPort, Logger: quietTemporal()})
	})
	require.NoError(t, dev.err, "start the Temporal dev server")
	return dev.client
}

func quietTemporal() tlog.Logger { return tlog.NewStructuredLogger(slog.New(slog.DiscardHandler)) }

func randomSuffix() string { return testenv.Suffix() }

// testDB creates a database of the test's own, with a customers table of n rows.
func testDB(t *testing.T, n int) (dsn string, pool *pgxpool.Pool) {
	t.Helper()
	dsn, pool = testenv.DB(t, "zdm_slackbot")
	ctx := context.Background()
	var err error
	_, err = pool.Exec(ctx, `CREATE TABLE customers (id bigint PRIMARY KEY, name text NOT NULL)`)
	require.NoError(t, err)
	_, err = pool.Exec(ctx, `INSERT INTO customers SELECT g, 'Customer ' || g FROM generate_series(1, $1::bigint) g`, n)
	require.NoError(t, err)
	_, err = pool.Exec(ctx, `ANALYZE customers`)
	require.NoError(t, err)
	return dsn, pool
}

// startWorker runs the real workflow and activities in the test process, on a client
// connection of its own so that a test can cut it like a crashed worker's.
func startWorker(t *testing.T, queue, dsn string) (w worker.Worker, conn client.Client) {
	t.Helper()
	return startNotifyingWorker(t, queue, dsn, nil)
}

// startNotifyingWorker is startWorker with a worker that posts its notices through n.
func startNotifyingWorker(t *testing.T, queue, dsn string, n *notify.Notifier) (w worker.Worker, conn client.Client) {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), dsn)
	require.NoError(t, err)
	conn, err = client.Dial(client.Options{HostPort: dev.hostPort, Logger: quietTemporal()})
	require.NoError(t, err)
	w = worker.New(conn, queue, worker.Options{WorkerStopTimeout: 5 * time.Second})
	w.RegisterWorkflow(workflows.MigrationWorkflow)
	w.RegisterActivity(&activities.Activities{DB: pool, Notifier: n})
	require.NoError(t, w.Start())
	t.Cleanup(func() {
		w.Stop()
		conn.Close()
		pool.Close()
	})
	return w, conn
}

// startMigration adds a column to customers, gated at contract.
func startMigration(t *testing.T, c client.Client, queue, name, backfill string, opts workflows.Options) client.WorkflowRun {
	t.Helper()
	yaml := fmt.Sprintf(`name: %s
table: customers
operations:
  - add_column: {column: name_lower, type: text, backfill: "lower(name)"}
backfill: %s
gates: [contract]
`, name, backfill)
	m, err := spec.Parse(name+".yaml", []byte(yaml))
	require.NoError(t, err)
	run, err := c.ExecuteWorkflow(context.Background(), client.StartWorkflowOptions{
		ID: spec.WorkflowID(name), TaskQueue: queue,
	}, workflows.MigrationWorkflow, workflows.MigrationInput{Migration: *m, Options: opts})
	require.NoError(t, err)
	return run
}

// waitProgress polls the progress query until ok holds.
func waitProgress(t *testing.T, c client.Client, name string, timeout time.Duration, what string, ok func(workflows.Progress) bool) workflows.Progress {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var last workflows.Progress
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		v, err := c.QueryWorkflow(ctx, spec.WorkflowID(name), "", workflows.QueryProgress)
		cancel()
		if err == nil && v.Get(&last) == nil {
			if last.Phase.Final() && !ok(last) {
				t.Fatalf("migration %s ended (%s) before %s: %s", name, last.Phase, what, last.LastError)
			}
			if ok(last) {
				return last
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("timed out after %s waiting for %s; last progress %+v", timeout, what, last)
	return last
}

// slackAPI stands in for Slack's chat.postMessage: the notifier it returns posts there,
// and the blocks of every post arrive on the channel.
func slackAPI(t *testing.T) (*notify.Notifier, <-chan url2blocks) {
	t.Helper()
	posts := make(chan url2blocks, 32)
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		select {
		case posts <- url2blocks{channel: r.PostForm.Get("channel"), blocks: r.PostForm.Get("blocks")}:
		default:
			t.Errorf("more Slack posts than the test reads")
		}
		_, _ = w.Write([]byte(`{"ok":true,"channel":"C0NOTIFY","ts":"1.1"}`))
	}))
	t.Cleanup(api.Close)
	n, err := notify.New(notify.Config{Token: "xoxb-test", Channel: "C0NOTIFY", APIURL: api.URL + "/"}, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	return n, posts
}

// postedButtons waits for the next post that carries gate buttons and returns them.
func postedButtons(t *testing.T, posts <-chan url2blocks, timeout time.Duration) map[string]string {
	t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case p := <-posts:
			var blocks slack.Blocks
			require.NoError(t, json.Unmarshal([]byte(p.blocks), &blocks))
			if btn := buttons(t, message{Blocks: &blocks}); len(btn) > 0 {
				return btn
			}
		case <-deadline:
			t.Fatalf("no notification with gate buttons within %s", timeout)
		}
	}
}

func atGate(gate string) func(workflows.Progress) bool {
	return func(p workflows.Progress) bool { return p.AwaitingGate == gate }
}

// rig is the bot under test, serving HTTP as it would for Slack, with its outgoing
// posts captured.
type rig struct {
	t     *testing.T
	bot   *Bot
	srv   *httptest.Server
	slack *fakeSlack
}

func newRig(t *testing.T, c client.Client, opts Options) *rig {
	t.Helper()
	cfg := Config{SigningSecret: testSecret, Approvers: []string{"UAPPROVER"},
		TemporalAddress: dev.hostPort, Namespace: "default"}
	bot := New(cfg, c, slog.New(slog.DiscardHandler), opts)
	r := &rig{t: t, bot: bot, srv: httptest.NewServer(bot.Handler()), slack: newFakeSlack(t)}
	t.Cleanup(func() {
		r.srv.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		_ = bot.Wait(ctx)
	})
	return r
}

// send posts a body to the bot, signed at ts unless mutate changes the request.
func (r *rig) send(path, body string, ts time.Time, mutate func(*http.Request)) (*http.Response, []byte, time.Duration) {
	r.t.Helper()
	req := signedRequest(path, body, ts)
	out, err := http.NewRequest(http.MethodPost, r.srv.URL+path, strings.NewReader(body))
	require.NoError(r.t, err)
	out.Header = req.Header
	if mutate != nil {
		mutate(out)
	}
	start := time.Now()
	resp, err := http.DefaultClient.Do(out)
	require.NoError(r.t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(r.t, err)
	return resp, b, time.Since(start)
}

// command runs a slash command as user; replies to its response_url are kept under key.
func (r *rig) command(text, user, key string) (message, time.Duration) {
	r.t.Helper()
	resp, body, took := r.send("/slack/commands", commandBody(text, user, strings.ToLower(user), r.slack.url(key)), time.Now(), nil)
	require.Equal(r.t, http.StatusOK, resp.StatusCode, string(body))
	rec := httptest.NewRecorder()
	rec.Code = resp.StatusCode
	rec.Body.Write(body)
	return decode(r.t, rec), took
}

// press presses a gate button as user and returns the bot's answer, posted to the
// response_url.
func (r *rig) press(actionID, value, user, userName, key string) message {
	r.t.Helper()
	resp, body, took := r.send("/slack/interactions", pressBody(r.t, actionID, value, user, userName, r.slack.url(key)), time.Now(), nil)
	require.Equal(r.t, http.StatusOK, resp.StatusCode, string(body))
	require.Less(r.t, took, 3*time.Second, "a press is acknowledged within Slack's 3 seconds")
	return r.slack.wait(r.t, key, 15*time.Second)
}
