// Package slackbot is zdm's Slack app: the /migration slash command (status, list,
// help) and the Approve and Reject buttons of a migration waiting at a gate. It reads
// migrations from Temporal the way the zdm CLI does (package progress) and decides
// gates through the workflow's approve and reject updates, so the workflow's own
// validator refuses a press for a gate it no longer waits at.
//
// Every HTTP request is checked against Slack's signing secret before anything else.
// Slack wants an answer within 3 seconds: every Temporal call is bounded, and an answer
// that is not ready in time is acknowledged at once and posted to the request's
// response_url when it is.
package slackbot

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/slack-go/slack"
	"go.temporal.io/sdk/client"
)

// Options tune the bot's timing; zero values take defaults.
type Options struct {
	// CallTimeout bounds each call to Temporal (default 2s).
	CallTimeout time.Duration
	// AnswerWithin is how long a slash command waits for its full answer before it is
	// acknowledged and the answer goes to response_url instead (default 2.5s, under
	// Slack's 3s).
	AnswerWithin time.Duration
	// ReplyTimeout bounds one post to a response_url (default 10s).
	ReplyTimeout time.Duration
	// HTTPClient posts to response_urls (default: one with ReplyTimeout).
	HTTPClient *http.Client
	// Now is the clock (default time.Now).
	Now func() time.Time
}

func (o Options) withDefaults() Options {
	if o.CallTimeout <= 0 {
		o.CallTimeout = 2 * time.Second
	}
	if o.AnswerWithin <= 0 {
		o.AnswerWithin = 2500 * time.Millisecond
	}
	if o.ReplyTimeout <= 0 {
		o.ReplyTimeout = 10 * time.Second
	}
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{Timeout: o.ReplyTimeout}
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// Bot answers Slack. It is safe for concurrent use.
type Bot struct {
	cfg      Config
	temporal client.Client
	log      *slog.Logger
	opts     Options
	// pending counts answers still to be posted to a response_url.
	pending sync.WaitGroup
}

// New makes a bot that reads migrations through c.
func New(cfg Config, c client.Client, log *slog.Logger, opts Options) *Bot {
	if log == nil {
		log = slog.Default()
	}
	if len(cfg.Approvers) == 0 {
		log.Warn("SLACK_APPROVERS is empty: nobody can approve or reject gates from Slack")
	}
	return &Bot{cfg: cfg, temporal: c, log: log, opts: opts.withDefaults()}
}

// Wait blocks until every answer still owed to a response_url is posted, or ctx ends.
func (b *Bot) Wait(ctx context.Context) error {
	done := make(chan struct{})
	go func() {
		b.pending.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// maxBody bounds a request body: Slack's payloads are a few kilobytes (an interaction
// carries the message it came from).
const maxBody = 1 << 20

// Handler serves Slack's requests: POST /slack/commands and POST /slack/interactions,
// each verified first; GET /healthz for load balancers touches nothing.
func (b *Bot) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("POST /slack/commands", b.verified(http.HandlerFunc(b.serveCommand)))
	mux.Handle("POST /slack/interactions", b.verified(http.HandlerFunc(b.serveInteraction)))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "ok\n")
	})
	return mux
}

// verified lets a request through only when its signature and timestamp are Slack's:
// HMAC-SHA256 of "v0:timestamp:body" with the signing secret, timestamp within 5
// minutes. Nothing of the request is parsed before that.
func (b *Bot) verified(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sv, err := slack.NewSecretsVerifier(r.Header, b.cfg.SigningSecret)
		if err != nil {
			b.refuse(w, r, http.StatusUnauthorized, verifyReason(err))
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
		if err != nil {
			b.refuse(w, r, http.StatusRequestEntityTooLarge, "body unreadable or over 1 MiB")
			return
		}
		if _, err := sv.Write(body); err != nil {
			b.refuse(w, r, http.StatusUnauthorized, "signature not computable")
			return
		}
		if err := sv.Ensure(); err != nil {
			b.refuse(w, r, http.StatusUnauthorized, "signature does not match the body")
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		next.ServeHTTP(w, r)
	})
}

func verifyReason(err error) string {
	switch {
	case errors.Is(err, slack.ErrMissingHeaders):
		return "X-Slack-Signature or X-Slack-Request-Timestamp missing"
	case errors.Is(err, slack.ErrExpiredTimestamp):
		return "timestamp more than 5 minutes off (replayed, or the clock is wrong)"
	case errors.Is(err, slack.ErrInvalidConfiguration):
		return "no signing secret configured"
	}
	return "malformed signature or timestamp"
}

func (b *Bot) refuse(w http.ResponseWriter, r *http.Request, code int, reason string) {
	b.log.Warn("Slack request refused", "path", r.URL.Path, "reason", reason, "remote", r.RemoteAddr)
	http.Error(w, "request refused: "+reason, code)
}

// message is what the bot sends Slack: as the HTTP answer to a command, as a Socket
// Mode acknowledgement, or posted to a response_url.
type message = slack.WebhookMessage

func ephemeral(text string, blocks ...slack.Block) message {
	return withBlocks(message{ResponseType: slack.ResponseTypeEphemeral, Text: text}, blocks)
}

func inChannel(text string, blocks ...slack.Block) message {
	return withBlocks(message{ResponseType: slack.ResponseTypeInChannel, Text: text}, blocks)
}

func withBlocks(m message, blocks []slack.Block) message {
	if len(blocks) > 0 {
		m.Blocks = &slack.Blocks{BlockSet: slices.Clip(blocks)}
	}
	return m
}

func writeJSON(w http.ResponseWriter, m message) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(m)
}

// reply posts m to a response_url. The URL is a credential of sorts (it lets anyone
// post into the conversation for 30 minutes), so it is never logged.
func (b *Bot) reply(responseURL string, m message) {
	if responseURL == "" {
		b.log.Error("cannot answer Slack: the request had no response_url")
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), b.opts.ReplyTimeout)
	defer cancel()
	if err := slack.PostWebhookCustomHTTPContext(ctx, responseURL, b.opts.HTTPClient, &m); err != nil {
		b.log.Error("cannot post answer to Slack's response_url", "error", redactURL(err, responseURL))
	}
}

// redactURL keeps a response_url out of an error message.
func redactURL(err error, u string) string {
	return string(bytes.ReplaceAll([]byte(err.Error()), []byte(u), []byte("<response_url>")))
}

// background runs f after the request is answered, counted by Wait.
func (b *Bot) background(f func()) {
	b.pending.Add(1)
	go func() {
		defer b.pending.Done()
		f()
	}()
}

func (b *Bot) isApprover(userID string) bool { return slices.Contains(b.cfg.Approvers, userID) }

func (b *Bot) callCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, b.opts.CallTimeout)
}

func approverList(ids []string) string {
	if len(ids) == 0 {
		return "nobody (SLACK_APPROVERS is empty)"
	}
	s := ""
	for i, id := range ids {
		if i > 0 {
			s += ", "
		}
		s += fmt.Sprintf("<@%s>", id)
	}
	return s
}
