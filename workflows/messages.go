package workflows

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/zdmhq/zdm/internal/spec"
)

// channels are the signal channels, created at workflow start so that the Temporal UI's
// "Send a Signal" picker lists them.
type channels struct {
	approve, reject, pause, resume workflow.ReceiveChannel
}

const (
	decisionHelp = `send {"gate": "<gate>", "by": "<your name>", "comment": "<optional>"}`
	pauseHelp    = `send {"by": "<your name>", "reason": "<optional>"} or no payload`
)

func (r *run) register(ctx workflow.Context) (*channels, error) {
	ch := &channels{
		approve: workflow.GetSignalChannelWithOptions(ctx, SignalApprove, workflow.SignalChannelOptions{
			Description: `Approve the gate the migration waits at. Payload: {"gate": "read_new", "contract" or "recover", "by": "your name", "comment": "optional"}`}),
		reject: workflow.GetSignalChannelWithOptions(ctx, SignalReject, workflow.SignalChannelOptions{
			Description: `Reject the gate the migration waits at; the migration rolls back. Payload: {"gate": "...", "by": "your name", "comment": "why"}`}),
		pause: workflow.GetSignalChannelWithOptions(ctx, SignalPause, workflow.SignalChannelOptions{
			Description: `Pause the backfill between slices. Payload (optional): {"by": "your name", "reason": "..."}`}),
		resume: workflow.GetSignalChannelWithOptions(ctx, SignalResume, workflow.SignalChannelOptions{
			Description: `Resume a paused backfill. Payload (optional): {"by": "your name"}`}),
	}
	if err := workflow.SetQueryHandlerWithOptions(ctx, QueryProgress, func() (Progress, error) {
		return r.progress(ctx), nil
	}, workflow.QueryHandlerOptions{Description: "Phase, rows done and total, rows/s, ETA, the gate awaited, pause state, approvals so far and the last error."}); err != nil {
		return nil, err
	}
	for _, u := range []struct {
		name    string
		approve bool
		desc    string
	}{
		{UpdateApprove, true, "Approve the awaited gate (used by the zdm CLI); fails with a clear error for a gate the migration is not waiting at."},
		{UpdateReject, false, "Reject the awaited gate and roll back (used by the zdm CLI)."},
	} {
		approve := u.approve
		err := workflow.SetUpdateHandlerWithOptions(ctx, u.name,
			func(ctx workflow.Context, d Decision) (Progress, error) {
				r.decide(ctx, d, approve, "update")
				return r.progress(ctx), nil
			},
			workflow.UpdateHandlerOptions{
				Validator: func(ctx workflow.Context, d Decision) error {
					if err := r.checkDecision(d); err != nil || !approve {
						return err
					}
					return r.oldUsageRefusal(d)
				},
				Description: u.desc,
			})
		if err != nil {
			return nil, err
		}
	}
	if err := r.registerUndo(ctx); err != nil {
		return nil, err
	}
	workflow.Go(ctx, func(ctx workflow.Context) {
		for {
			sel := workflow.NewSelector(ctx)
			ch.addTo(ctx, sel, r)
			sel.Select(ctx)
		}
	})
	return ch, nil
}

func (ch *channels) addTo(ctx workflow.Context, sel workflow.Selector, r *run) {
	sel.AddReceive(ch.approve, func(c workflow.ReceiveChannel, _ bool) { r.onDecisionSignal(ctx, c, true) })
	sel.AddReceive(ch.reject, func(c workflow.ReceiveChannel, _ bool) { r.onDecisionSignal(ctx, c, false) })
	sel.AddReceive(ch.pause, func(c workflow.ReceiveChannel, _ bool) { r.onPause(ctx, c, true) })
	sel.AddReceive(ch.resume, func(c workflow.ReceiveChannel, _ bool) { r.onPause(ctx, c, false) })
}

// drain handles every signal already delivered, before the run continues as new.
func (ch *channels) drain(ctx workflow.Context, r *run) {
	for {
		sel := workflow.NewSelector(ctx)
		ch.addTo(ctx, sel, r)
		if !sel.HasPending() {
			return
		}
		sel.Select(ctx)
	}
}

func (r *run) onDecisionSignal(ctx workflow.Context, c workflow.ReceiveChannel, approve bool) {
	var raw any
	c.Receive(ctx, &raw)
	d, err := decodeStrict[Decision](raw, decisionHelp)
	if err == nil {
		err = r.checkDecision(d)
	}
	if err == nil && approve {
		err = r.oldUsageRefusal(d)
	}
	if err != nil {
		r.refuse(ctx, c.Name(), err)
		return
	}
	r.decide(ctx, d, approve, "signal")
}

func (r *run) onPause(ctx workflow.Context, c workflow.ReceiveChannel, pause bool) {
	var raw any
	c.Receive(ctx, &raw)
	var req PauseRequest
	if raw != nil {
		var err error
		if req, err = decodeStrict[PauseRequest](raw, pauseHelp); err != nil {
			r.refuse(ctx, c.Name(), err)
			return
		}
	}
	r.st.Paused = pause
	r.st.PausedBy = ""
	if pause {
		r.st.PausedBy = strings.TrimSpace(req.By + " " + req.Reason)
	}
	workflow.GetLogger(ctx).Info("backfill "+c.Name()+"d", "by", req.By, "reason", req.Reason)
}

func (r *run) refuse(ctx workflow.Context, signal string, err error) {
	r.st.LastRefusal = fmt.Sprintf("%s at %s: %s", signal, workflow.Now(ctx).UTC().Format(time.RFC3339), err)
	workflow.GetLogger(ctx).Warn("signal refused", "signal", signal, "error", err)
}

// decodeStrict re-reads a decoded JSON value as T, refusing unknown fields, so a typo in
// a hand-written UI payload is an error rather than a silent zero value.
func decodeStrict[T any](raw any, help string) (T, error) {
	var out T
	if raw == nil {
		return out, fmt.Errorf("no payload: %s", help)
	}
	b, err := json.Marshal(raw)
	if err != nil {
		return out, err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&out); err != nil {
		return out, fmt.Errorf("malformed payload %s: %v; %s", b, err, help)
	}
	return out, nil
}

// checkDecision accepts a decision only for the gate the migration waits at now.
func (r *run) checkDecision(d Decision) error {
	if d.Gate != spec.GateReadNew && d.Gate != spec.GateContract && d.Gate != spec.GateFinalize && d.Gate != spec.GateRecover {
		return fmt.Errorf("unknown gate %q: gates are %q, %q, %q (after a guard breach) and %q (at the end of an undo window); %s", d.Gate, spec.GateReadNew, spec.GateContract, spec.GateRecover, spec.GateFinalize, decisionHelp)
	}
	if strings.TrimSpace(d.By) == "" {
		return fmt.Errorf(`"by" is required: say who decides; %s`, decisionHelp)
	}
	if r.st.AwaitingGate != d.Gate {
		if r.st.AwaitingGate == "" {
			return fmt.Errorf("migration %s is not waiting at any gate (phase %s)", r.m.Name, r.st.Phase)
		}
		return fmt.Errorf("migration %s is waiting at gate %q, not %q", r.m.Name, r.st.AwaitingGate, d.Gate)
	}
	return nil
}

func (r *run) decide(ctx workflow.Context, d Decision, approve bool, via string) {
	ap := Approval{Gate: d.Gate, Approved: approve, By: d.By, Comment: d.Comment, At: workflow.Now(ctx), Via: via}
	r.st.Decisions[d.Gate] = &ap
	r.st.Approvals = append(r.st.Approvals, ap)
	r.st.AwaitingGate = ""
	workflow.GetLogger(ctx).Info("gate decided", "gate", d.Gate, "approved", approve, "by", d.By, "via", via)
}

// progress is the query answer, computed from the state only.
func (r *run) progress(ctx workflow.Context) Progress {
	st := &r.st
	p := Progress{
		Migration:    r.m.Name,
		Table:        r.m.Table,
		Phase:        st.Phase,
		AwaitingGate: st.AwaitingGate,
		Gates:        r.m.Gates,
		RowsDone:     st.RowsDone,
		RowsTotal:    st.RowsTotal,
		Batches:      st.Batches,
		BatchSize:    r.batchSize(),
		LockRetries:  st.LockRetries,
		Paused:       st.Paused,
		PausedBy:     st.PausedBy,
		Throttled:    st.Throttled,
		Verification: st.Verification,
		Governor:     st.Governor,
		Approvals:    append([]Approval{}, st.Approvals...),
		LastError:    st.LastError,
		LastRefusal:  st.LastRefusal,
		FlagsOn:      st.FlagsOn,
		StartedAt:    st.StartedAt,
		Elapsed:      workflow.Now(ctx).Sub(st.StartedAt),
		OldUsage:     st.OldUsage.view(),
		UndoUntil:    r.undoUntil(),
		Guard:        r.guardProgress(),
		Parallelism:  r.progressParallelism(),
		Partitions:   r.partitionProgress(),
	}
	p.ParallelismAuto = r.m.Backfill.Parallelism.Auto()
	if st.RowsTotal > 0 {
		p.Percent = min(100, 100*float64(st.RowsDone)/float64(st.RowsTotal))
	}
	if st.BackfillDone {
		p.Percent = 100
	}
	if st.BackfillActive > 0 {
		p.RowsPerSec = float64(st.RowsDone) / st.BackfillActive.Seconds()
	}
	if rate := st.RecentRate; rate > 0 && !st.BackfillDone && !st.Paused && st.Throttled == "" && st.RowsTotal > st.RowsDone {
		p.ETA = time.Duration(float64(st.RowsTotal-st.RowsDone) / rate * float64(time.Second)).Round(time.Second)
	}
	return p
}
