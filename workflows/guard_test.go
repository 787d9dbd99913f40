package workflows_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/testsuite"

	"github.com/zdmhq/zdm/activities"
	"github.com/zdmhq/zdm/internal/spec"
	"github.com/zdmhq/zdm/internal/wire"
	"github.com/zdmhq/zdm/workflows"
)

// guardedYAML rolls read_new out in three steps of a minute each, under a guard on the
// new read path's error ratio evaluated every 10s.
const guardedYAML = `name: customers-full-name
table: customers
operations:
  - rename_column: {column: name, to: full_name}
backfill: {batch_size: 5000}
flags: {dual_write: customers-dual-write, read_new: customers-read-new, app_refresh: 2s, rollout: [1, 10, 100], soak: 1m}
guard:
  prometheus_url: http://prometheus:9090
  queries:
    - {name: error-ratio-new, promql: 'sum(rate(errors{variant="new"}[30s])) / sum(rate(requests{variant="new"}[30s]))', max: 0.01}
gates: [contract]
`

// fakeGuard answers EvaluateGuard: the new read path fails at 10% while read_new is at
// failAt percent and the workflow clock is past from, for the first `times` evaluations
// that see it.
type fakeGuard struct {
	db     *fakeDB
	mu     sync.Mutex
	pct    int
	failAt int
	from   time.Duration
	times  int
	start  time.Time
	evals  int
}

func newFakeGuard(db *fakeDB, failAt, times int, from time.Duration) *fakeGuard {
	g := &fakeGuard{db: db, failAt: failAt, times: times, from: from, start: db.env.Now()}
	g.recordRollouts()
	db.env.OnActivity(acts.EvaluateGuard, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.GuardInput) (*activities.GuardResult, error) {
		g.mu.Lock()
		defer g.mu.Unlock()
		g.evals++
		max := *in.Guard.Queries[0].Max
		v := 0.0005
		if g.pct == g.failAt && g.times > 0 && db.env.Now().Sub(g.start) >= g.from {
			g.times--
			v = 0.1
		}
		return &activities.GuardResult{At: db.env.Now(), Figures: []wire.GuardFigure{
			{Query: "error-ratio-new", Labels: `{variant="new"}`, Value: v, Max: &max, Beyond: v > max},
		}}, nil
	})
	return g
}

func (g *fakeGuard) evaluations() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.evals
}

// guardedEnv is a test environment running yaml's migration on a fake database.
func guardedEnv(t *testing.T, yaml string) (spec.Migration, *testsuite.TestWorkflowEnvironment, *fakeDB) {
	t.Helper()
	m := parse(t, yaml)
	env := newEnv()
	db := newFakeDB(env, m)
	db.install()
	return m, env, db
}

// recordRollouts records every SetRollout, and the percent it sets for the guard to see.
func (g *fakeGuard) recordRollouts() {
	g.db.env.OnActivity(acts.SetRollout, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.RolloutInput) error {
		g.mu.Lock()
		g.pct = in.Percent
		g.mu.Unlock()
		return g.db.record(fmt.Sprintf("SetRollout %s %d", in.Flag, in.Percent), in)
	})
}

// rollouts are the labels of read_new set to each percent in turn.
func rollouts(percents ...int) []string {
	var out []string
	for _, p := range percents {
		out = append(out, fmt.Sprintf("SetRollout customers-read-new %d", p))
	}
	return out
}

// signalAt sends signal (approve or reject) for gate, as by, once the workflow's clock
// has moved on by after.
func signalAt(env *testsuite.TestWorkflowEnvironment, after time.Duration, signal, gate, by string) {
	env.RegisterDelayedCallback(func() { env.SignalWorkflow(signal, approve(gate, by)) }, after)
}

// contracted is how every run that reaches contract ends.
var contracted = seq("SetFlag customers-dual-write off", "Contract", "Finish completed")

// upToReads is what every guarded run does before read_new moves.
var upToReads = seq("Prepare", "RunDDL expand", "Rehearse rollback", "SetFlag customers-read-new off", "SetFlag customers-dual-write on",
	"BackfillBounds", repeat("BackfillSlice", 3), "Verify", "Rehearse contract")

func TestGuardBreachRevertsAndRecoverRetriesTheStep(t *testing.T) {
	m, env, db := guardedEnv(t, guardedYAML)
	g := newFakeGuard(db, 10, 1, 0)

	var atRecover workflows.Progress
	env.RegisterDelayedCallback(func() { atRecover = progressOf(t, env) }, 150*time.Second)
	signalAt(env, 200*time.Second, workflows.SignalApprove, "recover", "alice")
	var atContract workflows.Progress
	env.RegisterDelayedCallback(func() {
		atContract = progressOf(t, env)
		env.SignalWorkflow(workflows.SignalApprove, approve("contract", "bob"))
	}, 500*time.Second)

	runToEnd(t, env, workflows.MigrationInput{Migration: m})

	assert.Equal(t, seq(upToReads,
		rollouts(1, 10),
		"SetRollout customers-read-new 1", // the breach: back to the last healthy step
		rollouts(10, 100),                 // retried after approval
		contracted), db.labels())

	// At the recover gate: the breach with its figures, read_new back at 1%.
	assert.Equal(t, workflows.PhaseAwaiting, atRecover.Phase)
	assert.Equal(t, "recover", atRecover.AwaitingGate)
	require.NotNil(t, atRecover.Guard)
	require.Len(t, atRecover.Guard.Breaches, 1)
	b := atRecover.Guard.Breaches[0]
	assert.Equal(t, 10, b.Percent)
	assert.Equal(t, 1, b.RevertedTo)
	assert.Equal(t, 1, atRecover.Guard.Percent)
	require.Len(t, b.Figures, 1)
	assert.Equal(t, 0.1, b.Figures[0].Value)
	assert.Contains(t, b.Summary(), `error-ratio-new{variant="new"} = 0.1 > max 0.01`)
	assert.Contains(t, b.Summary(), "read_new back to 1%")
	assert.False(t, b.DetectedAt.IsZero())
	assert.False(t, b.FlagBackAt.Before(b.DetectedAt))
	assert.Empty(t, b.Decision)
	// The breach was found within one evaluation period of the 10% step starting.
	tenPct := db.calls("SetRollout customers-read-new 10")[0].At
	back := db.calls("SetRollout customers-read-new 1")[1].At
	assert.LessOrEqual(t, back.Sub(tenPct), 10*time.Second+time.Second)

	// The team heard of it, with the gate's buttons.
	assert.Equal(t, []string{"gate recover", "gate contract", "completed"}, db.notes)

	// At the contract gate: every step soaked, the guard still evaluating.
	assert.Equal(t, "contract", atContract.AwaitingGate)
	assert.Equal(t, 100, atContract.Guard.Percent)
	assert.Equal(t, 3, atContract.Guard.Step)
	require.Len(t, atContract.Guard.Breaches, 1)
	assert.Equal(t, "retried by alice", atContract.Guard.Breaches[0].Decision)
	assert.NotEmpty(t, atContract.Guard.Last)
	// Soaks: 1% and the retried 10% and 100% each a minute; the first 10% one evaluation.
	assert.GreaterOrEqual(t, g.evaluations(), 6*3+1)
	// The contract gate was watched too: evaluations went on until the approval.
	contractGateAt := db.noteAt["gate contract"]
	assert.Greater(t, atContract.Guard.LastAt, contractGateAt)
}

func TestGuardBreachThenRejectAtRecoverRollsBack(t *testing.T) {
	m, env, db := guardedEnv(t, guardedYAML)
	newFakeGuard(db, 1, 1, 0)
	signalAt(env, 300*time.Second, workflows.SignalReject, "recover", "carol")

	runToEnd(t, env, workflows.MigrationInput{Migration: m})
	var res workflows.Result
	require.NoError(t, env.GetWorkflowResult(&res))
	assert.Equal(t, workflows.PhaseRolledBack, res.Status)

	// A breach at the first step switches read_new off; the rejection rolls back.
	assert.Equal(t, seq(upToReads,
		rollouts(1, 0),
		"SetFlag customers-dual-write off", "RunDDL rollback", "Finish rolled_back"), db.labels())
	require.NotNil(t, res.Progress.Guard)
	require.Len(t, res.Progress.Guard.Breaches, 1)
	assert.Equal(t, 0, res.Progress.Guard.Breaches[0].RevertedTo)
	assert.Equal(t, "rolled back by carol", res.Progress.Guard.Breaches[0].Decision)
	assert.Contains(t, res.Progress.Guard.Breaches[0].Summary(), "read_new back to off")
	assert.Equal(t, []string{"gate recover", "rolled_back"}, db.notes)
}

func TestGuardWatchesTheContractGateAndABreachThereRevertsToTheStepBefore(t *testing.T) {
	m, env, db := guardedEnv(t, guardedYAML)
	// Healthy through every soak; fails once read_new has been at 100% for a while.
	newFakeGuard(db, 100, 1, 300*time.Second)
	var atRecover workflows.Progress
	env.RegisterDelayedCallback(func() { atRecover = progressOf(t, env) }, 400*time.Second)
	signalAt(env, 500*time.Second, workflows.SignalApprove, "recover", "alice")
	signalAt(env, 800*time.Second, workflows.SignalApprove, "contract", "bob")

	runToEnd(t, env, workflows.MigrationInput{Migration: m})
	assert.Equal(t, seq(upToReads,
		rollouts(1, 10, 100),
		"SetRollout customers-read-new 10", // breach at the contract gate
		"SetRollout customers-read-new 100",
		contracted), db.labels())
	assert.Equal(t, "recover", atRecover.AwaitingGate)
	assert.Equal(t, 10, atRecover.Guard.Breaches[0].RevertedTo)
	assert.Equal(t, []string{"gate contract", "gate recover", "gate contract", "completed"}, db.notes)
}

func TestALongWatchAtTheContractGateContinuesAsNewWithTheGuard(t *testing.T) {
	m, env, db := guardedEnv(t, guardedYAML)
	newFakeGuard(db, 0, 0, 0)
	env.ExecuteWorkflow(workflows.MigrationWorkflow, workflows.MigrationInput{Migration: m})
	require.True(t, env.IsWorkflowCompleted())
	next := nextInput(t, env.GetWorkflowError())
	st := next.State
	require.NotNil(t, st.Guard)
	assert.Equal(t, "contract", st.AwaitingGate)
	assert.Equal(t, 3, st.Guard.Step)
	assert.Equal(t, 100, st.Guard.Percent)
	assert.True(t, st.ReadsSwitched)

	// The next run keeps watching and waiting, without rolling out again.
	env2 := newEnv()
	db2 := newFakeDB(env2, m)
	db2.install()
	newFakeGuard(db2, 0, 0, 0)
	signalAt(env2, 60*time.Second, workflows.SignalApprove, "contract", "bob")
	env2.ExecuteWorkflow(workflows.MigrationWorkflow, next)
	require.True(t, env2.IsWorkflowCompleted())
	require.NoError(t, env2.GetWorkflowError())
	assert.Equal(t, []string{"SetFlag customers-dual-write off", "Contract", "Finish completed"}, db2.labels())
	assert.Equal(t, []string{"completed"}, db2.notes, "the gate is not announced twice")
}

// scriptedGuard answers EvaluateGuard with answer(percent now, time since start); it
// records SetRollout like fakeGuard.
func scriptedGuard(db *fakeDB, answer func(pct int, at time.Duration) (*activities.GuardResult, error)) *fakeGuard {
	g := &fakeGuard{db: db, start: db.env.Now()}
	g.recordRollouts()
	db.env.OnActivity(acts.EvaluateGuard, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.GuardInput) (*activities.GuardResult, error) {
		g.mu.Lock()
		g.evals++
		pct := g.pct
		g.mu.Unlock()
		return answer(pct, db.env.Now().Sub(g.start))
	})
	return g
}

func TestARolloutWithoutAGuardOnlySoaks(t *testing.T) {
	m := parse(t, guardedYAML[:strings.Index(guardedYAML, "guard:")]+"gates: []\n")
	require.Nil(t, m.Guard)
	env := newEnv()
	db := newFakeDB(env, m)
	db.install()
	g := scriptedGuard(db, func(int, time.Duration) (*activities.GuardResult, error) { panic("no guard to evaluate") })
	runToEnd(t, env, workflows.MigrationInput{Migration: m})
	assert.Equal(t, seq(upToReads, rollouts(1, 10, 100), contracted), db.labels())
	steps := db.calls("SetRollout customers-read-new 10")
	require.Len(t, steps, 1)
	assert.GreaterOrEqual(t, steps[0].At.Sub(db.calls("SetRollout customers-read-new 1")[0].At), time.Minute, "each step soaks")
	assert.Zero(t, g.evaluations())
}

func TestAGuardQueryWithForBreachesOnlyOnceTheValueHasLasted(t *testing.T) {
	m, env, db := guardedEnv(t, strings.Replace(guardedYAML, "max: 0.01}", "max: 0.01, for: 25s}", 1))
	max := 0.01
	scriptedGuard(db, func(pct int, _ time.Duration) (*activities.GuardResult, error) {
		v := 0.0
		if pct == 10 {
			v = 0.5
		}
		return &activities.GuardResult{At: db.env.Now(), Figures: []wire.GuardFigure{{Query: "error-ratio-new", Value: v, Max: &max, Beyond: v > max}}}, nil
	})
	signalAt(env, 400*time.Second, workflows.SignalReject, "recover", "alice")
	env.ExecuteWorkflow(workflows.MigrationWorkflow, workflows.MigrationInput{Migration: m})
	require.True(t, env.IsWorkflowCompleted())
	var res workflows.Result
	require.NoError(t, env.GetWorkflowResult(&res))
	require.Len(t, res.Progress.Guard.Breaches, 1)
	b := res.Progress.Guard.Breaches[0]
	// Beyond from the first evaluation of the 10% step (10s in), every 10s: it has lasted
	// 25s only at the fourth (40s in).
	lasted := b.DetectedAt.Sub(db.calls("SetRollout customers-read-new 10")[0].At)
	assert.GreaterOrEqual(t, lasted, 25*time.Second)
	assert.Less(t, lasted, 45*time.Second)
}

func TestAnUnreadableGuardIsShownNotTakenForABreachAndNoDataBreachesWhenSaidSo(t *testing.T) {
	m, env, db := guardedEnv(t, strings.Replace(guardedYAML, "max: 0.01}", "max: 0.01, no_data: breach}", 1))
	max := 0.01
	scriptedGuard(db, func(pct int, at time.Duration) (*activities.GuardResult, error) {
		switch {
		case pct == 1 && at < 90*time.Second:
			// Prometheus is down: the evaluation fails, which is shown and nothing more.
			return nil, errors.New("prometheus: connection refused")
		case pct == 10:
			return &activities.GuardResult{At: db.env.Now(), Figures: []wire.GuardFigure{{Query: "error-ratio-new", Max: &max, NoData: true}}}, nil
		}
		return &activities.GuardResult{At: db.env.Now(), Figures: []wire.GuardFigure{{Query: "error-ratio-new", Value: 0, Max: &max}}}, nil
	})
	var during workflows.Progress
	env.RegisterDelayedCallback(func() { during = progressOf(t, env) }, 60*time.Second)
	signalAt(env, 400*time.Second, workflows.SignalReject, "recover", "alice")
	env.ExecuteWorkflow(workflows.MigrationWorkflow, workflows.MigrationInput{Migration: m})
	require.True(t, env.IsWorkflowCompleted())
	require.NotNil(t, during.Guard)
	assert.Contains(t, during.Guard.Problem, "the guard could not be evaluated: prometheus: connection refused")
	assert.Empty(t, during.Guard.Breaches)
	var res workflows.Result
	require.NoError(t, env.GetWorkflowResult(&res))
	require.Len(t, res.Progress.Guard.Breaches, 1, "the outage was no breach; the 10%% step had no data")
	assert.Equal(t, 10, res.Progress.Guard.Breaches[0].Percent)
	assert.Contains(t, res.Progress.Guard.Breaches[0].Summary(), "error-ratio-new: no data")
	// The 1% step's soak ended during the outage: the rollout held there until the
	// guard could read its figures again.
	tenPct := db.calls("SetRollout customers-read-new 10")[0].At
	assert.GreaterOrEqual(t, tenPct.Sub(db.calls("SetRollout customers-read-new 1")[0].At), 85*time.Second)
}

func TestAQueryOfManySeriesKeepsTheFiguresBounded(t *testing.T) {
	m, env, db := guardedEnv(t, guardedYAML)
	max := 0.01
	scriptedGuard(db, func(pct int, _ time.Duration) (*activities.GuardResult, error) {
		var figs []wire.GuardFigure
		for i := range 500 {
			v := 0.0
			if pct == 10 && i == 499 {
				v = 0.5
			}
			figs = append(figs, wire.GuardFigure{Query: "error-ratio-new", Labels: fmt.Sprintf(`{instance="%d"}`, i), Value: v, Max: &max, Beyond: v > max})
		}
		return &activities.GuardResult{At: db.env.Now(), Figures: figs}, nil
	})
	signalAt(env, 400*time.Second, workflows.SignalReject, "recover", "alice")
	env.ExecuteWorkflow(workflows.MigrationWorkflow, workflows.MigrationInput{Migration: m})
	require.True(t, env.IsWorkflowCompleted())
	var res workflows.Result
	require.NoError(t, env.GetWorkflowResult(&res))
	g := res.Progress.Guard
	require.Len(t, g.Breaches, 1)
	assert.Len(t, g.Breaches[0].Figures, 1)
	require.Len(t, g.Last, 20, "20 of 500 series kept")
	assert.Equal(t, `{instance="499"}`, g.Last[0].Labels, "the one beyond its threshold first")
}

// A contract approval that arrives while an evaluation finding a breach is in flight was
// given for a healthy application: it does not carry over the breach; read_new goes back,
// and once the rollout has recovered the contract gate is asked again.
func TestAContractApprovalRacingABreachIsAskedAgain(t *testing.T) {
	m, env, db := guardedEnv(t, guardedYAML)
	start := env.Now()
	(&fakeGuard{db: db}).recordRollouts()
	max := 0.01
	var breaches int
	// Each evaluation takes 5s; the one starting at 6m33s (in flight at 6m35s, when
	// bob approves contract) finds the breach.
	env.OnActivity(acts.EvaluateGuard, mock.Anything, mock.Anything).Return(func(_ context.Context, _ activities.GuardInput) (*activities.GuardResult, error) {
		v := 0.0
		if at := env.Now().Sub(start); at >= 393*time.Second && at < 394*time.Second {
			v = 0.5
			breaches++
		}
		return &activities.GuardResult{At: env.Now(), Figures: []wire.GuardFigure{{Query: "error-ratio-new", Value: v, Max: &max, Beyond: v > max}}}, nil
	}).After(5 * time.Second)
	signalAt(env, 395*time.Second, workflows.SignalApprove, "contract", "bob")
	signalAt(env, 500*time.Second, workflows.SignalApprove, "recover", "alice")
	var again workflows.Progress
	env.RegisterDelayedCallback(func() {
		again = progressOf(t, env)
		env.SignalWorkflow(workflows.SignalApprove, approve("contract", "carol"))
	}, 800*time.Second)

	runToEnd(t, env, workflows.MigrationInput{Migration: m})
	require.Equal(t, 1, breaches, "the timing this test relies on")
	assert.Equal(t, seq(upToReads,
		rollouts(1, 10, 100),
		rollouts(10, 100),
		contracted), db.labels())
	assert.Equal(t, "contract", again.AwaitingGate, "bob's approval did not carry over the breach")
	assert.Equal(t, []string{"gate contract", "gate recover", "gate contract", "completed"}, db.notes)
	var res workflows.Result
	require.NoError(t, env.GetWorkflowResult(&res))
	var by []string
	for _, ap := range res.Progress.Approvals {
		by = append(by, ap.Gate+" "+ap.By)
	}
	// The test environment hands bob's signal to the workflow after the evaluation's
	// result, when it already waits at recover: refused. (On a real server it may come
	// first; then the workflow drops the approval at the breach, with the same outcome.)
	assert.Equal(t, []string{"recover alice", "contract carol"}, by)
	assert.Contains(t, res.Progress.LastRefusal, `is waiting at gate "recover", not "contract"`)
}

func TestALongSoakContinuesAsNewAndResumesTheStep(t *testing.T) {
	m, env, db := guardedEnv(t, strings.Replace(guardedYAML, "soak: 1m", "soak: 1h", 1))
	newFakeGuard(db, 0, 0, 0)
	env.ExecuteWorkflow(workflows.MigrationWorkflow, workflows.MigrationInput{Migration: m})
	require.True(t, env.IsWorkflowCompleted())
	next := nextInput(t, env.GetWorkflowError())
	st := next.State
	require.NotNil(t, st.Guard)
	assert.Equal(t, workflows.PhaseSwitching, st.Phase)
	assert.Equal(t, 0, st.Guard.Step)
	assert.True(t, st.Guard.Applied)
	assert.Equal(t, 1, st.Guard.Percent)
	assert.EqualValues(t, 200, st.Guard.Evaluations)
	assert.False(t, st.ReadsSwitched)

	// The next run soaks the 1% step to its end (an hour after it began), without
	// setting it again, then goes on.
	env2 := newEnv()
	env2.SetStartTime(env.Now()) // the next run starts where the first ended
	db2 := newFakeDB(env2, m)
	db2.install()
	newFakeGuard(db2, 0, 0, 0)
	env2.ExecuteWorkflow(workflows.MigrationWorkflow, next)
	require.True(t, env2.IsWorkflowCompleted())
	next2 := nextInput(t, env2.GetWorkflowError())
	assert.Equal(t, []string{"SetRollout customers-read-new 10"}, db2.labels(), "the 1%% step is not set again")
	assert.Equal(t, 1, next2.State.Guard.Step)
	tenPct := db2.calls("SetRollout customers-read-new 10")[0].At
	assert.WithinDuration(t, st.Guard.StepStartedAt.Add(time.Hour), tenPct, 11*time.Second, "the step soaked an hour in all, across the two runs")
}
