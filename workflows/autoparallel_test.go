package workflows_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/zdmhq/zdm/internal/plan"
	"github.com/zdmhq/zdm/internal/spec"
	"github.com/zdmhq/zdm/internal/wire"
	"github.com/zdmhq/zdm/workflows"
)

// autoStart is one partition slice as it started.
type autoStart struct {
	At   time.Time
	Part int
	// K is the limit the workflow sent with the slice; AtOnce the slices running once
	// it started, itself included, counted by the test environment's listener. MaxK is
	// the largest limit sent with those: the environment reports the starts of one
	// instant in any order, so a slice started at limit 3 may be seen after one started
	// at limit 4 beside it.
	K, AtOnce, MaxK int
}

// autoFake stands in for the partitioned backfill's activities under parallelism: auto:
// spec.AutoParallelismMax partitions of 4 slices of 5s each, whose governor verdict
// the test chooses from how many slices ran beside it.
type autoFake struct {
	env *testsuite.TestWorkflowEnvironment
	// verdict sets the governor's fields of a slice that saw at most atOnce slices
	// running at once (itself included) while it ran.
	verdict func(atOnce int) (governor string, st wire.GovernorState)
	// failPart fails that partition's first slice for good (-1: none).
	failPart int
	// committed is the slices each partition has already done (a second run).
	committed map[int]int

	mu       sync.Mutex
	running  int
	mostSeen map[string]int // activity ID -> most slices running while it ran
	limitOf  map[string]int // activity ID -> the limit it was started with
	starts   []autoStart
	overs    int
	prepared int
}

func newAutoFake(env *testsuite.TestWorkflowEnvironment, verdict func(int) (string, wire.GovernorState)) *autoFake {
	return &autoFake{env: env, verdict: verdict, failPart: -1, committed: map[int]int{}, mostSeen: map[string]int{}, limitOf: map[string]int{}}
}

func calm(int) (string, wire.GovernorState) { return "", wire.GovernorState{} }

// crowdedAbove is an application that suffers once more than n slices run at once.
func crowdedAbove(n int) func(int) (string, wire.GovernorState) {
	return func(atOnce int) (string, wire.GovernorState) {
		if atOnce > n {
			return "app latency: longest lock wait 40ms > 20ms", wire.GovernorState{Over: true, BatchTime: 50 * time.Millisecond}
		}
		return "", wire.GovernorState{}
	}
}

func (f *autoFake) install() {
	f.env.SetOnActivityStartedListener(func(info *activity.Info, _ context.Context, args converter.EncodedValues) {
		if info.ActivityType.Name != "BackfillPartitionSlice" {
			return
		}
		var in wire.PartitionSliceInput
		if err := args.Get(&in); err != nil {
			panic(err)
		}
		f.mu.Lock()
		defer f.mu.Unlock()
		f.running++
		f.mostSeen[info.ActivityID] = 0
		for id, n := range f.mostSeen {
			f.mostSeen[id] = max(n, f.running)
		}
		f.limitOf[info.ActivityID] = in.Parallelism
		maxK := 0
		for _, k := range f.limitOf {
			maxK = max(maxK, k)
		}
		f.starts = append(f.starts, autoStart{At: f.env.Now(), Part: in.Part, K: in.Parallelism, AtOnce: f.running, MaxK: maxK})
	})
	f.env.OnActivity(acts.BackfillPartitions, mock.Anything, mock.Anything).Return(func(_ context.Context, in wire.PartitionsInput) (*wire.PartitionsResult, error) {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.prepared++
		return evenSplit(in), nil
	})
	f.env.OnActivity(acts.BackfillPartitionSlice, mock.Anything, mock.Anything).After(5 * time.Second).Return(func(ctx context.Context, in wire.PartitionSliceInput) (*wire.SliceProgress, error) {
		f.mu.Lock()
		defer f.mu.Unlock()
		id := activity.GetInfo(ctx).ActivityID
		atOnce := f.mostSeen[id]
		delete(f.mostSeen, id)
		delete(f.limitOf, id)
		f.running--
		if in.Part == f.failPart {
			return nil, temporal.NewNonRetryableApplicationError("bad value", wire.ErrSQL, nil)
		}
		f.committed[in.Part]++
		n := f.committed[in.Part]
		gov, st := f.verdict(atOnce)
		if st.Over {
			f.overs++
		}
		return &wire.SliceProgress{Cursor: plan.Cursor{fmt.Sprint(in.Part*10000 + n*2500)}, Rows: 2500, RowsDone: int64(n) * 2500,
			Batches: 1, Done: n == 4, Elapsed: 5 * time.Second, Governor: gov, GovernorState: st}, nil
	})
}

// check asserts what every auto run must hold: no slice started beyond the limit the
// workflow sent with it, and the limit between 1 and AutoParallelismMax.
func (f *autoFake) check(t *testing.T) {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, s := range f.starts {
		assert.LessOrEqual(t, s.AtOnce, s.MaxK, "slice %d (partition %d at %s) started with %d running, limit %d", i, s.Part, s.At, s.AtOnce, s.MaxK)
		assert.GreaterOrEqual(t, s.K, 1)
		assert.LessOrEqual(t, s.K, spec.AutoParallelismMax)
	}
}

func (f *autoFake) mostAtOnce() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	most := 0
	for _, s := range f.starts {
		most = max(most, s.AtOnce)
	}
	return most
}

// autoSample is the progress query's answer between two slice ends.
type autoSample struct {
	K, Left int
	Auto    bool
	Summary string
}

// sample queries the progress halfway between slice ends (every 5s from 2.5s on, for
// two minutes of the workflow clock), as zdm status would.
func sample(t *testing.T, env *testsuite.TestWorkflowEnvironment) *[]autoSample {
	var out []autoSample
	for at := 2500 * time.Millisecond; at < 2*time.Minute; at += 5 * time.Second {
		env.RegisterDelayedCallback(func() {
			v, err := env.QueryWorkflow(workflows.QueryProgress)
			require.NoError(t, err)
			var p workflows.Progress
			require.NoError(t, v.Get(&p))
			if p.Phase != workflows.PhaseBackfilling || len(p.Partitions) == 0 {
				return
			}
			left := 0
			for _, part := range p.Partitions {
				if !part.Done {
					left++
				}
			}
			out = append(out, autoSample{K: p.Parallelism, Left: left, Auto: p.ParallelismAuto, Summary: workflows.PartitionsSummary(p)})
		}, at)
	}
	return &out
}

// fellWhileAllLeft says whether the limit came down between two samples taken while
// every partition was still to finish: the governor's doing, not a partition's end.
func fellWhileAllLeft(samples []autoSample) bool {
	for i := 1; i < len(samples); i++ {
		a, b := samples[i-1], samples[i]
		if b.K < a.K && a.Left == spec.AutoParallelismMax && b.Left == spec.AutoParallelismMax {
			return true
		}
	}
	return false
}

// checkSamples asserts what the progress must always show with auto: the limit, which
// is between 1 and the partitions left.
func checkSamples(t *testing.T, samples []autoSample) {
	t.Helper()
	require.NotEmpty(t, samples)
	for i, s := range samples {
		assert.True(t, s.Auto, "sample %d", i)
		assert.GreaterOrEqual(t, s.K, 1, "sample %d", i)
		assert.LessOrEqual(t, s.K, s.Left, "sample %d: never more places than partitions left", i)
		assert.Contains(t, s.Summary, fmt.Sprintf("parallelism %d (auto)", s.K))
	}
}

func (f *autoFake) limits() []int {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []int
	for _, s := range f.starts {
		out = append(out, s.K)
	}
	return out
}

func autoMigration(t *testing.T) spec.Migration {
	m := parse(t, noFlagsYAML)
	m.Backfill.Parallelism = spec.ParallelismAuto
	require.Equal(t, spec.DefaultMaxAppP99, m.Backfill.MaxAppP99.D(), "auto runs with the default governor")
	return m
}

func autoEnv(t *testing.T, verdict func(int) (string, wire.GovernorState)) (*testsuite.TestWorkflowEnvironment, *fakeDB, *autoFake) {
	m := autoMigration(t)
	env := newEnv()
	db := newFakeDB(env, m)
	db.bounds.Upper = plan.Cursor{"40000"}
	db.install()
	f := newAutoFake(env, verdict)
	f.install()
	return env, db, f
}

// Calm slices: the first slice runs alone, each calm slice lets one more run, up to the
// four partitions; a partition that finishes frees its place.
func TestAutoParallelismGrowsOnCalmSlices(t *testing.T) {
	env, db, f := autoEnv(t, calm)
	m := autoMigration(t)
	samples := sample(t, env)
	var early, later workflows.Progress
	query := func(p *workflows.Progress) func() {
		return func() {
			v, err := env.QueryWorkflow(workflows.QueryProgress)
			require.NoError(t, err)
			require.NoError(t, v.Get(p))
		}
	}
	env.RegisterDelayedCallback(query(&early), 2*time.Second)
	env.RegisterDelayedCallback(query(&later), 17*time.Second)
	start := env.Now()

	env.ExecuteWorkflow(workflows.MigrationWorkflow, workflows.MigrationInput{Migration: m})

	require.True(t, env.IsWorkflowCompleted())
	require.NoError(t, env.GetWorkflowError())
	assert.Equal(t, seq("Prepare", "RunDDL expand", "Rehearse rollback", "BackfillBounds", "Verify", "Rehearse contract", "Contract", "Finish completed"), db.labels())
	assert.Equal(t, 1, f.prepared)
	f.check(t)
	require.Len(t, f.starts, 16, "four partitions of four slices")
	assert.Equal(t, autoStart{At: start, Part: 0, K: 1, AtOnce: 1, MaxK: 1}, f.starts[0], "the first slice runs alone")
	assert.Equal(t, start.Add(5*time.Second), f.starts[1].At, "the second waits for the first")
	assert.Equal(t, spec.AutoParallelismMax, f.mostAtOnce(), "calm slices reach every partition at once")
	// One more after each calm slice: 1, then 2 (two slices start at 5s), then 4 once
	// both returned at 10s.
	assert.Equal(t, []int{1, 2, 2}, f.limits()[:3])
	checkSamples(t, *samples)
	require.Greater(t, len(*samples), 3)
	assert.Equal(t, []int{1, 2, 4}, []int{(*samples)[0].K, (*samples)[1].K, (*samples)[2].K}, "at 2.5s, 7.5s and 12.5s")
	assert.False(t, fellWhileAllLeft(*samples), "calm slices never take a place away: %v", *samples)

	assert.True(t, early.ParallelismAuto)
	assert.Equal(t, 1, early.Parallelism)
	assert.Equal(t, "4 partitions, 0 done, parallelism 1 (auto)", workflows.PartitionsSummary(early))
	require.Len(t, early.Partitions, 4)
	assert.False(t, early.Partitions[0].Waiting, "the first partition runs")
	for _, p := range early.Partitions[1:] {
		assert.True(t, p.Waiting, "partition %d waits for a place", p.Part)
	}
	assert.True(t, later.ParallelismAuto)
	assert.Equal(t, 4, later.Parallelism)
	assert.Contains(t, workflows.PartitionsSummary(later), "parallelism 4 (auto)")
	for _, p := range later.Partitions {
		assert.False(t, p.Waiting, "all four run at 17s")
	}

	var res workflows.Result
	require.NoError(t, env.GetWorkflowResult(&res))
	assert.EqualValues(t, 40000, res.Progress.RowsDone)
	for _, p := range res.Progress.Partitions {
		assert.True(t, p.Done)
	}
	// Slower than four at once from the start (20s), faster than one at a time (80s).
	last := f.starts[len(f.starts)-1].At.Add(5 * time.Second)
	assert.Greater(t, last.Sub(start), 20*time.Second)
	assert.Less(t, last.Sub(start), 40*time.Second)
}

// An application that suffers once more than two slices run: each slice over the limit
// takes one place away, so the backfill settles around two at once and never reaches
// four.
func TestAutoParallelismShrinksWhenOver(t *testing.T) {
	env, _, f := autoEnv(t, crowdedAbove(2))
	samples := sample(t, env)
	env.ExecuteWorkflow(workflows.MigrationWorkflow, workflows.MigrationInput{Migration: autoMigration(t)})

	require.True(t, env.IsWorkflowCompleted())
	require.NoError(t, env.GetWorkflowError())
	f.check(t)
	assert.Len(t, f.starts, 16)
	assert.Positive(t, f.overs, "three at once went over the limit")
	assert.Greater(t, f.mostAtOnce(), 2, "more than two were tried")
	checkSamples(t, *samples)
	assert.True(t, fellWhileAllLeft(*samples), "slices over the limit took places away: %v", *samples)
}

// A governor holding the backfill back without being over the limit keeps the limit
// where it is: one partition at a time here, all sixteen slices one after another.
func TestAutoParallelismHoldsWhileGoverned(t *testing.T) {
	env, _, f := autoEnv(t, func(int) (string, wire.GovernorState) {
		return "app latency: pausing 20ms between batches", wire.GovernorState{Pause: 20 * time.Millisecond}
	})
	start := env.Now()
	env.ExecuteWorkflow(workflows.MigrationWorkflow, workflows.MigrationInput{Migration: autoMigration(t)})

	require.True(t, env.IsWorkflowCompleted())
	require.NoError(t, env.GetWorkflowError())
	f.check(t)
	require.Len(t, f.starts, 16)
	assert.Equal(t, 1, f.mostAtOnce())
	for i, s := range f.starts {
		assert.Equal(t, start.Add(time.Duration(i)*5*time.Second), s.At)
	}
}

// The limit travels across continue-as-new; the next run starts with it.
func TestAutoParallelismContinuesAsNew(t *testing.T) {
	env, _, f := autoEnv(t, calm)
	m := autoMigration(t)
	env.ExecuteWorkflow(workflows.MigrationWorkflow, workflows.MigrationInput{Migration: m, Options: workflows.Options{SlicesPerRun: 6}})

	require.True(t, env.IsWorkflowCompleted())
	next := nextInput(t, env.GetWorkflowError())
	require.NotNil(t, next.State)
	f.check(t)
	k := next.State.AutoParallelism
	assert.GreaterOrEqual(t, k, 3, "six calm slices raised the limit")
	assert.LessOrEqual(t, k, spec.AutoParallelismMax)
	assert.True(t, next.Migration.Backfill.Parallelism.Auto(), "auto survives the trip through the workflow's input")

	env2 := newEnv()
	db2 := newFakeDB(env2, m)
	db2.install()
	f2 := newAutoFake(env2, calm)
	for i, p := range next.State.Partitions {
		f2.committed[i] = int(p.RowsDone / 2500)
	}
	f2.install()
	next.Options.SlicesPerRun = 100
	env2.ExecuteWorkflow(workflows.MigrationWorkflow, next)

	require.True(t, env2.IsWorkflowCompleted())
	require.NoError(t, env2.GetWorkflowError())
	assert.Zero(t, f2.prepared, "the partitions travel in the state")
	f2.check(t)
	require.NotEmpty(t, f2.starts)
	assert.Equal(t, k, f2.starts[0].K, "the second run starts at the limit the first reached")
	assert.Equal(t, len(f.starts)+len(f2.starts), 16)
}

// A pause holds every partition: the slices running finish, none waiting for a place
// starts until resume.
func TestAutoParallelismPauses(t *testing.T) {
	env, _, f := autoEnv(t, calm)
	var whilePaused int
	env.RegisterDelayedCallback(func() { env.SignalWorkflow(workflows.SignalPause, map[string]any{"by": "bob"}) }, 12*time.Second)
	env.RegisterDelayedCallback(func() {
		f.mu.Lock()
		whilePaused = len(f.starts)
		f.mu.Unlock()
		env.SignalWorkflow(workflows.SignalResume, map[string]any{"by": "bob"})
	}, time.Hour)
	env.ExecuteWorkflow(workflows.MigrationWorkflow, workflows.MigrationInput{Migration: autoMigration(t)})

	require.True(t, env.IsWorkflowCompleted())
	require.NoError(t, env.GetWorkflowError())
	f.check(t)
	// By 12s: one slice at 0s, two at 5s, four at 10s.
	assert.Equal(t, 7, whilePaused, "only the slices running at the pause ran")
	assert.Len(t, f.starts, 16)
	assert.True(t, f.starts[7].At.After(f.starts[0].At.Add(time.Hour-time.Second)), "the next slice waited for resume")
}

// One partition failing for good cancels the others and rolls back, as with a number.
func TestAutoParallelismFailureRollsBack(t *testing.T) {
	env, db, f := autoEnv(t, calm)
	f.failPart = 1
	env.ExecuteWorkflow(workflows.MigrationWorkflow, workflows.MigrationInput{Migration: autoMigration(t)})

	require.True(t, env.IsWorkflowCompleted())
	err := env.GetWorkflowError()
	require.Error(t, err)
	assert.Contains(t, err.Error(), "bad value")
	labels := db.labels()
	assert.Equal(t, "Finish rolled_back", labels[len(labels)-1])
	assert.NotContains(t, labels, "Verify")
	f.check(t)
	f.mu.Lock()
	defer f.mu.Unlock()
	var failedAt time.Time
	for _, s := range f.starts {
		if s.Part == 1 {
			failedAt = s.At.Add(5 * time.Second)
			break
		}
	}
	require.False(t, failedAt.IsZero())
	for _, s := range f.starts {
		assert.False(t, s.At.After(failedAt), "no slice starts after the failure (partition %d at %s)", s.Part, s.At)
	}
}

// Cancelling an auto backfill: the running slices are cancelled and waited for, the
// partitions waiting for a place start nothing, and the migration rolls back.
func TestAutoParallelismCancelRollsBack(t *testing.T) {
	env, db, f := autoEnv(t, calm)
	env.RegisterDelayedCallback(env.CancelWorkflow, 7*time.Second)
	env.ExecuteWorkflow(workflows.MigrationWorkflow, workflows.MigrationInput{Migration: autoMigration(t)})

	require.True(t, env.IsWorkflowCompleted())
	err := env.GetWorkflowError()
	require.Error(t, err)
	assert.True(t, temporal.IsCanceledError(err), "%v", err)
	labels := db.labels()
	assert.Equal(t, "Finish rolled_back", labels[len(labels)-1])
	assert.NotContains(t, labels, "Verify")
	f.check(t)
	assert.Len(t, f.starts, 3, "one slice at 0s, two at 5s, none after the cancel at 7s")
}
