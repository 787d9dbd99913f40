package cli

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/zdmhq/zdm/internal/progress"
	"github.com/zdmhq/zdm/internal/spec"
	"github.com/zdmhq/zdm/workflows"
)

func (e *env) watchCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "watch NAME",
		Short: "Follow a migration until it ends or waits at a gate",
		Long: `Watch polls the migration's progress every second. On a terminal it redraws one
line; otherwise it prints a line when the phase changes, at every 10% and at
least every 10 s. It ends when the migration ends (exit 0 if completed, 1 if it
failed or rolled back) or waits at a gate (exit 5, with how to approve it).`,
		Args: oneName,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := e.client(cmd.Context())
			if err != nil {
				return err
			}
			return e.watch(cmd.Context(), c, args[0])
		},
	}
}

// watchQueryTimeout is shorter than a poll so that a missing worker does not stall
// the display.
const watchQueryTimeout = 2 * time.Second

func (e *env) display() display {
	tty, width := e.Terminal()
	if tty {
		return &liveLine{w: e.Stdout, width: width}
	}
	return &plainLines{w: e.Stdout}
}

func (e *env) watch(ctx context.Context, c client.Client, name string) error {
	return e.follow(ctx, c, name, false)
}

// follow watches migration name until it ends. At a gate it stops (exit 5, with how to
// approve it) unless waitGates, where it says so once per gate and goes on watching.
func (e *env) follow(ctx context.Context, c client.Client, name string, waitGates bool) error {
	id := spec.WorkflowID(name)
	helped := ""
	disp := e.display()
	defer disp.end()
	barWidth := 20
	tick := time.NewTicker(e.PollInterval)
	defer tick.Stop()
	for {
		p, qerr := queryProgress(ctx, c, id, watchQueryTimeout)
		if ctx.Err() != nil {
			return e.stopWatching(disp, name)
		}
		switch {
		case qerr == nil && p.AwaitingGate != "" && !p.Phase.Final() && waitGates:
			if helped != p.AwaitingGate {
				disp.show(progressFrame(*p, barWidth), e.Now())
				disp.end()
				fmt.Fprint(e.Stdout, GateHelp(name, p.AwaitingGate, e.uiURL(id)))
				fmt.Fprint(e.Stdout, OldUsageText(*p))
				fmt.Fprintf(e.Stdout, "waiting for the approval (Ctrl-C stops waiting and leaves the migration at its gate)\n")
				helped = p.AwaitingGate
			}
			disp.show(progressFrame(*p, barWidth), e.Now())
		case qerr == nil && p.AwaitingGate != "" && !p.Phase.Final():
			disp.show(progressFrame(*p, barWidth), e.Now())
			disp.end()
			fmt.Fprint(e.Stdout, GateHelp(name, p.AwaitingGate, e.uiURL(id)))
			fmt.Fprint(e.Stdout, OldUsageText(*p))
			return quietExit(ExitAtGate)
		case qerr == nil && !p.Phase.Final():
			if p.Phase == workflows.PhaseBackfilling {
				e.liveRows(ctx, c, name, p)
			}
			disp.show(progressFrame(*p, barWidth), e.Now())
		default:
			// The worker did not answer, or the migration is ending: Temporal's record
			// says whether it has ended.
			resp, err := e.describe(ctx, c, name)
			if err != nil {
				return err
			}
			if !running(resp) || (p != nil && p.Phase.Final()) {
				disp.end()
				return e.finish(ctx, c, name, resp)
			}
			v := viewOf(name, "", resp)
			if qerr != nil {
				disp.show(staleFrame(v), e.Now())
			}
		}
		select {
		case <-ctx.Done():
			return e.stopWatching(disp, name)
		case <-tick.C:
		}
	}
}

// stopWatching ends a watch interrupted by Ctrl-C.
func (e *env) stopWatching(disp display, name string) error {
	disp.end()
	fmt.Fprintf(e.Stdout, "stopped watching; migration %s goes on (zdm watch %s to follow it again)\n", name, name)
	return quietExit(ExitInterrupted)
}

// staleFrame is what watch shows while the worker does not answer.
func staleFrame(v StatusView) frame {
	line := "worker not answering; phase " + v.Phase
	for _, a := range v.Activities {
		if a.RowsDone != nil {
			line += fmt.Sprintf(", %s rows done at last heartbeat", Thousands(*a.RowsDone))
		}
	}
	return frame{line: line, state: "stale|" + v.Phase, percent: -1}
}

// finish prints how the migration ended and turns it into the exit code.
func (e *env) finish(ctx context.Context, c client.Client, name string, resp *workflowservice.DescribeWorkflowExecutionResponse) error {
	s, _ := outcome(ctx, c, name)
	if info := resp.GetWorkflowExecutionInfo(); s.Duration == 0 && info.GetCloseTime() != nil {
		s.Duration = info.GetCloseTime().AsTime().Sub(info.GetStartTime().AsTime())
	}
	fmt.Fprint(e.Stdout, RenderSummary(s))
	if s.Status != string(workflows.PhaseCompleted) {
		return quietExit(ExitFailed)
	}
	return nil
}

// liveRows moves p's row count to the running slice's last heartbeat: the workflow itself
// learns of rows only when a slice (a few seconds of batches) ends.
func (e *env) liveRows(ctx context.Context, c client.Client, name string, p *workflows.Progress) {
	resp, err := e.describe(ctx, c, name)
	if err != nil {
		return
	}
	hb, _ := progress.RecordOf(resp).Backfill()
	if hb == nil {
		return
	}
	p.Throttled, p.Governor = hb.Throttled, hb.Governor
	if hb.RowsDone <= p.RowsDone {
		return
	}
	p.RowsDone = hb.RowsDone
	if p.RowsTotal < p.RowsDone {
		p.RowsTotal = p.RowsDone
	}
	if p.RowsTotal > 0 {
		p.Percent = 100 * float64(p.RowsDone) / float64(p.RowsTotal)
	}
	if p.RowsPerSec > 0 && !p.Paused {
		p.ETA = time.Duration(float64(p.RowsTotal-p.RowsDone) / p.RowsPerSec * float64(time.Second)).Round(time.Second)
	}
}
