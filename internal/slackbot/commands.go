package slackbot

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/slack-go/slack"

	"github.com/zdmhq/zdm/internal/notify"
)

func (b *Bot) serveCommand(w http.ResponseWriter, r *http.Request) {
	cmd, err := slack.SlashCommandParse(r)
	if err != nil {
		http.Error(w, "malformed slash command", http.StatusBadRequest)
		return
	}
	writeJSON(w, b.Command(cmd))
}

var migrationName = regexp.MustCompile(`^[a-z0-9-]+$`)

// Command answers a /migration command. The message it returns is the immediate
// answer; when the full answer is not ready within AnswerWithin, it is a short
// acknowledgement and the full answer is posted to cmd.ResponseURL once it is.
func (b *Bot) Command(cmd slack.SlashCommand) message {
	start := b.opts.Now()
	args := strings.Fields(cmd.Text)
	sub := ""
	if len(args) > 0 {
		sub = strings.ToLower(args[0])
	}
	log := b.log.With("user", cmd.UserID, "command", cmd.Command, "subcommand", sub)
	var m message
	deferred := false
	switch sub {
	case "", "help":
		m = b.help(cmd.Command)
	case "status":
		if len(args) != 2 || !migrationName.MatchString(args[1]) {
			m = ephemeral(fmt.Sprintf("Usage: `%s status NAME`, NAME being the migration's name (a-z, 0-9 and -), as in `%s list`.", commandName(cmd), commandName(cmd)))
			break
		}
		name := args[1]
		log = log.With("migration", name)
		m, deferred = b.answer(cmd, "migration "+name, func(ctx context.Context) message { return b.statusMessage(ctx, name) })
	case "list":
		m, deferred = b.answer(cmd, "the migrations", b.listMessage)
	default:
		m = b.help(cmd.Command)
		m.Text = fmt.Sprintf("Unknown subcommand %q.", notify.Truncate(sub, 40))
		m.Blocks.BlockSet = append([]slack.Block{section(fmt.Sprintf(":grey_question: I do not know `%s`.", notify.Escape(notify.Truncate(sub, 40))))}, m.Blocks.BlockSet...)
	}
	log.Info("slash command answered", "took", b.opts.Now().Sub(start).Round(time.Millisecond), "deferred", deferred)
	return m
}

func commandName(cmd slack.SlashCommand) string {
	if cmd.Command == "" {
		return "/migration"
	}
	return cmd.Command
}

// answer runs work and returns its message if it is ready within AnswerWithin;
// otherwise it returns an acknowledgement, and work's message goes to the
// response_url when ready. Work is bounded by its own Temporal timeouts.
func (b *Bot) answer(cmd slack.SlashCommand, what string, work func(context.Context) message) (message, bool) {
	var mu sync.Mutex
	late := false
	ready := make(chan message, 1)
	b.background(func() {
		// Every Temporal call inside is bounded; this bounds their sum as well.
		ctx, cancel := context.WithTimeout(context.Background(), 4*b.opts.CallTimeout)
		m := work(ctx)
		cancel()
		mu.Lock()
		wasLate := late
		if !wasLate {
			ready <- m
		}
		mu.Unlock()
		if wasLate {
			b.reply(cmd.ResponseURL, m)
		}
	})
	timer := time.NewTimer(b.opts.AnswerWithin)
	defer timer.Stop()
	select {
	case m := <-ready:
		return m, false
	case <-timer.C:
	}
	mu.Lock()
	defer mu.Unlock()
	select {
	case m := <-ready:
		return m, false
	default:
	}
	late = true
	return ephemeral(fmt.Sprintf(":hourglass_flowing_sand: Asking Temporal about %s; the answer follows here in a moment.", what)), true
}

func (b *Bot) help(command string) message {
	cmd := command
	if cmd == "" {
		cmd = "/migration"
	}
	text := fmt.Sprintf("*zdm: zero-downtime PostgreSQL migrations*\n"+
		"`%[1]s status NAME` where migration NAME is: phase, progress, rate, ETA, the gate it waits at (with Approve and Reject buttons), approvals, last error\n"+
		"`%[1]s list` running migrations, and those that ended in the last 24 hours\n"+
		"`%[1]s help` this help", cmd)
	who := "Gates can be approved or rejected with the buttons by " + approverList(b.cfg.Approvers) + "."
	if b.cfg.Channel != "" {
		who += fmt.Sprintf(" Notifications go to %s.", channelRef(b.cfg.Channel))
	}
	return ephemeral("zdm /migration help", section(text), context1(who+" From a terminal: `zdm status`, `zdm approve`, `zdm reject`."))
}

func channelRef(ch string) string {
	if strings.HasPrefix(ch, "C") || strings.HasPrefix(ch, "G") {
		return "<#" + ch + ">"
	}
	return notify.Escape(ch)
}

func section(mrkdwn string) *slack.SectionBlock {
	return slack.NewSectionBlock(slack.NewTextBlockObject(slack.MarkdownType, notify.Truncate(mrkdwn, 3000), false, false), nil, nil)
}

func context1(mrkdwn string) *slack.ContextBlock {
	return slack.NewContextBlock("", slack.NewTextBlockObject(slack.MarkdownType, notify.Truncate(mrkdwn, 2000), false, false))
}
