package workflows

import (
	"errors"
	"fmt"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/zdmhq/zdm/internal/fleet"
	"github.com/zdmhq/zdm/internal/plan"
	"github.com/zdmhq/zdm/internal/spec"
	"github.com/zdmhq/zdm/internal/wire"
)

// QueryFleet answers a fleet's progress: every database's status, the wave and the gate.
const QueryFleet = "fleet"

// TargetQueue is the task queue of one target's migration: the workers that serve the
// target (ZDM_TARGET_ENVS) poll it with activities connected to that database, so the
// child workflow and its activities need no database in their inputs.
func TargetQueue(queue, urlEnv string) string { return queue + "@" + urlEnv }

// TargetWorkflowID is the workflow ID of a target's migration, so that zdm status, approve
// and cancel take NAME-TARGET as the migration's name.
func TargetWorkflowID(migration, target string) string {
	return spec.WorkflowID(migration + "-" + target)
}

// FleetInput starts one migration across a fleet of databases.
type FleetInput struct {
	Migration spec.Migration `json:"migration"`
	Targets   fleet.Targets  `json:"targets"`
	Options   Options        `json:"options"`
	StartedBy string         `json:"started_by,omitempty"`
}

// TargetStatus is where one database of a fleet is.
type TargetStatus string

// Target statuses.
const (
	TargetPending    TargetStatus = "pending"
	TargetRunning    TargetStatus = "running"
	TargetCompleted  TargetStatus = "completed"
	TargetFailed     TargetStatus = "failed"      // failed (and rolled back when it got that far)
	TargetRolledBack TargetStatus = "rolled_back" // a person rejected one of its gates
	TargetCanceled   TargetStatus = "canceled"
	TargetNotStarted TargetStatus = "not_started" // the fleet stopped before it
)

// FleetPhase is where a fleet is.
type FleetPhase string

// Fleet phases.
const (
	FleetChecking  FleetPhase = "checking_targets"
	FleetRunning   FleetPhase = "running"
	FleetAwaiting  FleetPhase = "awaiting_approval"
	FleetCompleted FleetPhase = "completed"
	FleetFailed    FleetPhase = "failed"   // with on_failure: continue, some failed
	FleetStopped   FleetPhase = "stopped"  // with on_failure: stop, a failure stopped it
	FleetRejected  FleetPhase = "rejected" // a wave's gate was rejected
	FleetCanceled  FleetPhase = "canceled"
)

// FleetTarget is one database of a fleet as the parent knows it; live progress is the
// child's own progress query (WorkflowID).
type FleetTarget struct {
	Name       string       `json:"name"`
	Wave       string       `json:"wave"`
	URLEnv     string       `json:"url_env"`
	WorkflowID string       `json:"workflow_id"`
	Status     TargetStatus `json:"status"`
	// Phase is the migration's last phase when it ended.
	Phase     Phase         `json:"phase,omitempty"`
	Database  plan.Identity `json:"database,omitzero"`
	Error     string        `json:"error,omitempty"`
	StartedAt time.Time     `json:"started_at,omitzero"`
	EndedAt   time.Time     `json:"ended_at,omitzero"`
}

// FleetProgress answers QueryFleet.
type FleetProgress struct {
	Migration        string        `json:"migration"`
	Phase            FleetPhase    `json:"phase"`
	Wave             string        `json:"wave,omitempty"`
	AwaitingGate     string        `json:"awaiting_gate,omitempty"`
	Concurrency      int           `json:"concurrency"`
	OnFailure        string        `json:"on_failure"`
	GateBetweenWaves bool          `json:"gate_between_waves"`
	Targets          []FleetTarget `json:"targets"`
	Approvals        []Approval    `json:"approvals"`
	LastError        string        `json:"last_error,omitempty"`
	LastRefusal      string        `json:"last_refusal,omitempty"`
	StartedAt        time.Time     `json:"started_at"`
}

// FleetResult is what a fleet returns when every database completed or a wave's gate was
// rejected; a fleet with failed databases fails, naming them.
type FleetResult struct {
	Progress FleetProgress `json:"progress"`
}

type fleetRun struct {
	in        FleetInput
	p         FleetProgress
	decisions map[string]*Approval
}

// FleetWorkflow migrates the databases of a targets file wave by wave: at most
// concurrency at once within a wave, a person's approval before each wave after the
// first when gate_between_waves is set, and on a failure either no further database
// (stop: the ones already migrating finish) or every other one (continue), the failures
// reported at the end. Each database's migration is a MigrationWorkflow child with its
// own ID, gates and rollback.
func FleetWorkflow(ctx workflow.Context, in FleetInput) (*FleetResult, error) {
	f := &fleetRun{in: in, decisions: map[string]*Approval{}}
	f.p = FleetProgress{Migration: in.Migration.Name, Phase: FleetChecking, Concurrency: max(1, in.Targets.Concurrency),
		OnFailure: in.Targets.OnFailure, GateBetweenWaves: in.Targets.GateBetweenWaves, StartedAt: workflow.Now(ctx),
		Approvals: []Approval{}}
	for _, w := range in.Targets.Waves {
		for _, name := range w.Targets {
			t, _ := in.Targets.Target(name)
			f.p.Targets = append(f.p.Targets, FleetTarget{Name: name, Wave: w.Name, URLEnv: t.URLEnv,
				WorkflowID: TargetWorkflowID(in.Migration.Name, name), Status: TargetPending})
		}
	}
	if err := f.register(ctx); err != nil {
		return nil, err
	}
	if err := f.check(); err != nil {
		return f.end(ctx, FleetFailed, err)
	}

	envs := make([]string, len(f.p.Targets))
	for i, t := range f.p.Targets {
		envs[i] = t.URLEnv
	}
	var checked wire.CheckTargetsResult
	if err := workflow.ExecuteActivity(shortOptions(ctx), wire.CheckTargets, wire.CheckTargetsInput{URLEnvs: envs}).Get(ctx, &checked); err != nil {
		return f.end(ctx, FleetFailed, err)
	}
	for i := range f.p.Targets {
		if i < len(checked.Databases) {
			f.p.Targets[i].Database = checked.Databases[i]
		}
	}

	f.p.Phase = FleetRunning
	for i, w := range in.Targets.Waves {
		f.p.Wave = w.Name
		if i > 0 && in.Targets.GateBetweenWaves {
			approved, err := f.gate(ctx, fleet.WaveGate(w.Name))
			if err != nil {
				return f.end(ctx, FleetCanceled, err)
			}
			if !approved {
				return f.end(ctx, FleetRejected, nil)
			}
		}
		failed := f.runWave(ctx, w)
		if ctx.Err() != nil {
			return f.end(ctx, FleetCanceled, temporal.NewCanceledError("fleet canceled"))
		}
		if failed && in.Targets.OnFailure != fleet.OnFailureContinue {
			return f.end(ctx, FleetStopped, nil)
		}
	}
	if len(f.failed()) > 0 {
		return f.end(ctx, FleetFailed, nil)
	}
	return f.end(ctx, FleetCompleted, nil)
}

// check refuses what a fleet cannot do, before any database is touched.
func (f *fleetRun) check() error {
	if f.in.Migration.Flags != nil {
		return temporal.NewNonRetryableApplicationError("a migration across a fleet cannot name flags: every database would switch the same Unleash flags at its own time (fix: remove flags from the file, or start it on each database by itself)", wire.ErrInvalidMigration, nil)
	}
	if len(f.p.Targets) == 0 {
		return temporal.NewNonRetryableApplicationError("the fleet has no target", wire.ErrInvalidMigration, nil)
	}
	return nil
}

// runWave migrates one wave's databases, at most concurrency at once, and says whether
// any failed. After a failure with on_failure: stop, no further database of the wave
// starts; the ones already migrating finish.
func (f *fleetRun) runWave(ctx workflow.Context, w fleet.Wave) (failed bool) {
	sel := workflow.NewSelector(ctx)
	running, next := 0, 0
	stop := func() bool {
		return ctx.Err() != nil || (failed && f.in.Targets.OnFailure != fleet.OnFailureContinue)
	}
	for {
		for !stop() && next < len(w.Targets) && running < f.p.Concurrency {
			i := f.index(w.Targets[next])
			next++
			running++
			fut := f.startChild(ctx, i)
			sel.AddFuture(fut, func(fut workflow.Future) {
				running--
				if !f.childEnded(ctx, i, fut) {
					failed = true
				}
			})
		}
		if running == 0 {
			break
		}
		sel.Select(ctx)
	}
	for _, name := range w.Targets[next:] {
		f.p.Targets[f.index(name)].Status = TargetNotStarted
	}
	return failed
}

func (f *fleetRun) index(name string) int {
	for i, t := range f.p.Targets {
		if t.Name == name {
			return i
		}
	}
	panic("fleet: unknown target " + name) // the targets file was checked: cannot happen
}

func (f *fleetRun) startChild(ctx workflow.Context, i int) workflow.ChildWorkflowFuture {
	t := &f.p.Targets[i]
	t.Status, t.StartedAt = TargetRunning, workflow.Now(ctx)
	cctx := workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{
		WorkflowID: t.WorkflowID,
		TaskQueue:  TargetQueue(workflow.GetInfo(ctx).TaskQueueName, t.URLEnv),
		// Cancelling the fleet cancels each migration, which rolls itself back; the
		// fleet waits for that rather than leaving half-done databases behind.
		ParentClosePolicy:     enumspb.PARENT_CLOSE_POLICY_REQUEST_CANCEL,
		WaitForCancellation:   true,
		WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
	})
	in := MigrationInput{Migration: f.in.Migration, Options: f.in.Options, StartedBy: f.in.StartedBy}
	if !t.Database.IsZero() {
		// The database CheckTargets found behind the variable: a worker whose variable of
		// that name points elsewhere refuses the migration before changing anything.
		db := t.Database
		in.CheckedAgainst = &db
	}
	return workflow.ExecuteChildWorkflow(cctx, MigrationWorkflow, in)
}

// childEnded records how a database's migration ended and says whether it completed.
func (f *fleetRun) childEnded(ctx workflow.Context, i int, fut workflow.Future) bool {
	t := &f.p.Targets[i]
	t.EndedAt = workflow.Now(ctx)
	var res Result
	err := fut.Get(ctx, &res)
	t.Phase = res.Status
	switch {
	case err == nil && res.Status == PhaseCompleted:
		t.Status = TargetCompleted
		return true
	case err == nil:
		t.Status = TargetRolledBack
		t.Error = res.Progress.LastError
		if t.Error == "" && len(res.Progress.Approvals) > 0 {
			a := res.Progress.Approvals[len(res.Progress.Approvals)-1]
			t.Error = fmt.Sprintf("rejected at gate %s by %s", a.Gate, a.By)
		}
	case temporal.IsCanceledError(err):
		t.Status, t.Error = TargetCanceled, "canceled"
	default:
		t.Status, t.Error = TargetFailed, childMessage(err)
	}
	workflow.GetLogger(ctx).Warn("database of the fleet did not complete", "target", t.Name, "status", t.Status, "error", t.Error)
	return false
}

// childMessage is the innermost message of a child's failure.
func childMessage(err error) string {
	var child *temporal.ChildWorkflowExecutionError
	if errors.As(err, &child) && child.Unwrap() != nil {
		err = child.Unwrap()
	}
	return rootMessage(err)
}

func (f *fleetRun) failed() []string {
	var out []string
	for _, t := range f.p.Targets {
		switch t.Status {
		case TargetFailed, TargetRolledBack, TargetCanceled:
			out = append(out, fmt.Sprintf("%s (%s: %s)", t.Name, t.Status, t.Error))
		}
	}
	return out
}

// end records how the fleet ended. A fleet that did not migrate every database fails,
// naming the ones that did not complete, unless a person rejected a wave.
func (f *fleetRun) end(ctx workflow.Context, phase FleetPhase, err error) (*FleetResult, error) {
	for i := range f.p.Targets {
		if f.p.Targets[i].Status == TargetPending {
			f.p.Targets[i].Status = TargetNotStarted
		}
	}
	f.p.Phase, f.p.AwaitingGate = phase, ""
	if err != nil {
		f.p.LastError = rootMessage(err)
		if phase == FleetCanceled {
			return nil, err
		}
		return nil, temporal.NewNonRetryableApplicationError("fleet failed before any database was migrated: "+f.p.LastError, "FleetFailed", err)
	}
	if failed := f.failed(); len(failed) > 0 {
		f.p.LastError = fmt.Sprintf("%d of %d databases did not complete: %s", len(failed), len(f.p.Targets), strings.Join(failed, "; "))
		if phase == FleetStopped {
			f.p.LastError += "; the fleet stopped (on_failure: stop)"
		}
		return nil, temporal.NewNonRetryableApplicationError(f.p.LastError, "FleetFailed", nil)
	}
	return &FleetResult{Progress: f.progress()}, nil
}

func (f *fleetRun) progress() FleetProgress {
	p := f.p
	p.Targets = append([]FleetTarget{}, f.p.Targets...)
	p.Approvals = append([]Approval{}, f.p.Approvals...)
	return p
}
