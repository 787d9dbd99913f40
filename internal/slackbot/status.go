package slackbot

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/slack-go/slack"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/zdmhq/zdm/internal/notify"
	"github.com/zdmhq/zdm/internal/progress"
	"github.com/zdmhq/zdm/internal/spec"
	"github.com/zdmhq/zdm/workflows"
)

// statusView is everything the bot learned about one migration.
type statusView struct {
	Name string
	// Record is Temporal's own record of the latest run; nil if Describe failed.
	Record *progress.Record
	// FirstRunID is the first run ID of the latest run (the same across
	// continue-as-new), which gate buttons carry; empty if Describe failed.
	FirstRunID string
	// Progress is the worker's answer (Live), or the final progress of a run that
	// returned a result; nil when neither is known.
	Progress *workflows.Progress
	Live     bool
	QueryErr error
	// Outcome is how a run that has ended finished, when no worker answered.
	Outcome *progress.Outcome
}

// Running says whether the migration's workflow is still running, as far as known.
func (v statusView) Running() bool {
	if v.Record != nil {
		return v.Record.Running()
	}
	return v.Progress != nil && !v.Progress.Phase.Final()
}

// Stale says whether the figures shown come from Temporal's record of a running
// migration rather than from its worker.
func (v statusView) Stale() bool { return !v.Live && v.Running() }

var errNoSuchMigration = errors.New("no such migration")

// timedOut says whether err is a call that ran out of time, which is how a query
// without a worker ends.
func timedOut(err error) bool {
	var de *serviceerror.DeadlineExceeded
	var canceled *serviceerror.Canceled
	return errors.Is(err, context.DeadlineExceeded) || errors.As(err, &de) || errors.As(err, &canceled) ||
		status.Code(err) == codes.DeadlineExceeded
}

// gather asks the worker (query) and Temporal (describe) at the same time, each
// bounded by CallTimeout, so that a missing worker costs no more than one timeout.
func (b *Bot) gather(ctx context.Context, name string) (statusView, error) {
	id := spec.WorkflowID(name)
	var (
		wg   sync.WaitGroup
		resp *workflowservice.DescribeWorkflowExecutionResponse
		derr error
		p    *workflows.Progress
		qerr error
	)
	wg.Add(2)
	go func() {
		defer wg.Done()
		cctx, cancel := b.callCtx(ctx)
		defer cancel()
		resp, derr = b.temporal.DescribeWorkflowExecution(cctx, id, "")
	}()
	go func() {
		defer wg.Done()
		p, qerr = progress.Query(ctx, b.temporal, id, b.opts.CallTimeout)
	}()
	wg.Wait()

	v := statusView{Name: name}
	var nf *serviceerror.NotFound
	switch {
	case errors.As(derr, &nf):
		return v, errNoSuchMigration
	case derr != nil && qerr != nil:
		return v, derr
	case derr == nil:
		rec := progress.RecordOf(resp)
		v.Record = &rec
		v.FirstRunID = firstRunID(resp)
	}
	if qerr == nil {
		v.Progress, v.Live = p, true
		return v, nil
	}
	v.QueryErr = qerr
	if v.Record != nil && !v.Record.Running() {
		// A run that has ended keeps its result in its history, readable without a worker.
		cctx, cancel := b.callCtx(ctx)
		o := progress.OutcomeOf(cctx, b.temporal, id)
		timedOut := cctx.Err() != nil
		cancel()
		if !timedOut {
			v.Outcome = &o
			if o.Result != nil {
				v.Progress = &o.Result.Progress
			}
		}
	}
	return v, nil
}

// statusMessage is the answer to /migration status NAME.
func (b *Bot) statusMessage(ctx context.Context, name string) message {
	v, err := b.gather(ctx, name)
	if errors.Is(err, errNoSuchMigration) {
		return ephemeral(fmt.Sprintf(":mag: No migration named *%s*: there is no workflow %s in namespace %s. `/migration list` shows the known ones.",
			name, spec.WorkflowID(name), notify.Escape(b.cfg.Namespace)))
	}
	if err != nil {
		return ephemeral(b.temporalTrouble("migration "+name, err))
	}
	return inChannel(statusText(v), b.statusBlocks(v)...)
}

func (b *Bot) temporalTrouble(what string, err error) string {
	return fmt.Sprintf(":warning: Temporal at %s gave no answer about %s: %s. (The bot waits at most %s per call.) Try again in a moment; if it keeps failing, check that Temporal is up.",
		notify.Escape(b.cfg.TemporalAddress), what, notify.Escape(notify.Truncate(err.Error(), 300)), b.opts.CallTimeout)
}

// statusText is the message's plain text, shown in notifications and by clients that
// do not draw blocks.
func statusText(v statusView) string {
	phase := ""
	if v.Progress != nil {
		phase = string(v.Progress.Phase)
	} else if v.Record != nil {
		phase = v.Record.Phase
	}
	s := fmt.Sprintf("Migration %s: %s", v.Name, orDefault(strings.ReplaceAll(phase, "_", " "), "phase unknown"))
	if p := v.Progress; holding(p) && v.Live {
		s += ", paused" + prefixed(" by ", p.PausedBy)
	}
	if p := v.Progress; p != nil && p.AwaitingGate != "" && v.Live {
		s += ", waiting at gate " + p.AwaitingGate
	}
	if v.Stale() {
		s += " (may be stale)"
	}
	return s
}

var phaseIcons = map[string]string{
	string(workflows.PhaseAwaiting):    ":raised_hand:",
	string(workflows.PhaseCompleted):   ":white_check_mark:",
	string(workflows.PhaseFailed):      ":x:",
	string(workflows.PhaseRolledBack):  ":leftwards_arrow_with_hook:",
	string(workflows.PhaseRollingBack): ":rewind:",
}

func phaseLabel(phase string) string {
	if phase == "" {
		return "unknown"
	}
	icon := phaseIcons[phase]
	if icon == "" {
		icon = ":gear:"
	}
	return icon + " " + strings.ReplaceAll(phase, "_", " ")
}

// statusBlocks draws a migration's status.
func (b *Bot) statusBlocks(v statusView) []slack.Block {
	p, rec := v.Progress, v.Record
	phase, table, started := "", "", time.Time{}
	if rec != nil {
		phase, table, started = rec.Phase, rec.Table, rec.StartTime
	}
	if p != nil {
		phase, table = string(p.Phase), orDefault(p.Table, table)
		if !p.StartedAt.IsZero() {
			started = p.StartedAt
		}
	}

	blocks := []slack.Block{slack.NewHeaderBlock(plain("Migration " + v.Name))}

	label := phaseLabel(phase)
	if holding(p) && v.Live {
		label += " (:double_vertical_bar: paused)"
	}
	fields := []string{"*Phase*\n" + label, "*Table*\n" + orDefault(notify.Escape(table), "unknown")}
	if rec != nil {
		fields = append(fields, "*Workflow*\n"+rec.StatusName())
	}
	if !started.IsZero() {
		s := notify.Date(started)
		if p != nil && v.Live && p.Elapsed > 0 {
			s += " (" + notify.Duration(p.Elapsed) + " ago)"
		}
		fields = append(fields, "*Started*\n"+s)
	}
	if rec != nil && !rec.CloseTime.IsZero() {
		fields = append(fields, "*Ended*\n"+notify.Date(rec.CloseTime))
	}
	if p != nil {
		paused := "no"
		if p.Paused {
			paused = ":double_vertical_bar: yes" + orDefault(prefixed(", by ", notify.Escape(p.PausedBy)), "")
		}
		fields = append(fields, "*Paused*\n"+paused)
		if p.Throttled != "" {
			fields = append(fields, "*Throttled*\n:hourglass_flowing_sand: "+notify.Escape(p.Throttled))
		}
		if p.Governor != "" {
			fields = append(fields, "*Governed*\n:snail: "+notify.Escape(p.Governor))
		}
		fields = append(fields, guardFields(p)...)
		gates := "none"
		if len(p.Gates) > 0 {
			gates = strings.Join(p.Gates, ", ")
		}
		fields = append(fields, "*Gates*\n"+gates)
	}
	blocks = append(blocks, fieldsSection(fields))

	if text := progressText(v); text != "" {
		blocks = append(blocks, section(text))
	}

	switch {
	case p != nil && v.Live && v.Running() && p.AwaitingGate != "":
		// Without Temporal's record the run is unknown, and so are buttons that name it.
		blocks = append(blocks, notify.GateBlocks(v.Name, v.FirstRunID, p.AwaitingGate)...)
	case v.Stale() && phase == string(workflows.PhaseAwaiting):
		blocks = append(blocks, section(":raised_hand: Waits for approval. Which gate, and the buttons, show once a worker answers; a decision needs a worker anyway."))
	}

	if lines := workflows.OldUsageLines(oldUsage(p)); len(lines) > 0 {
		blocks = append(blocks, section(":mag: *Old code* (statements naming what contract retires, from pg_stat_statements)\n```"+
			notify.Escape(notify.Truncate(strings.Join(lines, "\n"), 2500))+"```"))
	}
	if p != nil && len(p.Approvals) > 0 {
		lines := make([]string, len(p.Approvals))
		for i, ap := range p.Approvals {
			lines[i] = approvalLine(ap)
		}
		blocks = append(blocks, context1(strings.Join(lines, "\n")))
	}
	if p != nil && p.LastError != "" {
		blocks = append(blocks, section(":warning: *Last error*\n```"+notify.Escape(notify.Truncate(p.LastError, 2500))+"```"))
	}
	if o := v.Outcome; o != nil && o.Result == nil {
		blocks = append(blocks, section(fmt.Sprintf(":x: *Ended: %s*\n```%s```", strings.ReplaceAll(o.Status, "_", " "), notify.Escape(notify.Truncate(orDefault(o.Err, "no reason recorded"), 2500)))))
	}
	if p != nil && p.LastRefusal != "" {
		blocks = append(blocks, context1(":no_entry_sign: Last refused message: "+notify.Escape(notify.Truncate(p.LastRefusal, 500))))
	}
	if rec != nil {
		for _, a := range rec.Activities {
			// A first attempt going well is the normal case; retries are worth a look.
			if a.Attempt > 1 || a.LastFailure != "" {
				blocks = append(blocks, context1(activityLine(a)))
			}
			if strings.Contains(a.Note, "waiting for") {
				blocks = append(blocks, context1(":hourglass_flowing_sand: "+notify.Escape(notify.Truncate(a.Note, 300))))
			}
		}
	}
	if v.Stale() {
		why := "No zdm worker answered within " + b.opts.CallTimeout.String()
		if v.QueryErr != nil && !timedOut(v.QueryErr) {
			why = "The worker could not answer (" + notify.Escape(notify.Truncate(v.QueryErr.Error(), 200)) + ")"
		}
		blocks = append(blocks, context1(":hourglass: "+why+": these figures come from Temporal's own record and *may be stale*. Is the zdm worker running?"))
	}
	blocks = append(blocks, context1(b.footer(v)))
	return blocks
}

// progressText is the progress bar and the figures beside it.
func progressText(v statusView) string {
	p := v.Progress
	if p == nil {
		if v.Record == nil {
			return ""
		}
		sp, at := v.Record.Backfill()
		if sp == nil {
			return ""
		}
		s := fmt.Sprintf("*%s rows* backfilled and committed", notify.Count(sp.RowsDone))
		if !at.IsZero() {
			s += " as of the last heartbeat, " + notify.Date(at)
		}
		return s + "\nThe total, the rate and the ETA come from the worker."
	}
	parts := []string{}
	if p.RowsTotal > 0 {
		parts = append(parts, fmt.Sprintf("%s / %s rows", notify.Count(p.RowsDone), notify.Count(p.RowsTotal)))
	} else {
		parts = append(parts, notify.Count(p.RowsDone)+" rows")
	}
	switch {
	case holding(p):
		// A paused backfill moves at no rate and has no end in sight.
		parts = append(parts, "paused"+prefixed(" by ", notify.Escape(p.PausedBy))+": no rate or ETA until resumed")
	default:
		if p.RowsPerSec > 0 {
			parts = append(parts, notify.Count(int64(math.Round(p.RowsPerSec)))+" rows/s")
		}
		if p.ETA > 0 && !p.Paused {
			parts = append(parts, "ETA "+notify.Duration(p.ETA))
		}
	}
	s := fmt.Sprintf("%s  *%.1f%%*\n%s", notify.Bar(p.Percent), p.Percent, strings.Join(parts, " · "))
	if p.Batches > 0 || p.LockRetries > 0 {
		s += fmt.Sprintf("\n%s batches · %d lock timeouts retried", notify.Count(p.Batches), p.LockRetries)
	}
	if parts := workflows.PartitionsSummary(*p); parts != "" {
		s += "\n" + parts
	}
	return s
}

func approvalLine(ap workflows.Approval) string {
	icon, verb := ":white_check_mark:", "approved"
	if !ap.Approved {
		icon, verb = ":no_entry:", "rejected"
	}
	s := fmt.Sprintf("%s *%s* %s by %s, %s", icon, notify.Escape(ap.Gate), verb, notify.Escape(ap.By), notify.Date(ap.At))
	if ap.Comment != "" {
		s += ": " + notify.Escape(notify.Truncate(ap.Comment, 200))
	}
	return s
}

func activityLine(a progress.PendingActivity) string {
	s := fmt.Sprintf(":repeat: %s %s, attempt %d", a.Type, strings.ToLower(a.State), a.Attempt)
	if a.LastFailure != "" {
		s += ", last failure: " + notify.Escape(notify.Truncate(a.LastFailure, 300))
	}
	return s
}

func (b *Bot) footer(v statusView) string {
	id := spec.WorkflowID(v.Name)
	s := "workflow `" + id + "`"
	if v.Record != nil && v.Record.RunID != "" {
		s += " · run `" + v.Record.RunID + "`"
	}
	if b.cfg.UIURL != "" {
		s += fmt.Sprintf(" · <%s/namespaces/%s/workflows/%s|open in the Temporal UI>", b.cfg.UIURL, url.PathEscape(b.cfg.Namespace), url.PathEscape(id))
	}
	return s
}

func fieldsSection(fields []string) *slack.SectionBlock {
	objs := make([]*slack.TextBlockObject, 0, len(fields))
	for _, f := range fields[:min(len(fields), 10)] {
		objs = append(objs, slack.NewTextBlockObject(slack.MarkdownType, notify.Truncate(f, 2000), false, false))
	}
	return slack.NewSectionBlock(nil, objs, nil)
}

func plain(s string) *slack.TextBlockObject {
	return slack.NewTextBlockObject(slack.PlainTextType, notify.Truncate(s, 150), false, false)
}

// firstRunID is the first run ID of the run a describe answer is about: the ID that
// stays the same when a run continues as new, and that gate buttons carry.
func firstRunID(resp *workflowservice.DescribeWorkflowExecutionResponse) string {
	return resp.GetWorkflowExecutionInfo().GetFirstRunId()
}

// holding says whether a pause holds the migration now: pause acts on the backfill, so
// it holds until the backfill is over and means nothing after it.
func holding(p *workflows.Progress) bool {
	if p == nil || !p.Paused {
		return false
	}
	switch p.Phase {
	case workflows.PhaseValidating, workflows.PhaseExpanding, workflows.PhaseBackfilling:
		return true
	}
	return false
}

func prefixed(prefix, s string) string {
	if s == "" {
		return ""
	}
	return prefix + s
}

func oldUsage(p *workflows.Progress) *workflows.OldUsage {
	if p == nil {
		return nil
	}
	return p.OldUsage
}
