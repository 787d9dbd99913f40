package workflows

import (
	"errors"
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/zdmhq/zdm/internal/plan"
	"github.com/zdmhq/zdm/internal/spec"
	"github.com/zdmhq/zdm/internal/wire"
)

// run is one run of the workflow: its input, its state and its handlers.
type run struct {
	in   MigrationInput
	m    *spec.Migration
	opts Options
	st   State
}

// rejectedError ends a migration that a person rejected at a gate.
type rejectedError struct{ approval Approval }

func (e *rejectedError) Error() string {
	msg := fmt.Sprintf("rejected at gate %s by %s", e.approval.Gate, e.approval.By)
	if e.approval.Comment != "" {
		msg += ": " + e.approval.Comment
	}
	return msg
}

// MigrationWorkflow runs one migration: validate, expand, backfill, verify, gates,
// contract. Any failure or rejection before contract rolls back what was done.
func MigrationWorkflow(ctx workflow.Context, in MigrationInput) (*Result, error) {
	r := &run{in: in, m: &in.Migration, opts: in.Options.withDefaults()}
	if in.State != nil {
		r.st = *in.State
		r.st.SlicesThisRun = 0
	} else {
		now := workflow.Now(ctx)
		r.st = State{Phase: PhaseValidating, StartedAt: now, PhaseStartedAt: now}
	}
	if r.st.Decisions == nil {
		r.st.Decisions = map[string]*Approval{}
	}
	if workflow.GetVersion(ctx, "wait-for-cancellation", workflow.DefaultVersion, 1) == 1 {
		ctx = workflow.WithValue(ctx, waitKey{}, true)
	}
	chans, err := r.register(ctx)
	if err != nil {
		return nil, err
	}
	r.upsertPhase(ctx)

	err = r.forward(ctx, chans)
	var can *workflow.ContinueAsNewError
	switch {
	case err == nil:
		return r.result(ctx), nil
	case errors.As(err, &can):
		return nil, err
	case r.st.Undo != nil:
		return nil, r.failedPastContract(ctx, err)
	}
	if r.st.Plan == nil {
		// Nothing was changed: the migration never got past validation. Prepare may
		// still have claimed the table just before a cancel; release this run's claim.
		r.st.LastError = rootMessage(err)
		fctx, _ := workflow.NewDisconnectedContext(ctx)
		_ = workflow.ExecuteActivity(shortOptions(fctx), wire.Finish, wire.FinishInput{
			Migration: r.m.Name, Status: plan.StatusFailed, RunID: workflow.GetInfo(ctx).FirstRunID,
		}).Get(fctx, nil)
		r.setPhase(ctx, PhaseFailed)
		r.notify(fctx, wire.NotifyFailed, "", r.st.LastError+" (nothing was changed)")
		return nil, err
	}
	var rej *rejectedError
	rejected := errors.As(err, &rej)
	if !rejected {
		r.st.LastError = rootMessage(err)
		workflow.GetLogger(ctx).Error("migration failed; rolling back", "error", err)
	}
	canceled := temporal.IsCanceledError(err) || ctx.Err() != nil
	rbCtx, _ := workflow.NewDisconnectedContext(ctx)
	if rbErr := r.rollback(rbCtx); rbErr != nil {
		r.st.LastError = "rollback failed: " + rootMessage(rbErr)
		r.setPhase(rbCtx, PhaseFailed)
		r.notify(rbCtx, wire.NotifyFailed, "", r.st.LastError)
		return nil, rbErr
	}
	switch {
	case rejected:
		r.notify(rbCtx, wire.NotifyRolledBack, "", rej.Error())
		return r.result(ctx), nil
	case canceled:
		r.notify(rbCtx, wire.NotifyRolledBack, "", "canceled")
		return nil, temporal.NewCanceledError("migration canceled and rolled back")
	default:
		r.notify(rbCtx, wire.NotifyFailed, "", r.st.LastError+"; rolled back: the table is as it was")
		return nil, temporal.NewNonRetryableApplicationError("migration failed and was rolled back: "+rootMessage(err), "MigrationFailed", err)
	}
}

// forward is the migration read as a script. Each step records in the state that it is
// done, so a run continued as new skips what came before.
func (r *run) forward(ctx workflow.Context, ch *channels) error {
	if r.st.Plan == nil {
		r.setPhase(ctx, PhaseValidating)
		var res wire.PrepareResult
		err := workflow.ExecuteActivity(prepareOptions(ctx), wire.Prepare, wire.PrepareInput{
			Migration: *r.m, RunID: workflow.GetInfo(ctx).FirstRunID, CheckedAgainst: r.in.CheckedAgainst,
			StartedBy: r.in.StartedBy,
		}).Get(ctx, &res)
		if err != nil {
			return err
		}
		r.st.Plan, r.st.Resuming, r.st.RowsTotal = &res.Plan, res.Resuming, res.Plan.EstimatedRows
		if res.Plan.NoBackfill {
			r.st.RowsTotal = 0 // no row is backfilled: progress is by phase alone
		}
		_ = workflow.UpsertTypedSearchAttributes(ctx, MigrationTable.ValueSet(res.Plan.TableName()))
	}
	p := r.st.Plan

	if !r.st.Expanded {
		r.setPhase(ctx, PhaseExpanding)
		if err := r.ddl(ctx, "expand", p.Expand); err != nil {
			return err
		}
		// Rollback must be the safe path: whatever would make it fail is found now.
		if workflow.GetVersion(ctx, "rehearse-rollback", workflow.DefaultVersion, 1) == 1 {
			if err := r.rehearse(ctx, "rollback", p.Rollback); err != nil {
				return err
			}
		}
		r.st.Expanded = true
		// Both flags exist from here on; read_new starts off whatever it was before.
		if f := r.flag("read_new"); f != "" {
			if err := r.setFlag(ctx, f, false); err != nil {
				return err
			}
		}
		if f := r.flag("dual_write"); f != "" {
			if err := r.setFlag(ctx, f, true); err != nil {
				return err
			}
		}
	}

	// An operation that fills no column (an index, a constraint) has nothing to
	// backfill or verify.
	skipBackfill := p.NoBackfill && workflow.GetVersion(ctx, "no-backfill", workflow.DefaultVersion, 1) == 1
	if !r.st.BackfillDone {
		if skipBackfill {
			r.st.BackfillDone = true
		} else if err := r.backfill(ctx, ch); err != nil {
			return err
		}
	}

	if !r.st.Verified {
		r.setPhase(ctx, PhaseVerifying)
		if !skipBackfill {
			var v wire.VerifyResult
			in := wire.VerifyInput{Target: plan.TargetOf(p), Upper: r.st.Upper}
			r.sampledVerify(ctx, &in)
			err := workflow.ExecuteActivity(longOptions(ctx, time.Hour), wire.Verify, in).Get(ctx, &v)
			if err != nil {
				return err
			}
			r.st.Verification = verificationText(v)
		}
		if err := r.ddl(ctx, "validate", p.Validate); err != nil {
			return err
		}
		// Nothing may fail after a person approved: the contract is tried now, in a
		// transaction that is rolled back, before any gate opens.
		if workflow.GetVersion(ctx, "rehearse-contract", workflow.DefaultVersion, 1) == 1 {
			if err := r.rehearseContract(ctx); err != nil {
				return err
			}
		}
		r.st.Verified = true
	}

	if f := r.flag("read_new"); f != "" && !r.st.ReadsSwitched {
		if r.m.HasGate(spec.GateReadNew) {
			if err := r.gate(ctx, spec.GateReadNew); err != nil {
				return err
			}
		}
		r.setPhase(ctx, PhaseSwitching)
		if err := r.settle(ctx); err != nil {
			return err
		}
		if err := r.switchReads(ctx, ch, f); err != nil {
			return err
		}
		r.st.ReadsSwitched = true
		// The contract gate means "applications read the new columns: go on?", so it
		// opens only once they can have seen read_new.
		if workflow.GetVersion(ctx, "settle-after-read-new", workflow.DefaultVersion, 1) == 1 {
			if err := r.settle(ctx); err != nil {
				return err
			}
		}
	}

	// The soak starts: from here, old code naming what contract retires is counted.
	r.startOldUsage(ctx)
	if r.m.HasGate(spec.GateContract) {
		stop := r.watchOldUsage(ctx)
		err := r.contractGate(ctx, ch)
		stop()
		if err != nil {
			return err
		}
	}

	// Past the last gate there is no going back: contract retries until it succeeds.
	r.setPhase(ctx, PhaseContracting)
	live := ctx
	ctx, _ = workflow.NewDisconnectedContext(ctx)
	if err := r.moveAppsToFinalColumns(ctx); err != nil {
		return err
	}
	if err := r.holdForOldUsage(live); err != nil {
		return err
	}
	var res wire.DDLResult
	if err := workflow.ExecuteActivity(untilDoneOptions(ctx), wire.Contract, wire.ContractInput{Plan: r.contractPlan(ctx)}).Get(ctx, &res); err != nil {
		return err
	}
	r.st.LockRetries += res.LockRetries
	if r.undoing(ctx) {
		return r.undoWindow(ctx)
	}
	if err := r.finish(ctx, plan.StatusCompleted); err != nil {
		return err
	}
	r.setPhase(ctx, PhaseCompleted)
	r.notify(ctx, wire.NotifyCompleted, "", "")
	return nil
}

// backfill loops slices until the range is done, continuing as new when the history
// grows long.
func (r *run) backfill(ctx workflow.Context, ch *channels) error {
	r.setPhase(ctx, PhaseBackfilling)
	p := r.st.Plan
	target := plan.TargetOf(p)
	if !r.st.BoundsKnown {
		var b wire.Bounds
		if err := workflow.ExecuteActivity(shortOptions(ctx), wire.BackfillBounds, wire.BoundsInput{Target: target}).Get(ctx, &b); err != nil {
			return err
		}
		r.st.Upper, r.st.Cursor, r.st.RowsDone, r.st.BoundsKnown = b.Upper, b.Cursor, b.RowsDone, true
	}
	if r.m.Backfill.Parallelism.Auto() && workflow.GetVersion(ctx, "auto-parallelism", workflow.DefaultVersion, 1) == 1 {
		return r.backfillPartitioned(ctx, ch) // the governor decides how many at once (autoparallel.go)
	}
	// Parallelism 1 asks for no version marker: its history stays what it was.
	if r.m.Backfill.Parallelism > 1 && workflow.GetVersion(ctx, "partitioned-backfill", workflow.DefaultVersion, 1) == 1 {
		return r.backfillPartitioned(ctx, ch)
	}
	for {
		if r.st.Paused {
			if err := workflow.Await(ctx, func() bool { return !r.st.Paused }); err != nil {
				return err
			}
		}
		var s wire.SliceProgress
		err := workflow.ExecuteActivity(r.sliceOptions(ctx), wire.BackfillSlice, wire.SliceInput{
			Target:           target,
			Cursor:           r.st.Cursor,
			Upper:            r.st.Upper,
			BatchSize:        r.batchSize(),
			MaxRowsPerSecond: r.m.Backfill.MaxRowsPerSecond,
			Pause:            r.m.Backfill.Pause.D(),
			Budget:           r.opts.SliceBudget,
			Throttle: plan.Throttle{MaxReplicationLag: r.m.Backfill.MaxReplicationLag.D(),
				Query: r.m.Backfill.ThrottleQuery},
			TargetBatchTime: r.m.Backfill.TargetBatchTime.D(),
			MaxAppP99:       r.m.Backfill.MaxAppP99.D(),
			Governor:        r.st.GovernorState,
			FileBatchSize:   r.m.Backfill.BatchSize,
			LatencyQuery:    r.m.Backfill.LatencyQuery,
			PrometheusURL:   r.prometheusURL(),
		}).Get(ctx, &s)
		if err != nil {
			return err
		}
		r.st.Cursor, r.st.RowsDone, r.st.Throttled = s.Cursor, s.RowsDone, s.Throttled
		r.st.Governor, r.st.GovernorState = s.Governor, s.GovernorState
		if s.BatchSize > 0 {
			r.st.BatchSize = s.BatchSize
		}
		r.st.Batches += int64(s.Batches)
		r.st.LockRetries += s.Retries
		r.st.BackfillActive += s.Elapsed
		if s.Elapsed > 0 && s.Rows > 0 {
			r.st.RecentRate = float64(s.Rows) / s.Elapsed.Seconds()
		}
		if r.st.RowsDone > r.st.RowsTotal {
			r.st.RowsTotal = r.st.RowsDone
		}
		if s.Done {
			r.st.BackfillDone = true
			r.st.Throttled, r.st.Governor = "", ""
			r.st.RowsTotal = r.st.RowsDone
			return nil
		}
		r.st.SlicesThisRun++
		if r.st.SlicesThisRun >= r.opts.SlicesPerRun || workflow.GetInfo(ctx).GetContinueAsNewSuggested() {
			return r.continueAsNew(ctx, ch)
		}
	}
}

func (r *run) continueAsNew(ctx workflow.Context, ch *channels) error {
	ch.drain(ctx, r)
	if err := workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) }); err != nil {
		return err
	}
	r.st.ContinuedAsNew++
	next := r.in
	st := r.st
	next.State = &st
	workflow.GetLogger(ctx).Info("continuing as new", "rows_done", r.st.RowsDone, "runs", r.st.ContinuedAsNew)
	return workflow.NewContinueAsNewError(ctx, MigrationWorkflow, next)
}

// gate waits for a person to approve or reject.
func (r *run) gate(ctx workflow.Context, gate string) error {
	if d := r.st.Decisions[gate]; d != nil {
		if !d.Approved {
			return &rejectedError{*d}
		}
		return nil
	}
	r.st.AwaitingGate = gate
	r.setPhase(ctx, PhaseAwaiting)
	workflow.GetLogger(ctx).Info("waiting for approval", "gate", gate)
	detail := ""
	if gate == spec.GateContract {
		detail = r.oldUsageDetail()
	}
	r.notify(ctx, wire.NotifyGate, gate, detail)
	if err := workflow.Await(ctx, func() bool { return r.st.Decisions[gate] != nil }); err != nil {
		return err
	}
	r.st.AwaitingGate = ""
	if d := r.st.Decisions[gate]; !d.Approved {
		return &rejectedError{*d}
	}
	return nil
}

// moveAppsToFinalColumns switches the flags to what code needs after contract: new
// columns only for rename_column and add_column, the original names (now of the new
// type) for change_type. It then waits until applications have seen it.
func (r *run) moveAppsToFinalColumns(ctx workflow.Context) error {
	if r.m.Flags == nil {
		return nil
	}
	if !r.st.Plan.FlagsFinalReadNew() {
		if f := r.flag("read_new"); f != "" && r.isOn(f) {
			if err := r.setFlag(ctx, f, false); err != nil {
				return err
			}
		}
	}
	if f := r.flag("dual_write"); f != "" && r.isOn(f) {
		if err := r.setFlag(ctx, f, false); err != nil {
			return err
		}
	}
	return r.settle(ctx)
}

// rollback undoes the migration in reverse: flags off, then trigger, checks and new
// columns dropped. It retries until it succeeds.
func (r *run) rollback(ctx workflow.Context) error {
	r.st.AwaitingGate = ""
	r.setPhase(ctx, PhaseRollingBack)
	if err := r.flagsOff(ctx); err != nil {
		return err
	}
	if p := r.st.Plan; p != nil {
		if _, err := r.ddlUntilDone(ctx, "rollback", p.Rollback, p.RollbackTx); err != nil {
			return err
		}
		if err := r.finish(ctx, plan.StatusRolledBack); err != nil {
			return err
		}
	}
	r.setPhase(ctx, PhaseRolledBack)
	return nil
}

func (r *run) ddl(ctx workflow.Context, phase string, stmts []plan.Statement) error {
	if len(stmts) == 0 {
		return nil
	}
	var res wire.DDLResult
	err := workflow.ExecuteActivity(longOptions(ctx, time.Hour), wire.RunDDL, wire.DDLInput{
		Migration: r.m.Name, Phase: phase, Statements: stmts, LockTimeout: r.st.Plan.LockTimeout,
		Database: r.st.Plan.Database,
	}).Get(ctx, &res)
	r.st.LockRetries += res.LockRetries
	return err
}

// rehearse runs a phase's statements in a transaction that is rolled back.
func (r *run) rehearse(ctx workflow.Context, phase string, stmts []plan.Statement) error {
	if len(stmts) == 0 {
		return nil
	}
	var res wire.DDLResult
	err := workflow.ExecuteActivity(longOptions(ctx, 10*time.Minute), wire.Rehearse, wire.DDLInput{
		Migration: r.m.Name, Phase: phase, Statements: stmts, LockTimeout: r.st.Plan.LockTimeout,
		Database: r.st.Plan.Database,
	}).Get(ctx, &res)
	r.st.LockRetries += res.LockRetries
	return err
}

func (r *run) flag(which string) string {
	if r.m.Flags == nil {
		return ""
	}
	if which == "read_new" {
		return r.m.Flags.ReadNew
	}
	return r.m.Flags.DualWrite
}

func (r *run) isOn(f string) bool {
	for _, x := range r.st.FlagsOn {
		if x == f {
			return true
		}
	}
	return false
}

// setFlag switches f and notes when applications will have seen it.
func (r *run) setFlag(ctx workflow.Context, f string, on bool) error {
	opts := shortOptions(ctx)
	if r.st.Phase == PhaseContracting || r.st.Phase == PhaseRollingBack || r.st.Phase == PhaseReverting {
		// Past the last gate, or undoing: an Unleash outage must not end the migration
		// half-way, so these toggles retry until Unleash is back.
		opts = untilDoneOptions(ctx)
	}
	err := workflow.ExecuteActivity(opts, wire.SetFlag, wire.FlagInput{
		Migration: r.m.Name, Flag: f, On: on,
		Description: fmt.Sprintf("zdm migration %s on %s", r.m.Name, r.m.Table),
	}).Get(ctx, nil)
	if err != nil {
		return err
	}
	var kept []string
	for _, x := range r.st.FlagsOn {
		if x != f {
			kept = append(kept, x)
		}
	}
	if on {
		kept = append(kept, f)
	}
	r.st.FlagsOn = kept
	r.st.FlagSettledAt = workflow.Now(ctx).Add(r.m.Flags.AppRefresh.D() + r.opts.FlagMargin)
	return nil
}

// settle waits until applications have seen the last toggle.
func (r *run) settle(ctx workflow.Context) error {
	if wait := r.st.FlagSettledAt.Sub(workflow.Now(ctx)); wait > 0 {
		return workflow.Sleep(ctx, wait)
	}
	return nil
}

func (r *run) setPhase(ctx workflow.Context, p Phase) {
	if r.st.Phase != p {
		r.st.Phase = p
		r.st.PhaseStartedAt = workflow.Now(ctx)
	}
	r.upsertPhase(ctx)
}

func (r *run) upsertPhase(ctx workflow.Context) {
	if err := workflow.UpsertTypedSearchAttributes(ctx, MigrationPhase.ValueSet(string(r.st.Phase))); err != nil {
		workflow.GetLogger(ctx).Warn("cannot record phase in search attribute", "error", err)
	}
}

func (r *run) result(ctx workflow.Context) *Result {
	return &Result{Status: r.st.Phase, Progress: r.progress(ctx)}
}

// rootMessage is the innermost message of an activity or application error.
func rootMessage(err error) string {
	for {
		var app *temporal.ApplicationError
		var act *temporal.ActivityError
		switch {
		case errors.As(err, &act) && act.Unwrap() != nil:
			err = act.Unwrap()
		case errors.As(err, &app):
			return app.Message()
		default:
			return err.Error()
		}
	}
}

// notify tells the team's Slack channel (when the worker has one) that the migration
// reached a gate or ended. A notification never fails a migration and retries briefly.
// The version marker keeps runs started before notifications replayable.
func (r *run) notify(ctx workflow.Context, event, gate, detail string) {
	if workflow.GetVersion(ctx, "slack-notify", workflow.DefaultVersion, 1) == workflow.DefaultVersion {
		return
	}
	table := r.m.Table
	if r.st.Plan != nil {
		table = r.st.Plan.TableName()
	}
	// The first run ID names this run of the migration across continue-as-new; the gate
	// buttons carry it so that they cannot decide a later run of the same name.
	in := wire.NotifyInput{Migration: r.m.Name, RunID: workflow.GetInfo(ctx).FirstRunID,
		Table: table, Event: event, Gate: gate, Detail: detail,
		RowsDone: r.st.RowsDone, RowsTotal: r.st.RowsTotal, Elapsed: workflow.Now(ctx).Sub(r.st.StartedAt)}
	if err := workflow.ExecuteActivity(notifyOptions(ctx), wire.Notify, in).Get(ctx, nil); err != nil {
		workflow.GetLogger(ctx).Warn("Slack notification not posted", "event", event, "error", err)
	}
}

// batchSize is the batch size the next slice starts from: the file's, or what the last
// slice adapted it to.
func (r *run) batchSize() int {
	if r.st.BatchSize > 0 {
		return r.st.BatchSize
	}
	return r.m.Backfill.BatchSize
}
