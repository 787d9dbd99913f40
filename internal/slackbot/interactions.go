package slackbot

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/slack-go/slack"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/zdmhq/zdm/internal/notify"
	"github.com/zdmhq/zdm/internal/progress"
	"github.com/zdmhq/zdm/internal/spec"
	"github.com/zdmhq/zdm/workflows"
)

func (b *Bot) serveInteraction(w http.ResponseWriter, r *http.Request) {
	ic, err := slack.InteractionCallbackParse(r)
	if err != nil {
		http.Error(w, "malformed interaction payload", http.StatusBadRequest)
		return
	}
	// Slack ignores this answer's body for button presses: every word goes to the
	// response_url, after the acknowledgement.
	w.WriteHeader(http.StatusOK)
	b.Interaction(ic)
}

// Interaction handles a button press in the background and returns at once; what the
// presser is told goes to ic.ResponseURL.
func (b *Bot) Interaction(ic slack.InteractionCallback) {
	if ic.Type != slack.InteractionTypeBlockActions {
		b.log.Info("Slack interaction ignored", "type", string(ic.Type), "user", ic.User.ID)
		return
	}
	for _, act := range ic.ActionCallback.BlockActions {
		if act.ActionID == notify.ActionApprove || act.ActionID == notify.ActionReject {
			b.background(func() { b.decide(context.Background(), ic, *act) })
			return
		}
	}
}

// decide carries out one press of Approve or Reject.
func (b *Bot) decide(ctx context.Context, ic slack.InteractionCallback, act slack.BlockAction) {
	approve := act.ActionID == notify.ActionApprove
	verb, update := "approve", workflows.UpdateApprove
	if !approve {
		verb, update = "reject", workflows.UpdateReject
	}
	log := b.log.With("user", ic.User.ID, "action", verb)
	g, err := notify.ParseGateAction(act.Value)
	if err != nil {
		log.Warn("gate button with a value zdm did not write", "error", err)
		b.reply(ic.ResponseURL, ephemeralNote(":warning: This button carries no zdm gate; nothing was done."))
		return
	}
	log = log.With("migration", g.Migration, "gate", g.Gate)
	if !b.isApprover(ic.User.ID) {
		log.Warn("gate decision refused: not an approver")
		b.reply(ic.ResponseURL, ephemeralNote(fmt.Sprintf(
			":no_entry_sign: You cannot %s gate *%s* of migration *%s*: your Slack user ID %s is not in this bot's SLACK_APPROVERS, so nothing was done. Approvers: %s.",
			verb, g.Gate, g.Migration, ic.User.ID, approverList(b.cfg.Approvers))))
		return
	}

	if g.Run == "" {
		log.Warn("gate decision refused: the button names no run")
		b.reply(ic.ResponseURL, ephemeralNote(fmt.Sprintf(
			":information_source: Nothing done: this button was drawn by an older zdm and does not say which run of migration *%s* it belongs to, so it cannot %s anything. `/migration status %s` shows the gate the migration waits at now, with buttons for its current run.",
			g.Migration, verb, g.Migration)))
		return
	}
	log = log.With("run", g.Run)
	if note, ok := b.checkRun(ctx, g, verb); !ok {
		log.Warn("gate decision refused", "reason", note)
		b.reply(ic.ResponseURL, ephemeralNote(note))
		return
	}

	by := fmt.Sprintf("slack:%s (%s)", ic.User.ID, orDefault(ic.User.Name, "unknown name"))
	cctx, cancel := b.callCtx(ctx)
	defer cancel()
	opts := client.UpdateWorkflowOptions{
		WorkflowID: spec.WorkflowID(g.Migration),
		// Temporal refuses the update if the running execution is not of this run's
		// chain, even should another run start after checkRun.
		FirstExecutionRunID: g.Run,
		UpdateName:          update,
		Args:                []any{workflows.Decision{Gate: g.Gate, By: by}},
		WaitForStage:        client.WorkflowUpdateStageCompleted,
	}
	if act.ActionTs != "" {
		// The same press delivered twice is the same update, which Temporal runs once.
		opts.UpdateID = fmt.Sprintf("slack-%s-%s-%s", ic.User.ID, act.ActionID, act.ActionTs)
	}
	h, err := b.temporal.UpdateWorkflow(cctx, opts)
	var p workflows.Progress
	if err == nil {
		err = h.Get(cctx, &p)
	}
	if err != nil {
		log.Warn("gate decision not carried out", "error", err)
		b.reply(ic.ResponseURL, ephemeralNote(b.decisionError(ctx, g, verb, err)))
		return
	}
	log.Info("gate decided from Slack", "approved", approve, "by", by)

	done := fmt.Sprintf(":white_check_mark: <@%s> approved gate *%s*; the migration goes on.", ic.User.ID, g.Gate)
	if !approve {
		done = fmt.Sprintf(":no_entry: <@%s> rejected gate *%s*; the migration rolls back.", ic.User.ID, g.Gate)
	}
	// The buttons go: the message is replaced by the status after the decision.
	v, gerr := b.gather(ctx, g.Migration)
	if gerr != nil {
		v = statusView{Name: g.Migration, Progress: &p, Live: true}
	}
	m := inChannel(done, append([]slack.Block{section(done)}, b.statusBlocks(v)...)...)
	m.ReplaceOriginal = true
	b.reply(ic.ResponseURL, m)
}

// checkRun compares the run a button was drawn for with the migration's latest run:
// a message of an earlier run of the same migration name must not decide a later one.
// It returns what to tell the presser when the press must do nothing.
func (b *Bot) checkRun(ctx context.Context, g notify.GateAction, verb string) (string, bool) {
	cctx, cancel := b.callCtx(ctx)
	defer cancel()
	resp, err := b.temporal.DescribeWorkflowExecution(cctx, spec.WorkflowID(g.Migration), "")
	var nf *serviceerror.NotFound
	switch {
	case errors.As(err, &nf):
		return fmt.Sprintf(":mag: Nothing done: there is no migration named *%s*.", g.Migration), false
	case err != nil:
		return b.temporalTrouble("migration "+g.Migration, err), false
	}
	if current := firstRunID(resp); current != g.Run {
		return earlierRun(g, current, verb), false
	}
	if rec := progress.RecordOf(resp); !rec.Running() {
		return ended(g, rec, verb), false
	}
	return "", true
}

func earlierRun(g notify.GateAction, current, verb string) string {
	return fmt.Sprintf(":information_source: Nothing done: this message belongs to an earlier run of migration *%s* (run `%s`); the migration of that name now is run `%s`, which a button of another run cannot %s. `/migration status %s` shows the current run, with its own buttons.",
		g.Migration, g.Run, orDefault(current, "unknown"), verb, g.Migration)
}

func ended(g notify.GateAction, rec progress.Record, verb string) string {
	return fmt.Sprintf(":information_source: Nothing done: migration *%s* has already ended (%s, phase %s), so there is no gate to %s.",
		g.Migration, rec.StatusName(), orDefault(rec.Phase, "unknown"), verb)
}

// decisionError says why a press did nothing, in the words a presser can act on.
func (b *Bot) decisionError(ctx context.Context, g notify.GateAction, verb string, err error) string {
	var timeout *client.WorkflowUpdateServiceTimeoutOrCanceledError
	if errors.As(err, &timeout) || timedOut(err) {
		return fmt.Sprintf(":hourglass: No zdm worker confirmed the decision on migration *%s* within %s, so it may or may not be applied once a worker runs. Check with `/migration status %s` before pressing again.",
			g.Migration, b.opts.CallTimeout, g.Migration)
	}
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		cctx, cancel := b.callCtx(ctx)
		defer cancel()
		if resp, derr := b.temporal.DescribeWorkflowExecution(cctx, spec.WorkflowID(g.Migration), ""); derr == nil {
			if current := firstRunID(resp); g.Run != "" && current != g.Run {
				// Another run started between the check and the update.
				return earlierRun(g, current, verb)
			}
			return ended(g, progress.RecordOf(resp), verb)
		}
		return fmt.Sprintf(":mag: Nothing done: there is no migration named *%s*.", g.Migration)
	}
	var svc serviceerror.ServiceError
	if errors.As(err, &svc) {
		return b.temporalTrouble("migration "+g.Migration, err)
	}
	// What is left is the workflow's validator refusing the decision, in its own words.
	return fmt.Sprintf(":information_source: Nothing done: %s.", notify.Escape(progress.RootCause(err)))
}

func ephemeralNote(text string) message {
	m := ephemeral(text, section(text))
	m.ReplaceOriginal = false
	return m
}
