package slackbot

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/slack-go/slack"
	"github.com/slack-go/slack/socketmode"
)

// drainTimeout bounds how long a stopping bot waits for answers it still owes.
const drainTimeout = 15 * time.Second

// ListenAndServe serves Slack's HTTP requests on cfg.Addr until ctx ends, then stops
// taking requests and posts the answers it still owes.
func (b *Bot) ListenAndServe(ctx context.Context) error {
	l, err := net.Listen("tcp", b.cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s (ZDM_SLACKBOT_ADDR): %w", b.cfg.Addr, err)
	}
	return b.Serve(ctx, l)
}

// Serve is ListenAndServe on a listener of the caller's.
func (b *Bot) Serve(ctx context.Context, l net.Listener) error {
	srv := &http.Server{
		Handler:           b.Handler(),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      10 * time.Second,
		ErrorLog:          slog.NewLogLogger(b.log.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(l) }()
	b.log.Info("zdm-slackbot listening", "addr", l.Addr().String(),
		"commands", "POST /slack/commands", "interactions", "POST /slack/interactions")
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), drainTimeout)
	defer cancel()
	err := srv.Shutdown(sctx)
	if werr := b.Wait(sctx); werr != nil {
		b.log.Warn("stopped before every late answer was posted", "error", werr)
	}
	if err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// RunSocketMode receives commands and button presses over Socket Mode until ctx ends.
// It needs no public URL: the bot opens the connection, authenticated by the app
// token, so there is no request signature to check.
func (b *Bot) RunSocketMode(ctx context.Context, apiOpts ...slack.Option) error {
	api := slack.New(b.cfg.BotToken, append([]slack.Option{slack.OptionAppLevelToken(b.cfg.AppToken)}, apiOpts...)...)
	sm := socketmode.New(api, socketmode.OptionLog(slog.NewLogLogger(b.log.Handler(), slog.LevelDebug)))
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case evt := <-sm.Events:
				b.SocketEvent(evt, func(payload any) {
					if evt.Request == nil {
						return
					}
					if err := sm.Ack(*evt.Request, payload); err != nil {
						b.log.Error("cannot acknowledge Socket Mode request", "type", string(evt.Type), "error", err)
					}
				})
			}
		}
	}()
	err := sm.RunContext(ctx)
	dctx, cancel := context.WithTimeout(context.Background(), drainTimeout)
	defer cancel()
	_ = b.Wait(dctx)
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// SocketEvent handles one Socket Mode event with the same handlers as HTTP: a command's
// answer (or acknowledgement) goes back in the ack, a button press is acknowledged at
// once and answered through its response_url.
func (b *Bot) SocketEvent(evt socketmode.Event, ack func(payload any)) {
	switch evt.Type {
	case socketmode.EventTypeSlashCommand:
		cmd, ok := evt.Data.(slack.SlashCommand)
		if !ok {
			ack(nil)
			return
		}
		// Command may wait up to AnswerWithin: never hold up the event loop for it.
		go func() { ack(b.Command(cmd)) }()
	case socketmode.EventTypeInteractive:
		ack(nil)
		if ic, ok := evt.Data.(slack.InteractionCallback); ok {
			b.Interaction(ic)
		}
	case socketmode.EventTypeEventsAPI:
		ack(nil)
	case socketmode.EventTypeConnecting:
		b.log.Info("connecting to Slack (Socket Mode)")
	case socketmode.EventTypeConnected:
		b.log.Info("connected to Slack (Socket Mode)")
	case socketmode.EventTypeConnectionError:
		b.log.Warn("Socket Mode connection failed; retrying", "error", fmt.Sprint(evt.Data))
	case socketmode.EventTypeInvalidAuth:
		b.log.Error("Slack refused the app token (SLACK_APP_TOKEN)")
	}
}
