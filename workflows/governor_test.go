package workflows_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zdmhq/zdm/activities"
	"github.com/zdmhq/zdm/internal/governor"
	"github.com/zdmhq/zdm/internal/pgexec"
	"github.com/zdmhq/zdm/workflows"
)

// The governor's limit reaches every slice, each slice starts from the governor state
// the previous one left, and progress says what holds the backfill until it is done.
func TestGovernorStateCarriesFromSliceToSliceAndShowsInProgress(t *testing.T) {
	env := newEnv()
	m := parse(t, noFlagsYAML+"backfill: {max_app_p99: 30ms, target_batch_time: 25ms}\n")
	db := newFakeDB(env, m)
	holding := "app latency: longest lock wait 41ms > 30ms (2 waiting); batches of 9ms"
	db.slice = func(n int, in activities.SliceInput) activities.SliceProgress {
		p := activities.SliceProgress{
			Cursor: pgexec.Cursor{fmt.Sprint(n * 10000)}, Rows: 10000, RowsDone: int64(n) * 10000,
			Batches: 5, Done: n == 3, Elapsed: 2 * time.Second,
			GovernorState: governor.State{BatchTime: time.Duration(n) * 9 * time.Millisecond, Pause: time.Duration(n) * time.Millisecond, Over: true},
		}
		if n < 3 {
			p.Governor = holding
		}
		return p
	}
	db.sliceTakes = time.Second
	db.install()
	var during workflows.Progress
	env.RegisterDelayedCallback(func() { during = progressOf(t, env) }, 2500*time.Millisecond)
	runToEnd(t, env, workflows.MigrationInput{Migration: m})

	slices := db.calls("BackfillSlice")
	require.Len(t, slices, 3)
	for i, s := range slices {
		in := s.Input.(activities.SliceInput)
		assert.Equal(t, 30*time.Millisecond, in.MaxAppP99)
		assert.Equal(t, 25*time.Millisecond, in.TargetBatchTime)
		want := governor.State{}
		if i > 0 {
			want = governor.State{BatchTime: time.Duration(i) * 9 * time.Millisecond, Pause: time.Duration(i) * time.Millisecond, Over: true}
		}
		assert.Equal(t, want, in.Governor, "slice %d starts where the governor left the last one", i+1)
	}
	assert.Equal(t, holding, during.Governor)
	var res workflows.Result
	require.NoError(t, env.GetWorkflowResult(&res))
	assert.Empty(t, res.Progress.Governor, "nothing holds a finished backfill")
}

func TestGovernorOffSendsNoLimit(t *testing.T) {
	env := newEnv()
	m := parse(t, noFlagsYAML+"backfill: {max_app_p99: off}\n")
	db := newFakeDB(env, m)
	db.install()
	runToEnd(t, env, workflows.MigrationInput{Migration: m})
	for _, s := range db.calls("BackfillSlice") {
		assert.Zero(t, s.Input.(activities.SliceInput).MaxAppP99)
	}
}

// backfill.latency_query travels to every slice with the guard's Prometheus server; a
// file without one sends neither (TestGovernorOffSendsNoLimit's file has none).
func TestLatencyQueryReachesEverySlice(t *testing.T) {
	yaml := strings.Replace(guardedYAML, "backfill: {batch_size: 5000}", "backfill: {batch_size: 5000, latency_query: 'max(app_p99_seconds)'}", 1)
	m, env, db := guardedEnv(t, yaml)
	newFakeGuard(db, 0, 0, 0)
	env.RegisterDelayedCallback(func() { env.SignalWorkflow(workflows.SignalApprove, approve("contract", "bob")) }, 500*time.Second)
	runToEnd(t, env, workflows.MigrationInput{Migration: m})
	slices := db.calls("BackfillSlice")
	require.NotEmpty(t, slices)
	for _, s := range slices {
		in := s.Input.(activities.SliceInput)
		assert.Equal(t, "max(app_p99_seconds)", in.LatencyQuery)
		assert.Equal(t, "http://prometheus:9090", in.PrometheusURL)
	}

	env2 := newEnv()
	m2 := parse(t, noFlagsYAML)
	db2 := newFakeDB(env2, m2)
	db2.install()
	runToEnd(t, env2, workflows.MigrationInput{Migration: m2})
	for _, s := range db2.calls("BackfillSlice") {
		in := s.Input.(activities.SliceInput)
		assert.Empty(t, in.LatencyQuery)
		assert.Empty(t, in.PrometheusURL)
	}
}
