package workflows

import (
	"fmt"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/zdmhq/zdm/internal/spec"
	"github.com/zdmhq/zdm/internal/wire"
)

// The guarded switch: read_new rolls out in the file's steps, each soaking for a while
// under the guard, and the guard goes on being evaluated until contract begins (the wait
// at the contract gate included). A breach switches read_new back to the step before
// the one that breached (or off) at once and waits at the recover gate: approve retries
// the step, reject rolls the migration back.
//
// The guard is evaluated durably: a timer per interval and one short EvaluateGuard
// activity per evaluation, so a worker restart loses nothing and the history grows by a
// few events per evaluation; the run continues as new every guardEvalsPerRun
// evaluations (or when the server suggests it), with the guard's state carried along.

// guardEvalsPerRun bounds the evaluations of one run (about 11 history events each).
const guardEvalsPerRun = 200

// maxBreachesKept bounds the breaches the state keeps (the oldest go first).
const maxBreachesKept = 10

// GuardState is where the rollout and its guard are: carried across continue-as-new and
// shown by the progress query.
type GuardState struct {
	// Steps are the rollout's percents; Step is the index of the step soaking now (or to
	// be applied next), len(Steps) once every step soaked.
	Steps []int `json:"steps"`
	Step  int   `json:"step"`
	// Percent is the share of traffic read_new is on for, as zdm last set it.
	Percent int `json:"percent"`
	// Applied says Steps[Step] is set in Unleash; StepStartedAt is when.
	Applied       bool      `json:"applied,omitempty"`
	StepStartedAt time.Time `json:"step_started_at,omitempty"`
	// SoakEndsAt is when the current step has soaked long enough.
	SoakEndsAt time.Time `json:"soak_ends_at,omitempty"`
	// Recovering: a breach switched read_new back and the migration waits at the
	// recover gate.
	Recovering bool `json:"recovering,omitempty"`
	// Breaches are the last breaches, oldest first.
	Breaches []Breach `json:"breaches,omitempty"`
	// Last is what the last evaluation read, and when.
	Last   []wire.GuardFigure `json:"last,omitempty"`
	LastAt time.Time          `json:"last_at,omitempty"`
	// Problem is why the last evaluation could not read every figure ("" when it could).
	Problem     string `json:"problem,omitempty"`
	Evaluations int64  `json:"evaluations"`
	// Beyond is since when each figure (query and labels) has been beyond its
	// threshold, for queries with a `for`.
	Beyond map[string]time.Time `json:"beyond,omitempty"`

	evalsThisRun int
}

// Breach is one time the guard found the application unhealthy.
type Breach struct {
	// Percent is where read_new was when it breached; RevertedTo where zdm set it back.
	Percent    int `json:"percent"`
	RevertedTo int `json:"reverted_to"`
	// Figures are the figures beyond their thresholds.
	Figures []wire.GuardFigure `json:"figures"`
	// DetectedAt is when the figures were read; FlagBackAt when Unleash had read_new
	// back; ToFlagBack is the time between (applications follow within app_refresh).
	DetectedAt time.Time     `json:"detected_at"`
	FlagBackAt time.Time     `json:"flag_back_at"`
	ToFlagBack time.Duration `json:"to_flag_back"`
	// Decision is what a person chose at the recover gate ("" while waiting).
	Decision string `json:"decision,omitempty"`
}

// Summary says in one line what breached, with the figures.
func (b Breach) Summary() string {
	var parts []string
	for _, f := range b.Figures {
		parts = append(parts, FigureText(f))
	}
	back := "off"
	if b.RevertedTo > 0 {
		back = fmt.Sprintf("%d%%", b.RevertedTo)
	}
	return fmt.Sprintf("guard breached at %d%%: %s; read_new back to %s %s after the figures were read",
		b.Percent, strings.Join(parts, ", "), back, b.ToFlagBack.Round(time.Millisecond))
}

// FigureText is a figure as people read it: `error-ratio{variant="new"} = 0.1 > max 0.01`.
func FigureText(f wire.GuardFigure) string {
	name := f.Query + f.Labels
	switch {
	case f.Query == wire.HealthQuery && f.Problem != "":
		return "health URL: " + f.Problem
	case f.Problem != "":
		return name + ": " + f.Problem
	case f.NoData:
		return name + ": no data"
	case f.Max != nil && f.Value > *f.Max:
		return fmt.Sprintf("%s = %.4g > max %g", name, f.Value, *f.Max)
	case f.Min != nil && f.Value < *f.Min:
		return fmt.Sprintf("%s = %.4g < min %g", name, f.Value, *f.Min)
	case f.Query == wire.HealthQuery:
		return "health URL: ok"
	}
	return fmt.Sprintf("%s = %.4g", name, f.Value)
}

// switchReads turns read_new on: at once for everyone, or, for a guarded migration,
// step by step under the guard.
func (r *run) switchReads(ctx workflow.Context, ch *channels, f string) error {
	if !r.m.Guarded() || workflow.GetVersion(ctx, "guarded-switch", workflow.DefaultVersion, 1) == workflow.DefaultVersion {
		return r.setFlag(ctx, f, true)
	}
	if r.st.Guard == nil {
		r.st.Guard = &GuardState{Steps: r.m.Rollout()}
	}
	return r.rollOut(ctx, ch, f)
}

// contractGate waits at the contract gate; for a guarded migration the guard goes on
// while it waits, and a breach moves the migration to the recover gate.
func (r *run) contractGate(ctx workflow.Context, ch *channels) error {
	g := r.st.Guard
	if g == nil || r.m.Guard == nil {
		return r.gate(ctx, spec.GateContract)
	}
	f := r.flag("read_new")
	for {
		if r.st.Decisions[spec.GateContract] != nil {
			return r.gate(ctx, spec.GateContract)
		}
		if g.Recovering || g.Step < len(g.Steps) {
			if err := r.rollOut(ctx, ch, f); err != nil {
				return err
			}
		}
		if r.st.AwaitingGate != spec.GateContract {
			r.st.AwaitingGate = spec.GateContract
			r.setPhase(ctx, PhaseAwaiting)
			workflow.GetLogger(ctx).Info("waiting for approval under the guard", "gate", spec.GateContract)
			r.notify(ctx, wire.NotifyGate, spec.GateContract, r.oldUsageDetail())
		}
		breached, err := r.watch(ctx, ch, f, func() bool { return r.st.Decisions[spec.GateContract] != nil }, time.Time{})
		if err != nil {
			return err
		}
		if !breached {
			return r.gate(ctx, spec.GateContract)
		}
	}
}

// rollOut steps read_new through the rollout from where it is, each step soaking under
// the guard; after a breach it first waits at the recover gate. Without a contract
// gate, the last step's soak is the guard's watch before contract.
func (r *run) rollOut(ctx workflow.Context, ch *channels, f string) error {
	g := r.st.Guard
	for {
		if g.Recovering {
			if err := r.awaitRecover(ctx); err != nil {
				return err
			}
		}
		if g.Step >= len(g.Steps) {
			return nil
		}
		r.setPhase(ctx, PhaseSwitching)
		pct := g.Steps[g.Step]
		if !g.Applied {
			if err := r.setRollout(ctx, f, pct, false); err != nil {
				return err
			}
			now := workflow.Now(ctx)
			g.Applied, g.StepStartedAt, g.SoakEndsAt = true, now, now.Add(r.soak())
			workflow.GetLogger(ctx).Info("read_new rolled out", "percent", pct, "soak", r.soak())
		}
		breached, err := r.watch(ctx, ch, f, func() bool { return false }, g.SoakEndsAt)
		if err != nil {
			return err
		}
		if !breached {
			if r.m.Guard != nil && g.Problem != "" {
				// A guard that cannot read its figures cannot vouch for the step: the
				// rollout holds at it, evaluating, until it can.
				g.SoakEndsAt = workflow.Now(ctx).Add(r.m.Guard.Interval.D())
				continue
			}
			g.Step++
			g.Applied = false
		}
	}
}

func (r *run) soak() time.Duration {
	if r.m.Flags == nil || r.m.Flags.Soak <= 0 {
		return 0
	}
	return r.m.Flags.Soak.D()
}

// watch evaluates the guard every interval until done says so or until passes (zero:
// no end). It reports whether it found a breach, after switching read_new back.
func (r *run) watch(ctx workflow.Context, ch *channels, f string, done func() bool, until time.Time) (bool, error) {
	g := r.st.Guard
	for {
		if done() {
			return false, nil
		}
		now := workflow.Now(ctx)
		if !until.IsZero() && !now.Before(until) {
			return false, nil
		}
		if r.m.Guard == nil {
			// A rollout without a guard only waits out its soak.
			_, err := workflow.AwaitWithTimeout(ctx, until.Sub(now), done)
			return false, err
		}
		wait := r.m.Guard.Interval.D()
		if !until.IsZero() {
			wait = min(wait, until.Sub(now))
		}
		if ok, err := workflow.AwaitWithTimeout(ctx, wait, done); err != nil || ok {
			return false, err
		}
		breach, err := r.evaluate(ctx)
		if err != nil {
			return false, err
		}
		if breach != nil {
			if d := r.st.Decisions[spec.GateContract]; d != nil && !d.Approved {
				return false, nil // rejected meanwhile: the rollback switches read_new off anyway
			}
			return true, r.onBreach(ctx, f, breach)
		}
		g.evalsThisRun++
		if g.evalsThisRun >= guardEvalsPerRun || workflow.GetInfo(ctx).GetContinueAsNewSuggested() {
			return false, r.continueAsNew(ctx, ch)
		}
	}
}

// evaluate reads the guard's figures once and returns the breach they make, if any.
// Figures that could not be read are shown, never taken for a breach: a Prometheus
// outage must not switch read_new back by itself (but it holds the rollout at its step).
func (r *run) evaluate(ctx workflow.Context) (*Breach, error) {
	g := r.st.Guard
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: r.m.Guard.Interval.D() + 10*time.Second,
		RetryPolicy:         &temporal.RetryPolicy{InitialInterval: time.Second, MaximumAttempts: 2},
	})
	var res wire.GuardResult
	err := workflow.ExecuteActivity(actx, wire.EvaluateGuard, wire.GuardInput{Migration: r.m.Name, Guard: *r.m.Guard}).Get(ctx, &res)
	g.Evaluations++
	if err != nil {
		if ctx.Err() != nil {
			return nil, err
		}
		g.Problem = "the guard could not be evaluated: " + rootMessage(err)
		return nil, nil
	}
	g.Last, g.LastAt, g.Problem = keepFigures(res.Figures), res.At, ""
	queries := map[string]spec.GuardQuery{}
	for _, q := range r.m.Guard.Queries {
		queries[q.Name] = q
	}
	var beyond []wire.GuardFigure
	seen := map[string]bool{}
	for _, f := range res.Figures {
		q := queries[f.Query]
		bad := f.Beyond || (f.NoData && q.NoData == spec.NoDataBreach)
		if f.Problem != "" && f.Query != wire.HealthQuery {
			g.Problem = strings.TrimSpace(g.Problem + " " + FigureText(f))
			continue
		}
		if !bad {
			continue
		}
		key := f.Query + f.Labels
		seen[key] = true
		if g.Beyond == nil {
			g.Beyond = map[string]time.Time{}
		}
		since, ok := g.Beyond[key]
		if !ok {
			since = res.At
			g.Beyond[key] = since
		}
		if res.At.Sub(since) >= q.For.D() {
			beyond = append(beyond, f)
		}
	}
	for key := range g.Beyond {
		if !seen[key] {
			delete(g.Beyond, key)
		}
	}
	if len(beyond) == 0 {
		return nil, nil
	}
	return &Breach{Percent: g.Percent, Figures: keepFigures(beyond), DetectedAt: res.At}, nil
}

// maxFiguresKept bounds the figures the state keeps of one evaluation or breach (a query
// by instance may give hundreds of series): those beyond their threshold first.
const maxFiguresKept = 20

func keepFigures(figs []wire.GuardFigure) []wire.GuardFigure {
	if len(figs) <= maxFiguresKept {
		return figs
	}
	out := make([]wire.GuardFigure, 0, maxFiguresKept)
	for _, bad := range []bool{true, false} {
		for _, f := range figs {
			if len(out) < maxFiguresKept && (f.Beyond || f.NoData || f.Problem != "") == bad {
				out = append(out, f)
			}
		}
	}
	return out
}

// onBreach switches read_new back to the step before the one that breached (or off),
// pauses a running backfill, records the breach and tells the team, then leaves the
// migration to wait at the recover gate.
func (r *run) onBreach(ctx workflow.Context, f string, b *Breach) error {
	g := r.st.Guard
	// No decision is taken at the contract gate while read_new goes back; an approval
	// that came during the evaluation was given for a healthy application: the gate is
	// asked again once the rollout has recovered.
	r.st.AwaitingGate = ""
	if d := r.st.Decisions[spec.GateContract]; d != nil && d.Approved {
		delete(r.st.Decisions, spec.GateContract)
		workflow.GetLogger(ctx).Warn("a contract approval came with a guard breach; the gate will be asked again", "by", d.By)
	}
	failed := 0
	for i, p := range g.Steps {
		if p <= g.Percent {
			failed = i
		}
	}
	back := 0
	if failed > 0 {
		back = g.Steps[failed-1]
	}
	if err := r.setRollout(ctx, f, back, true); err != nil {
		return err
	}
	b.RevertedTo = back
	b.FlagBackAt = workflow.Now(ctx)
	b.ToFlagBack = max(0, b.FlagBackAt.Sub(b.DetectedAt))
	g.Step, g.Applied, g.Recovering, g.Beyond = failed, false, true, nil
	if !r.st.BackfillDone && !r.st.Paused {
		r.st.Paused, r.st.PausedBy = true, "guard breach"
	}
	g.Breaches = append(g.Breaches, *b)
	if n := len(g.Breaches); n > maxBreachesKept {
		g.Breaches = append([]Breach(nil), g.Breaches[n-maxBreachesKept:]...)
	}
	workflow.GetLogger(ctx).Warn("guard breached; read_new switched back", "breach", b.Summary())
	return nil
}

// awaitRecover waits at the recover gate: approve retries the step that breached,
// reject rolls back.
func (r *run) awaitRecover(ctx workflow.Context) error {
	g := r.st.Guard
	last := &g.Breaches[len(g.Breaches)-1]
	if r.st.Decisions[spec.GateRecover] == nil && r.st.AwaitingGate != spec.GateRecover {
		r.st.AwaitingGate = spec.GateRecover
		r.setPhase(ctx, PhaseAwaiting)
		r.notify(ctx, wire.NotifyGate, spec.GateRecover, last.Summary()+
			fmt.Sprintf(". Approve to retry the %d%% step, reject to roll the migration back.", g.Steps[g.Step]))
	}
	if err := workflow.Await(ctx, func() bool { return r.st.Decisions[spec.GateRecover] != nil }); err != nil {
		return err
	}
	r.st.AwaitingGate = ""
	d := r.st.Decisions[spec.GateRecover]
	if !d.Approved {
		last.Decision = "rolled back by " + d.By
		return &rejectedError{*d}
	}
	last.Decision = "retried by " + d.By
	delete(r.st.Decisions, spec.GateRecover)
	g.Recovering = false
	if r.st.PausedBy == "guard breach" {
		r.st.Paused, r.st.PausedBy = false, ""
	}
	return nil
}

// setRollout sets read_new's share of traffic. Switching back after a breach retries
// until Unleash takes it.
func (r *run) setRollout(ctx workflow.Context, f string, pct int, back bool) error {
	opts := shortOptions(ctx)
	if back {
		opts = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
			StartToCloseTimeout: 30 * time.Second,
			RetryPolicy:         &temporal.RetryPolicy{InitialInterval: 200 * time.Millisecond, MaximumInterval: 10 * time.Second},
		})
	}
	err := workflow.ExecuteActivity(opts, wire.SetRollout, wire.RolloutInput{
		Migration: r.m.Name, Flag: f, Percent: pct,
		Description: fmt.Sprintf("zdm migration %s on %s", r.m.Name, r.m.Table),
	}).Get(ctx, nil)
	if err != nil {
		return err
	}
	r.st.Guard.Percent = pct
	var kept []string
	for _, x := range r.st.FlagsOn {
		if x != f {
			kept = append(kept, x)
		}
	}
	if pct > 0 {
		kept = append(kept, f)
	}
	r.st.FlagsOn = kept
	r.st.FlagSettledAt = workflow.Now(ctx).Add(r.m.Flags.AppRefresh.D() + r.opts.FlagMargin)
	return nil
}

// guardProgress is the guard's state for the progress query.
func (r *run) guardProgress() *GuardState {
	g := r.st.Guard
	if g == nil {
		return nil
	}
	c := *g
	c.Breaches = append([]Breach(nil), g.Breaches...)
	c.Beyond = nil
	return &c
}
