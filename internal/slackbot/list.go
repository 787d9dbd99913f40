package slackbot

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/slack-go/slack"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"

	"github.com/zdmhq/zdm/internal/notify"
	"github.com/zdmhq/zdm/internal/progress"
	"github.com/zdmhq/zdm/internal/spec"
	"github.com/zdmhq/zdm/workflows"
)

// recentlyEnded is how far back list shows migrations that have ended.
const recentlyEnded = 24 * time.Hour

// maxListed is how many migrations one list message shows (Slack allows 50 blocks).
const maxListed = 20

type listRow struct {
	Name, Table, Phase, Status string
	Running                    bool
	Started, Ended             time.Time
	Progress                   *workflows.Progress // running ones whose worker answered
}

// listMessage is the answer to /migration list.
func (b *Bot) listMessage(ctx context.Context) message {
	query := fmt.Sprintf("WorkflowType = 'MigrationWorkflow' AND (ExecutionStatus = 'Running' OR CloseTime > '%s')",
		b.opts.Now().Add(-recentlyEnded).UTC().Format(time.RFC3339))
	cctx, cancel := b.callCtx(ctx)
	resp, err := b.temporal.ListWorkflow(cctx, &workflowservice.ListWorkflowExecutionsRequest{
		Namespace: b.cfg.Namespace, Query: query, PageSize: 100,
	})
	cancel()
	if err != nil {
		return ephemeral(b.temporalTrouble("the list of migrations", err))
	}
	var rows []listRow
	for _, info := range resp.GetExecutions() {
		// A run that continued as new lives on in the next one, listed on its own.
		if info.GetStatus() == enumspb.WORKFLOW_EXECUTION_STATUS_CONTINUED_AS_NEW {
			continue
		}
		r := listRow{
			Name:    strings.TrimPrefix(info.GetExecution().GetWorkflowId(), spec.WorkflowID("")),
			Table:   progress.Keyword(info.GetSearchAttributes(), workflows.MigrationTable),
			Phase:   progress.Keyword(info.GetSearchAttributes(), workflows.MigrationPhase),
			Status:  info.GetStatus().String(),
			Running: info.GetStatus() == enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING,
		}
		if t := info.GetStartTime(); t != nil {
			r.Started = t.AsTime()
		}
		if t := info.GetCloseTime(); t != nil && !r.Running {
			r.Ended = t.AsTime()
		}
		rows = append(rows, r)
	}
	// Running ones first, newest first; the dev server's visibility store cannot sort.
	sort.SliceStable(rows, func(i, j int) bool {
		if rows[i].Running != rows[j].Running {
			return rows[i].Running
		}
		return rows[i].Started.After(rows[j].Started)
	})
	more := 0
	if len(rows) > maxListed {
		rows, more = rows[:maxListed], len(rows)-maxListed
	}
	b.addProgress(ctx, rows)

	if len(rows) == 0 {
		return ephemeral("No migrations are running, and none ended in the last 24 hours.")
	}
	blocks := []slack.Block{section("*Migrations* running, and those that ended in the last 24 hours")}
	for _, r := range rows {
		blocks = append(blocks, section(listLine(r)))
	}
	if more > 0 {
		blocks = append(blocks, context1(fmt.Sprintf("…and %d more: `zdm list` shows them all.", more)))
	}
	return ephemeral(fmt.Sprintf("%d migration(s)", len(rows)+more), blocks...)
}

// addProgress asks every running migration's worker at once, within one CallTimeout
// in all; a migration whose worker does not answer keeps its search attributes only.
func (b *Bot) addProgress(ctx context.Context, rows []listRow) {
	var wg sync.WaitGroup
	for i := range rows {
		if !rows[i].Running {
			continue
		}
		wg.Add(1)
		go func(r *listRow) {
			defer wg.Done()
			if p, err := progress.Query(ctx, b.temporal, spec.WorkflowID(r.Name), b.opts.CallTimeout); err == nil {
				r.Progress = p
				r.Phase = string(p.Phase)
			}
		}(&rows[i])
	}
	wg.Wait()
}

func listLine(r listRow) string {
	s := fmt.Sprintf("*%s*", r.Name)
	if r.Table != "" {
		s += " · " + notify.Escape(r.Table)
	}
	s += "\n" + phaseLabel(r.Phase)
	p := r.Progress
	switch {
	case p != nil && p.AwaitingGate != "":
		s += fmt.Sprintf(" at gate *%s*: `/migration status %s` shows the buttons", p.AwaitingGate, r.Name)
	case p != nil:
		s += fmt.Sprintf(" %s %.0f%%", notify.Bar(p.Percent), p.Percent)
		if p.Paused {
			s += " · :double_vertical_bar: paused"
		}
		if p.Throttled != "" {
			s += " · :hourglass_flowing_sand: throttled"
		}
	case r.Running:
		s += " · (no worker answered: progress unknown)"
	default:
		s += " · " + r.Status
	}
	switch {
	case !r.Ended.IsZero():
		s += " · ended " + notify.Date(r.Ended)
	case !r.Started.IsZero():
		s += " · started " + notify.Date(r.Started)
	}
	return s
}
