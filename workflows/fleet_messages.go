package workflows

import (
	"fmt"
	"strings"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/zdmhq/zdm/internal/fleet"
)

// register installs the fleet's query, the approve and reject updates the CLI sends for
// a wave's gate, and the signals of the same names for the Temporal UI.
func (f *fleetRun) register(ctx workflow.Context) error {
	if err := workflow.SetQueryHandlerWithOptions(ctx, QueryFleet, func() (FleetProgress, error) {
		return f.progress(), nil
	}, workflow.QueryHandlerOptions{Description: "Every database of the fleet: its wave, status and migration workflow; the wave and the gate awaited."}); err != nil {
		return err
	}
	for _, u := range []struct {
		name    string
		approve bool
	}{{UpdateApprove, true}, {UpdateReject, false}} {
		approve := u.approve
		err := workflow.SetUpdateHandlerWithOptions(ctx, u.name,
			func(ctx workflow.Context, d Decision) (Progress, error) {
				f.decide(ctx, d, approve, "update")
				return Progress{Migration: f.p.Migration, Phase: Phase(f.p.Phase)}, nil
			},
			workflow.UpdateHandlerOptions{
				Validator:   func(ctx workflow.Context, d Decision) error { return f.checkDecision(d) },
				Description: "Approve or reject the gate before the fleet's next wave (gate wave:NAME).",
			})
		if err != nil {
			return err
		}
	}
	approve := workflow.GetSignalChannelWithOptions(ctx, SignalApprove, workflow.SignalChannelOptions{
		Description: `Approve the next wave. Payload: {"gate": "wave:NAME", "by": "your name", "comment": "optional"}`})
	reject := workflow.GetSignalChannelWithOptions(ctx, SignalReject, workflow.SignalChannelOptions{
		Description: `Reject the next wave; no further database is migrated. Payload: {"gate": "wave:NAME", "by": "your name", "comment": "why"}`})
	workflow.Go(ctx, func(ctx workflow.Context) {
		for {
			sel := workflow.NewSelector(ctx)
			sel.AddReceive(approve, func(c workflow.ReceiveChannel, _ bool) { f.onSignal(ctx, c, true) })
			sel.AddReceive(reject, func(c workflow.ReceiveChannel, _ bool) { f.onSignal(ctx, c, false) })
			sel.Select(ctx)
		}
	})
	return nil
}

func (f *fleetRun) onSignal(ctx workflow.Context, c workflow.ReceiveChannel, approve bool) {
	var raw any
	c.Receive(ctx, &raw)
	d, err := decodeStrict[Decision](raw, decisionHelp)
	if err == nil {
		err = f.checkDecision(d)
	}
	if err != nil {
		f.p.LastRefusal = fmt.Sprintf("%s at %s: %s", c.Name(), workflow.Now(ctx).UTC().Format(time.RFC3339), err)
		return
	}
	f.decide(ctx, d, approve, "signal")
}

// checkDecision accepts a decision only for the wave gate the fleet waits at now.
func (f *fleetRun) checkDecision(d Decision) error {
	if !strings.HasPrefix(d.Gate, fleet.GatePrefix) {
		return fmt.Errorf("fleet %s has wave gates only (%sNAME); a database's own gates are decided on its migration, e.g. zdm approve %s-TARGET --gate %s",
			f.p.Migration, fleet.GatePrefix, f.p.Migration, d.Gate)
	}
	if strings.TrimSpace(d.By) == "" {
		return fmt.Errorf(`"by" is required: say who decides; %s`, decisionHelp)
	}
	if f.p.AwaitingGate != d.Gate {
		if f.p.AwaitingGate == "" {
			return fmt.Errorf("fleet %s is not waiting at any gate (phase %s, wave %s)", f.p.Migration, f.p.Phase, f.p.Wave)
		}
		return fmt.Errorf("fleet %s is waiting at gate %q, not %q", f.p.Migration, f.p.AwaitingGate, d.Gate)
	}
	return nil
}

func (f *fleetRun) decide(ctx workflow.Context, d Decision, approve bool, via string) {
	ap := Approval{Gate: d.Gate, Approved: approve, By: d.By, Comment: d.Comment, At: workflow.Now(ctx), Via: via}
	f.decisions[d.Gate] = &ap
	f.p.Approvals = append(f.p.Approvals, ap)
	f.p.AwaitingGate = ""
	workflow.GetLogger(ctx).Info("wave gate decided", "gate", d.Gate, "approved", approve, "by", d.By, "via", via)
}

// gate waits until a person approves or rejects the next wave.
func (f *fleetRun) gate(ctx workflow.Context, gate string) (approved bool, err error) {
	f.p.AwaitingGate, f.p.Phase = gate, FleetAwaiting
	workflow.GetLogger(ctx).Info("waiting for approval of the next wave", "gate", gate)
	if err := workflow.Await(ctx, func() bool { return f.decisions[gate] != nil }); err != nil {
		return false, err
	}
	f.p.AwaitingGate, f.p.Phase = "", FleetRunning
	return f.decisions[gate].Approved, nil
}
