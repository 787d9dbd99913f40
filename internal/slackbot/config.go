package slackbot

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// Defaults, each overridden by the environment variable next to it.
const (
	DefaultAddr      = "127.0.0.1:3000" // ZDM_SLACKBOT_ADDR
	DefaultTemporal  = "127.0.0.1:7233" // TEMPORAL_ADDRESS
	DefaultNamespace = "default"        // TEMPORAL_NAMESPACE
)

// Config is the bot's configuration. The secret and tokens are never logged.
type Config struct {
	// SigningSecret verifies that a request comes from Slack (SLACK_SIGNING_SECRET).
	// Required to serve HTTP: without it the bot does not start.
	SigningSecret string
	// BotToken (SLACK_BOT_TOKEN, xoxb-...) is needed for Socket Mode; over HTTP the
	// bot answers through response_url and needs no token.
	BotToken string
	// AppToken (SLACK_APP_TOKEN, xapp-...) with connections:write, for Socket Mode.
	AppToken string
	// SocketMode (ZDM_SLACK_SOCKET_MODE=1) receives commands and button presses over a
	// WebSocket that the bot opens, for teams without a public URL.
	SocketMode bool
	// Approvers are the Slack user IDs (SLACK_APPROVERS, comma-separated) who may press
	// Approve and Reject. Empty: nobody may, from Slack.
	Approvers []string
	// Channel is where notifications go (SLACK_CHANNEL); the help names it.
	Channel string
	// Addr is where the HTTP server listens (ZDM_SLACKBOT_ADDR).
	Addr string
	// TemporalAddress and Namespace locate the migrations (TEMPORAL_ADDRESS,
	// TEMPORAL_NAMESPACE).
	TemporalAddress string
	Namespace       string
	// UIURL is the Temporal UI as people reach it (ZDM_UI_URL, optional): status
	// messages link to the workflow there.
	UIURL string
}

// slackUserID is what Slack user IDs look like: U024BE7LH, or W... on Enterprise Grid.
var slackUserID = regexp.MustCompile(`^[UW][A-Z0-9]{2,}$`)

// ConfigFromEnv reads the configuration and refuses one the bot cannot run safely with.
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	cfg := Config{
		SigningSecret:   getenv("SLACK_SIGNING_SECRET"),
		BotToken:        getenv("SLACK_BOT_TOKEN"),
		AppToken:        getenv("SLACK_APP_TOKEN"),
		SocketMode:      getenv("ZDM_SLACK_SOCKET_MODE") == "1",
		Channel:         getenv("SLACK_CHANNEL"),
		Addr:            orDefault(getenv("ZDM_SLACKBOT_ADDR"), DefaultAddr),
		TemporalAddress: orDefault(getenv("TEMPORAL_ADDRESS"), DefaultTemporal),
		Namespace:       orDefault(getenv("TEMPORAL_NAMESPACE"), DefaultNamespace),
		UIURL:           strings.TrimRight(getenv("ZDM_UI_URL"), "/"),
	}
	var problems []string
	approvers, err := parseApprovers(getenv("SLACK_APPROVERS"))
	if err != nil {
		problems = append(problems, err.Error())
	}
	cfg.Approvers = approvers
	if v := getenv("ZDM_SLACK_SOCKET_MODE"); v != "" && v != "0" && v != "1" {
		problems = append(problems, fmt.Sprintf("ZDM_SLACK_SOCKET_MODE is %q: set it to 1 for Socket Mode, or leave it unset to serve HTTP", v))
	}
	if cfg.SocketMode {
		if !strings.HasPrefix(cfg.AppToken, "xapp-") {
			problems = append(problems, "Socket Mode needs SLACK_APP_TOKEN, an app-level token (xapp-...) with the connections:write scope (Slack app settings → Basic Information → App-Level Tokens)")
		}
		if cfg.BotToken == "" {
			problems = append(problems, "Socket Mode needs SLACK_BOT_TOKEN, the bot token (xoxb-...) of the app (Slack app settings → OAuth & Permissions)")
		}
	} else if cfg.SigningSecret == "" {
		problems = append(problems, "SLACK_SIGNING_SECRET is not set: without it the bot cannot tell Slack's requests from forged ones, so it does not start (Slack app settings → Basic Information → Signing Secret)")
	}
	if len(problems) > 0 {
		return cfg, errors.New(strings.Join(problems, "; "))
	}
	return cfg, nil
}

func parseApprovers(v string) ([]string, error) {
	var ids, bad []string
	seen := map[string]bool{}
	for _, f := range strings.Split(v, ",") {
		f = strings.TrimSpace(f)
		switch {
		case f == "" || seen[f]:
		case slackUserID.MatchString(f):
			seen[f] = true
			ids = append(ids, f)
		default:
			bad = append(bad, fmt.Sprintf("%q", f))
		}
	}
	if len(bad) > 0 {
		return ids, fmt.Errorf("SLACK_APPROVERS holds %s, which is not a Slack user ID: list member IDs such as U024BE7LH (profile → ⋮ → Copy member ID), comma-separated", strings.Join(bad, ", "))
	}
	return ids, nil
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
