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
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/zdmhq/zdm/internal/pgexec"
	"github.com/zdmhq/zdm/internal/plan"
	"github.com/zdmhq/zdm/internal/spec"
	"github.com/zdmhq/zdm/internal/wire"
	"github.com/zdmhq/zdm/workflows"
)

// fakePartitions stands in for the partitioned backfill's activities: partitions of
// 10000 keys each, walked 2500 rows per slice, each slice taking 5s.
type fakePartitions struct {
	env   *testsuite.TestWorkflowEnvironment
	n     int
	mu    sync.Mutex
	done  map[int]int // slices done per partition (as committed)
	calls []wire.PartitionSliceInput
	at    []time.Time
	// failPart fails that partition's slice with a final error (-1: none).
	failPart int
	prepared int
}

func newFakePartitions(env *testsuite.TestWorkflowEnvironment, n int) *fakePartitions {
	return &fakePartitions{env: env, n: n, done: map[int]int{}, failPart: -1}
}

// evenSplit is the split the mocked BackfillPartitions returns: partitions of 10,000
// keys each.
func evenSplit(in wire.PartitionsInput) *wire.PartitionsResult {
	res := &wire.PartitionsResult{SplitBy: "histogram"}
	for i := 0; i < in.Parallelism; i++ {
		p := plan.Partition{Part: i, Hi: plan.Cursor{fmt.Sprint((i + 1) * 10000)}}
		if i > 0 {
			p.Lo = plan.Cursor{fmt.Sprint(i * 10000)}
		}
		p.Cursor = p.Lo
		res.Partitions = append(res.Partitions, p)
	}
	return res
}

func (f *fakePartitions) install() {
	f.env.OnActivity(acts.BackfillPartitions, mock.Anything, mock.Anything).Return(func(_ context.Context, in wire.PartitionsInput) (*wire.PartitionsResult, error) {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.prepared++
		return evenSplit(in), nil
	})
	f.env.OnActivity(acts.BackfillPartitionSlice, mock.Anything, mock.Anything).After(5 * time.Second).Return(func(_ context.Context, in wire.PartitionSliceInput) (*wire.SliceProgress, error) {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.calls = append(f.calls, in)
		f.at = append(f.at, f.env.Now())
		if in.Part == f.failPart {
			return nil, temporal.NewNonRetryableApplicationError("bad value", wire.ErrSQL, nil)
		}
		f.done[in.Part]++
		n := f.done[in.Part]
		return &wire.SliceProgress{Cursor: plan.Cursor{fmt.Sprint(in.Part*10000 + n*2500)}, Rows: 2500, RowsDone: int64(n) * 2500,
			Batches: 1, Done: n == 4, Elapsed: 5 * time.Second}, nil
	})
}

func (f *fakePartitions) slicesOf(part int) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, c := range f.calls {
		if c.Part == part {
			n++
		}
	}
	return n
}

// partitionedEnv is a test environment whose fake database holds keys up to upper and
// whose fake partitions number n; the partitions' activities are registered by
// parts.install().
func partitionedEnv(m spec.Migration, n int, upper string) (*testsuite.TestWorkflowEnvironment, *fakeDB, *fakePartitions) {
	env := newEnv()
	db := newFakeDB(env, m)
	db.bounds.Upper = pgexec.Cursor{upper}
	db.install()
	return env, db, newFakePartitions(env, n)
}

func partitioned(t *testing.T, n int) spec.Migration {
	m := parse(t, noFlagsYAML)
	m.Backfill.Parallelism = spec.Parallelism(n)
	return m
}

func TestPartitionedBackfillRunsThePartitionsAtOnce(t *testing.T) {
	m := partitioned(t, 4)
	env, db, parts := partitionedEnv(m, 4, "40000")
	parts.install()
	var during workflows.Progress
	env.RegisterDelayedCallback(func() {
		v, err := env.QueryWorkflow(workflows.QueryProgress)
		require.NoError(t, err)
		require.NoError(t, v.Get(&during))
	}, 11*time.Second)
	start := env.Now()

	env.ExecuteWorkflow(workflows.MigrationWorkflow, workflows.MigrationInput{Migration: m})

	require.True(t, env.IsWorkflowCompleted())
	require.NoError(t, env.GetWorkflowError())
	assert.Equal(t, seq("Prepare", "RunDDL expand", "Rehearse rollback", "BackfillBounds", "Verify", "Rehearse contract", "Contract", "Finish completed"), db.labels(),
		"no single-cursor slice")
	assert.Zero(t, db.sliceCount())
	assert.Equal(t, 1, parts.prepared)
	for p := 0; p < 4; p++ {
		assert.Equal(t, 4, parts.slicesOf(p), "partition %d", p)
	}
	// Four partitions of four 5s slices each take 20s, not 80s.
	assert.Equal(t, start.Add(20*time.Second), parts.at[len(parts.at)-1])
	assert.Equal(t, spec.DefaultBatchSize, parts.calls[0].Slice.BatchSize)
	assert.Zero(t, parts.calls[0].Slice.MaxRowsPerSecond)

	assert.Equal(t, 4, during.Parallelism)
	require.Len(t, during.Partitions, 4)
	for _, p := range during.Partitions {
		assert.EqualValues(t, 5000, p.RowsDone, "two slices of each partition by 11s")
		assert.False(t, p.Done)
	}
	assert.EqualValues(t, 20000, during.RowsDone)

	var res workflows.Result
	require.NoError(t, env.GetWorkflowResult(&res))
	assert.EqualValues(t, 40000, res.Progress.RowsDone)
	assert.EqualValues(t, 16, res.Progress.Batches)
	for _, p := range res.Progress.Partitions {
		assert.True(t, p.Done)
		assert.EqualValues(t, 10000, p.RowsDone)
	}
}

// The run continues as new once its slices reach the limit, after the slices still
// running have returned; the next run goes on from each partition's cursor without
// splitting again.
func TestPartitionedBackfillContinuesAsNew(t *testing.T) {
	m := partitioned(t, 4)
	opts := workflows.Options{SlicesPerRun: 6}
	env, _, parts := partitionedEnv(m, 4, "40000")
	parts.install()

	env.ExecuteWorkflow(workflows.MigrationWorkflow, workflows.MigrationInput{Migration: m, Options: opts})

	require.True(t, env.IsWorkflowCompleted())
	next := nextInput(t, env.GetWorkflowError())
	st := next.State
	require.NotNil(t, st)
	require.Len(t, st.Partitions, 4)
	total := 0
	for i, p := range st.Partitions {
		n := parts.slicesOf(i)
		total += n
		assert.Equal(t, plan.Cursor{fmt.Sprint(i*10000 + n*2500)}, p.Cursor, "partition %d", i)
		assert.EqualValues(t, n*2500, p.RowsDone)
		assert.False(t, p.Done)
	}
	// The limit is reached at 6 slices; a partition whose slice returned just before
	// may have started another, which is waited for: never more than 6 + 3.
	assert.GreaterOrEqual(t, total, 6)
	assert.LessOrEqual(t, total, 9)
	assert.EqualValues(t, total*2500, st.RowsDone)
	assert.False(t, st.BackfillDone)

	env2 := newEnv()
	db2 := newFakeDB(env2, m)
	db2.install()
	parts2 := newFakePartitions(env2, 4)
	for i := 0; i < 4; i++ {
		parts2.done[i] = parts.slicesOf(i) // what the database committed
	}
	parts2.install()
	env2.ExecuteWorkflow(workflows.MigrationWorkflow, next)

	require.True(t, env2.IsWorkflowCompleted())
	require.NoError(t, env2.GetWorkflowError())
	assert.Zero(t, parts2.prepared, "the partitions travel in the state")
	assert.Equal(t, seq("Verify", "Rehearse contract", "Contract", "Finish completed"), db2.labels())
	for i := 0; i < 4; i++ {
		assert.Equal(t, 4-parts.slicesOf(i), parts2.slicesOf(i), "partition %d goes on from its cursor", i)
	}
	var res workflows.Result
	require.NoError(t, env2.GetWorkflowResult(&res))
	assert.EqualValues(t, 40000, res.Progress.RowsDone)
}

// max_rows_per_second bounds the whole backfill: each partition gets its share.
func TestPartitionedBackfillSharesTheRateLimit(t *testing.T) {
	m := partitioned(t, 4)
	m.Backfill.MaxRowsPerSecond = 1000
	env, _, parts := partitionedEnv(m, 4, "40000")
	parts.install()
	env.ExecuteWorkflow(workflows.MigrationWorkflow, workflows.MigrationInput{Migration: m})
	require.NoError(t, env.GetWorkflowError())
	for _, c := range parts.calls {
		assert.Equal(t, 250, c.Slice.MaxRowsPerSecond)
	}
}

// A pause holds every partition after its running slice; resume starts them all again.
func TestPartitionedBackfillPauses(t *testing.T) {
	m := partitioned(t, 3)
	env, _, parts := partitionedEnv(m, 3, "30000")
	parts.install()
	var whilePaused int
	env.RegisterDelayedCallback(func() { env.SignalWorkflow(workflows.SignalPause, map[string]any{"by": "bob"}) }, 2*time.Second)
	env.RegisterDelayedCallback(func() {
		parts.mu.Lock()
		whilePaused = len(parts.calls)
		parts.mu.Unlock()
		env.SignalWorkflow(workflows.SignalResume, map[string]any{"by": "bob"})
	}, time.Hour)

	env.ExecuteWorkflow(workflows.MigrationWorkflow, workflows.MigrationInput{Migration: m})

	require.True(t, env.IsWorkflowCompleted())
	require.NoError(t, env.GetWorkflowError())
	assert.Equal(t, 3, whilePaused, "only the slices running at the pause ran")
	assert.Len(t, parts.calls, 12)
}

// One partition failing for good cancels the others and rolls the migration back.
func TestPartitionedBackfillFailureRollsBack(t *testing.T) {
	m := partitioned(t, 4)
	env, db, parts := partitionedEnv(m, 4, "40000")
	parts.failPart = 2
	parts.install()

	env.ExecuteWorkflow(workflows.MigrationWorkflow, workflows.MigrationInput{Migration: m})

	require.True(t, env.IsWorkflowCompleted())
	err := env.GetWorkflowError()
	require.Error(t, err)
	assert.Contains(t, err.Error(), "bad value")
	labels := db.labels()
	assert.Equal(t, "Finish rolled_back", labels[len(labels)-1])
	assert.NotContains(t, labels, "Verify")
	assert.LessOrEqual(t, len(parts.calls), 4, "no partition starts another slice after the failure")
}
