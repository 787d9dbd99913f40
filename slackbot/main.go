// Command zdm-slackbot is zdm's Slack app: /migration status|list|help, and Approve and
// Reject buttons for migrations waiting at a gate. It is configured from the
// environment only:
//
//	SLACK_SIGNING_SECRET   verifies Slack's requests (required to serve HTTP)
//	SLACK_APPROVERS        Slack user IDs allowed to press Approve/Reject, comma-separated
//	SLACK_BOT_TOKEN        xoxb-... (Socket Mode)
//	SLACK_APP_TOKEN        xapp-... with connections:write (Socket Mode)
//	ZDM_SLACK_SOCKET_MODE  1: connect to Slack over Socket Mode instead of serving HTTP
//	SLACK_CHANNEL          where the worker posts notifications (named in the help)
//	ZDM_SLACKBOT_ADDR      HTTP listen address (default 127.0.0.1:3000)
//	TEMPORAL_ADDRESS       default 127.0.0.1:7233
//	TEMPORAL_NAMESPACE     default "default"
//	TEMPORAL_API_KEY, TEMPORAL_TLS_*, TEMPORAL_PROFILE, TEMPORAL_CONFIG_FILE...
//	                       a secured cluster, read as the temporal CLI reads them (see
//	                       internal/temporalconn)
//	ZDM_UI_URL             the Temporal UI as people reach it, for links (optional)
//
// Point the Slack app's slash command /migration at https://<host>/slack/commands and
// its Interactivity Request URL at https://<host>/slack/interactions.
package main

import (
	"context"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"

	"github.com/zdmhq/zdm/internal/slackbot"
	"github.com/zdmhq/zdm/internal/temporalconn"
)

func main() {
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Getenv, logger); err != nil {
		logger.Error("zdm-slackbot stopped", "error", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, getenv func(string) string, logger *slog.Logger) error {
	cfg, err := slackbot.ConfigFromEnv(getenv)
	if err != nil {
		return err
	}
	conn, err := temporalconn.Load(temporalconn.Request{Env: temporalconn.Getenv(getenv, os.Environ)})
	if err != nil {
		return err
	}
	cfg.TemporalAddress, cfg.Namespace = conn.Address, conn.Namespace
	logger.Info("Temporal client settings", conn.LogAttrs()...)
	opts := conn.Options
	opts.Logger = tlog.NewStructuredLogger(logger)
	// Lazy: the bot starts, and says so in Slack, while Temporal is down.
	c, err := client.NewLazyClient(opts)
	if err != nil {
		return err
	}
	defer c.Close()
	bot := slackbot.New(cfg, c, logger, slackbot.Options{})
	logger.Info("zdm-slackbot starting", "temporal", cfg.TemporalAddress, "namespace", cfg.Namespace,
		"socket_mode", cfg.SocketMode, "approvers", len(cfg.Approvers))
	if cfg.SocketMode {
		return bot.RunSocketMode(ctx)
	}
	return bot.ListenAndServe(ctx)
}
