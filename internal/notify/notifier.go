// Package notify posts what a migration wants people to know to a Slack channel:
// a gate waiting for approval (with Approve and Reject buttons), completion, failure,
// rollback. It also owns the Block Kit pieces that the Slack bot acts on (the gate
// buttons and their values), so that a button drawn here and one drawn by the bot are
// the same button.
package notify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/slack-go/slack"
)

// Config says where notifications go. The token is a secret: it is never logged.
type Config struct {
	// Token is the bot token (xoxb-...) with the chat:write scope; empty turns
	// notifications off.
	Token string
	// Channel is the channel ID (C0123ABCD) or name (#migrations) to post in; the bot
	// must be a member.
	Channel string
	// APIURL replaces Slack's Web API base URL (https://slack.com/api/), for tests.
	APIURL string
}

// ConfigFromEnv reads SLACK_BOT_TOKEN and SLACK_CHANNEL.
func ConfigFromEnv(getenv func(string) string) Config {
	return Config{Token: getenv("SLACK_BOT_TOKEN"), Channel: getenv("SLACK_CHANNEL")}
}

// Notifier posts events to one channel. A nil Notifier, or one made without a token,
// posts nothing and reports success, so that a migration never depends on Slack.
type Notifier struct {
	api     *slack.Client
	channel string
	log     *slog.Logger
}

// postTimeout bounds one chat.postMessage call.
const postTimeout = 10 * time.Second

// New makes a Notifier, saying once in the log whether notifications are on.
func New(cfg Config, log *slog.Logger) (*Notifier, error) {
	if log == nil {
		log = slog.Default()
	}
	if cfg.Token == "" {
		log.Info("Slack notifications off: SLACK_BOT_TOKEN is not set")
		return &Notifier{log: log}, nil
	}
	if cfg.Channel == "" {
		return nil, errors.New("SLACK_BOT_TOKEN is set but SLACK_CHANNEL is not: set it to the channel (ID such as C0123ABCD, or #name) that gets migration notifications, or unset the token to turn them off")
	}
	opts := []slack.Option{slack.OptionHTTPClient(&http.Client{Timeout: postTimeout})}
	if cfg.APIURL != "" {
		opts = append(opts, slack.OptionAPIURL(cfg.APIURL))
	}
	log.Info("Slack notifications on", "channel", cfg.Channel)
	return &Notifier{api: slack.New(cfg.Token, opts...), channel: cfg.Channel, log: log}, nil
}

// Enabled says whether Post reaches Slack.
func (n *Notifier) Enabled() bool { return n != nil && n.api != nil }

// Channel is where notifications go ("" when they are off).
func (n *Notifier) Channel() string {
	if n == nil {
		return ""
	}
	return n.channel
}

// Post sends e to the channel and returns the message's timestamp ("" when
// notifications are off). Errors are *slack.SlackErrorResponse when Slack refused the
// message (a bad token, a channel the bot is not in), *slack.RateLimitedError, or
// transport errors.
func (n *Notifier) Post(ctx context.Context, e Event) (string, error) {
	if err := e.Validate(); err != nil {
		return "", err
	}
	if !n.Enabled() {
		return "", nil
	}
	text, blocks := Message(e)
	_, ts, err := n.api.PostMessageContext(ctx, n.channel,
		slack.MsgOptionText(text, false),
		slack.MsgOptionBlocks(blocks...),
		slack.MsgOptionDisableLinkUnfurl())
	if err != nil {
		return "", fmt.Errorf("post %s notification of migration %s to Slack channel %s: %w", e.Kind, e.Migration, n.channel, err)
	}
	n.log.Info("Slack notification posted", "migration", e.Migration, "kind", e.Kind, "channel", n.channel, "ts", ts)
	return ts, nil
}

// Refused says whether Slack refused a post for a reason that retrying does not fix:
// a revoked or wrong token, a missing scope, a channel that does not exist or that the
// bot is not in, a message Slack finds malformed.
func Refused(err error) bool {
	var se slack.SlackErrorResponse
	if errors.As(err, &se) {
		switch se.Err {
		case "internal_error", "fatal_error", "service_unavailable", "request_timeout", "ratelimited":
			return false
		}
		return true
	}
	var sc slack.StatusCodeError
	return errors.As(err, &sc) && !sc.Retryable()
}
