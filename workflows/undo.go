package workflows

import (
	"fmt"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/zdmhq/zdm/internal/plan"
	"github.com/zdmhq/zdm/internal/spec"
	"github.com/zdmhq/zdm/internal/wire"
)

// The undo window: with undo_window set, contract keeps the old shape restorable, and
// the migration waits, on a durable timer, for the window to end, or for a person to
// revert or finalize. A worker restart changes nothing: the timer and every request are
// in the history.

// UndoRequest is the payload of revert and finalize.
type UndoRequest struct {
	By      string `json:"by"`
	Comment string `json:"comment,omitempty"`
}

// UndoState is the undo window's part of the state.
type UndoState struct {
	// Until is when the window ends.
	Until time.Time `json:"until"`
	// Ended: the window's time is up (the finalize gate may still hold it).
	Ended bool `json:"ended,omitempty"`
	// Request is what a person asked for: revert or finalize ("" for none yet), by
	// whom, when.
	Request string    `json:"request,omitempty"`
	By      string    `json:"by,omitempty"`
	Comment string    `json:"comment,omitempty"`
	At      time.Time `json:"at,omitzero"`
	// SwappedBack: revert's first step committed (the old shape is back beside the
	// new one); from there only revert can go on.
	SwappedBack bool `json:"swapped_back,omitempty"`
	// Failed says what failed last; the migration then waits for a person's request.
	Failed string `json:"failed,omitempty"`
}

const (
	undoRevert   = "revert"
	undoFinalize = "finalize"
	undoHelp     = `send {"by": "<your name>", "comment": "<optional>"}`
	// undoVersion marks the undo window's path in histories.
	undoVersion = "undo-window"
)

// undoing says whether this migration has an undo window (and this history takes it).
func (r *run) undoing(ctx workflow.Context) bool {
	p := r.st.Plan
	return p != nil && p.Undo != nil && workflow.GetVersion(ctx, undoVersion, workflow.DefaultVersion, 1) == 1
}

// rehearseContract tries the contract in a transaction that is rolled back, before any
// gate opens. With an undo window it tries the window's contract followed by the whole
// revert, and followed by finalize: what would make the window's steps fail is found
// before anyone approves.
func (r *run) rehearseContract(ctx workflow.Context) error {
	p := r.st.Plan
	if !r.undoing(ctx) {
		return r.rehearse(ctx, "contract", p.Contract)
	}
	u := p.Undo
	if err := r.rehearse(ctx, "contract and revert", append(append([]plan.Statement{}, u.Contract...), p.RevertAll()...)); err != nil {
		return err
	}
	return r.rehearse(ctx, "contract and finalize", append(append([]plan.Statement{}, u.Contract...), u.Finalize...))
}

// contractPlan is the plan the Contract activity runs: with an undo window, its
// contract sets the old shape aside instead of dropping it.
func (r *run) contractPlan(ctx workflow.Context) plan.Plan {
	p := *r.st.Plan
	if r.undoing(ctx) {
		p.Contract = p.Undo.Contract
	}
	return p
}

// registerUndo installs the revert and finalize handlers: updates (the CLI) with
// validators, and signals (the Temporal UI); both are refused outside the window.
func (r *run) registerUndo(ctx workflow.Context) error {
	for _, u := range []struct{ name, desc string }{
		{UpdateRevert, "During the undo window: bring back the schema as it was before the migration, with every write made since contract (used by the zdm CLI)."},
		{UpdateFinalize, "During the undo window: drop what contract kept now, ending the window (used by the zdm CLI)."},
	} {
		what := u.name
		err := workflow.SetUpdateHandlerWithOptions(ctx, u.name,
			func(ctx workflow.Context, req UndoRequest) (Progress, error) {
				r.requestUndo(ctx, what, req)
				return r.progress(ctx), nil
			},
			workflow.UpdateHandlerOptions{
				Validator:   func(ctx workflow.Context, req UndoRequest) error { return r.checkUndoRequestOf(what, req) },
				Description: u.desc,
			})
		if err != nil {
			return err
		}
	}
	revert := workflow.GetSignalChannelWithOptions(ctx, SignalRevert, workflow.SignalChannelOptions{
		Description: `During the undo window: bring back the schema as it was before the migration, with every write made since. Payload: {"by": "your name", "comment": "optional"}`})
	finalize := workflow.GetSignalChannelWithOptions(ctx, SignalFinalize, workflow.SignalChannelOptions{
		Description: `During the undo window: drop what contract kept, now. Payload: {"by": "your name", "comment": "optional"}`})
	workflow.Go(ctx, func(ctx workflow.Context) {
		// Each signal is judged when it arrives: one sent before the window is refused
		// then, rather than acted on once the window opens.
		for {
			sel := workflow.NewSelector(ctx)
			sel.AddReceive(revert, func(c workflow.ReceiveChannel, _ bool) { r.onUndoSignal(ctx, c, undoRevert) })
			sel.AddReceive(finalize, func(c workflow.ReceiveChannel, _ bool) { r.onUndoSignal(ctx, c, undoFinalize) })
			sel.Select(ctx)
		}
	})
	return nil
}

func (r *run) onUndoSignal(ctx workflow.Context, c workflow.ReceiveChannel, what string) {
	var raw any
	c.Receive(ctx, &raw)
	req, err := decodeStrict[UndoRequest](raw, undoHelp)
	if err == nil {
		err = r.checkUndoRequestOf(what, req)
	}
	if err != nil {
		r.refuse(ctx, c.Name(), err)
		return
	}
	r.requestUndo(ctx, what, req)
}

// checkUndoRequest accepts a request only while the window is open and nothing was
// asked yet.
func (r *run) checkUndoRequest(req UndoRequest) error {
	if strings.TrimSpace(req.By) == "" {
		return fmt.Errorf(`"by" is required: say who asks; %s`, undoHelp)
	}
	if r.st.Undo == nil || r.st.Phase != PhaseUndoWindow {
		if r.st.Plan != nil && r.st.Plan.Undo == nil {
			return fmt.Errorf("migration %s has no undo window (undo_window in its file)", r.m.Name)
		}
		return fmt.Errorf("migration %s is not in its undo window (phase %s)", r.m.Name, r.st.Phase)
	}
	if u := r.st.Undo; u.Request != "" {
		return fmt.Errorf("migration %s is already asked to %s (by %s)", r.m.Name, u.Request, u.By)
	}
	return nil
}

// checkUndoRequestOf also refuses finalize once revert has brought the old shape back.
func (r *run) checkUndoRequestOf(what string, req UndoRequest) error {
	if err := r.checkUndoRequest(req); err != nil {
		return err
	}
	if what == undoFinalize && r.st.Undo.SwappedBack {
		return fmt.Errorf("migration %s has begun to revert (the old shape is back beside the new one): only zdm revert %s can finish it", r.m.Name, r.m.Name)
	}
	return nil
}

func (r *run) requestUndo(ctx workflow.Context, what string, req UndoRequest) {
	u := r.st.Undo
	u.Request, u.By, u.Comment, u.At, u.Failed = what, req.By, req.Comment, workflow.Now(ctx), ""
	workflow.GetLogger(ctx).Info("undo window: "+what+" requested", "by", req.By, "comment", req.Comment)
}

// undoWindow runs after contract: the migration waits for the window's end (then the
// finalize gate, if listed) or a request, then reverts or finalizes. Past contract no
// failure may roll the migration back (the rollback would drop the new shape, which
// holds the live data): a revert or finalize that fails leaves the migration waiting in
// its window, with the error, for a person to ask again.
func (r *run) undoWindow(ctx workflow.Context) error {
	p := r.st.Plan
	if r.st.Undo == nil {
		r.st.Undo = &UndoState{Until: workflow.Now(ctx).Add(p.Undo.Window)}
		r.setPhase(ctx, PhaseUndoWindow)
		r.notify(ctx, wire.NotifyCompleted, "", fmt.Sprintf("contracted; the undo window is open until %s: `zdm revert %s` brings the old schema back with every write made since, `zdm finalize %s` drops it now",
			r.st.Undo.Until.UTC().Format(time.RFC3339), r.m.Name, r.m.Name))
	}
	u := r.st.Undo
	for {
		if err := r.awaitUndoRequest(ctx); err != nil {
			return err
		}
		var err error
		if u.Request == undoRevert {
			err = r.revert(ctx)
		} else {
			err = r.finalize(ctx)
		}
		if err == nil {
			return nil
		}
		// Both are rehearsed before the contract gate; what fails now (a lock held
		// past every retry is retried, so an SQL error) waits for a person.
		u.Failed = fmt.Sprintf("%s failed: %s", u.Request, rootMessage(err))
		r.st.LastError = u.Failed
		workflow.GetLogger(ctx).Error("undo window: "+u.Request+" failed; waiting for a person", "error", err)
		u.Request, u.By, u.Comment = "", "", ""
		r.setPhase(ctx, PhaseUndoWindow)
		next := "`zdm revert " + r.m.Name + "` or `zdm finalize " + r.m.Name + "` to try again"
		if u.SwappedBack {
			next = "`zdm revert " + r.m.Name + "` to finish the revert (the old shape is back beside the new one)"
		}
		r.notify(ctx, wire.NotifyFailed, "", u.Failed+"; nothing was rolled back: the migration waits in its undo window; "+next)
	}
}

// awaitUndoRequest waits until there is a request: a person's, or, once the window
// ended (then the finalize gate, when listed), finalize. After a failure only a
// person's request goes on.
func (r *run) awaitUndoRequest(ctx workflow.Context) error {
	u := r.st.Undo
	if u.Request != "" {
		return nil
	}
	if u.Failed != "" {
		return workflow.Await(ctx, func() bool { return u.Request != "" })
	}
	if !u.Ended {
		asked, err := workflow.AwaitWithTimeout(ctx, u.Until.Sub(workflow.Now(ctx)), func() bool { return u.Request != "" })
		if err != nil {
			return err
		}
		u.Ended = !asked
	}
	if u.Request == "" && r.m.HasGate(spec.GateFinalize) {
		// The window's end opens the finalize gate rather than finalizing alone.
		if d := r.st.Decisions[spec.GateFinalize]; d == nil {
			r.st.AwaitingGate = spec.GateFinalize
			r.notify(ctx, wire.NotifyGate, spec.GateFinalize, "")
			if err := workflow.Await(ctx, func() bool { return r.st.Decisions[spec.GateFinalize] != nil || u.Request != "" }); err != nil {
				return err
			}
			r.st.AwaitingGate = ""
		}
		if d := r.st.Decisions[spec.GateFinalize]; d != nil && u.Request == "" {
			u.Request, u.By, u.Comment, u.At = undoFinalize, d.By, d.Comment, d.At
			if !d.Approved {
				u.Request = undoRevert
			}
		}
	}
	if u.Request == "" {
		u.Request, u.By, u.At = undoFinalize, "the end of the undo window", workflow.Now(ctx)
	}
	return nil
}

// revert brings the old shape back: the revert statements put the table where it stood
// before contract (both shapes, kept in step), applications move back to the old shape
// as in a rollback, and the rollback statements drop the new one.
func (r *run) revert(ctx workflow.Context) error {
	p := r.st.Plan
	r.setPhase(ctx, PhaseReverting)
	if !r.st.Undo.SwappedBack {
		res, err := r.ddlUntilDone(ctx, "revert", p.Undo.Revert, true)
		if err != nil {
			return err
		}
		r.st.LockRetries += res.LockRetries
		r.st.Undo.SwappedBack = true
	}
	if err := r.flagsOff(ctx); err != nil {
		return err
	}
	res, err := r.ddlUntilDone(ctx, "rollback", p.Rollback, p.RollbackTx)
	if err != nil {
		return err
	}
	r.st.LockRetries += res.LockRetries
	if err := r.finish(ctx, plan.StatusReverted); err != nil {
		return err
	}
	r.setPhase(ctx, PhaseReverted)
	r.notify(ctx, wire.NotifyRolledBack, "", fmt.Sprintf("reverted during the undo window by %s%s: the schema is as before the migration, with every write made since",
		r.st.Undo.By, comment(r.st.Undo.Comment)))
	return nil
}

// finalize drops what the window kept and completes the migration.
func (r *run) finalize(ctx workflow.Context) error {
	p := r.st.Plan
	r.setPhase(ctx, PhaseFinalizing)
	res, err := r.ddlUntilDone(ctx, "finalize", p.Undo.Finalize, true)
	if err != nil {
		return err
	}
	r.st.LockRetries += res.LockRetries
	if err := r.finish(ctx, plan.StatusCompleted); err != nil {
		return err
	}
	r.setPhase(ctx, PhaseCompleted)
	r.notify(ctx, wire.NotifyCompleted, "", fmt.Sprintf("finalized by %s%s: what the undo window kept is dropped", r.st.Undo.By, comment(r.st.Undo.Comment)))
	return nil
}

func comment(c string) string {
	if c == "" {
		return ""
	}
	return " (" + c + ")"
}

// undoUntil is when the open window ends, for the progress query; zero once it ended,
// or after a failure (the migration then waits for a person, not for the timer).
func (r *run) undoUntil() time.Time {
	if u := r.st.Undo; u != nil && !u.Ended && u.Request == "" && u.Failed == "" {
		return u.Until
	}
	return time.Time{}
}

// failedPastContract ends a migration that failed in its undo window without rolling it
// back: the rollback would drop the new shape, which holds the live data.
func (r *run) failedPastContract(ctx workflow.Context, err error) error {
	r.st.LastError = rootMessage(err)
	fctx, _ := workflow.NewDisconnectedContext(ctx)
	r.setPhase(fctx, PhaseFailed)
	r.notify(fctx, wire.NotifyFailed, "", r.st.LastError+"; past contract nothing is rolled back: the table keeps what the undo window kept (zdm plan shows the revert and finalize statements)")
	return temporal.NewNonRetryableApplicationError("migration failed in its undo window, nothing rolled back: "+r.st.LastError, "MigrationFailed", err)
}
