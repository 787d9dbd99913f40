package workflows_test

import (
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/zdmhq/zdm/activities"
	"github.com/zdmhq/zdm/workflows"
)

// attributeLog records the search attributes the workflow upserts.
type attributeLog struct {
	mu     sync.Mutex
	phases []string // consecutive repeats collapsed
	tables []string
}

func recordAttributes(env *testsuite.TestWorkflowEnvironment) *attributeLog {
	l := &attributeLog{}
	env.OnUpsertTypedSearchAttributes(mock.Anything).Run(func(args mock.Arguments) {
		sa := args.Get(0).(temporal.SearchAttributes)
		l.mu.Lock()
		defer l.mu.Unlock()
		if v, ok := sa.GetKeyword(workflows.MigrationPhase); ok && (len(l.phases) == 0 || l.phases[len(l.phases)-1] != v) {
			l.phases = append(l.phases, v)
		}
		if v, ok := sa.GetKeyword(workflows.MigrationTable); ok {
			l.tables = append(l.tables, v)
		}
	}).Return()
	return l
}

func TestSearchAttributesFollowThePhases(t *testing.T) {
	t.Run("completed", func(t *testing.T) {
		env := newEnv()
		m := parse(t, renameYAML)
		newFakeDB(env, m).install()
		attrs := recordAttributes(env)
		var atGate []string
		env.RegisterDelayedCallback(func() {
			attrs.mu.Lock()
			atGate = append([]string(nil), attrs.phases...)
			attrs.mu.Unlock()
			env.SignalWorkflow(workflows.SignalApprove, approve("read_new", "alice"))
		}, time.Minute)
		env.RegisterDelayedCallback(func() {
			env.SignalWorkflow(workflows.SignalApprove, approve("contract", "bob"))
		}, 2*time.Minute)

		env.ExecuteWorkflow(workflows.MigrationWorkflow, workflows.MigrationInput{Migration: m})

		require.True(t, env.IsWorkflowCompleted())
		require.NoError(t, env.GetWorkflowError())
		assert.Equal(t, []string{"validating", "expanding", "backfilling", "verifying", "awaiting_approval"}, atGate,
			"a person filtering on MigrationPhase finds the migration waiting")
		assert.Equal(t, []string{"validating", "expanding", "backfilling", "verifying", "awaiting_approval",
			"switching_reads", "awaiting_approval", "contracting", "completed"}, attrs.phases)
		assert.Equal(t, []string{"public.customers"}, attrs.tables)
	})

	t.Run("rejected", func(t *testing.T) {
		env := newEnv()
		m := parse(t, renameYAML)
		newFakeDB(env, m).install()
		attrs := recordAttributes(env)
		env.RegisterDelayedCallback(func() {
			env.SignalWorkflow(workflows.SignalReject, approve("read_new", "alice"))
		}, time.Minute)

		env.ExecuteWorkflow(workflows.MigrationWorkflow, workflows.MigrationInput{Migration: m})

		require.True(t, env.IsWorkflowCompleted())
		require.NoError(t, env.GetWorkflowError())
		assert.Equal(t, []string{"validating", "expanding", "backfilling", "verifying", "awaiting_approval",
			"rolling_back", "rolled_back"}, attrs.phases)
	})

	t.Run("invalid", func(t *testing.T) {
		env := newEnv()
		m := parse(t, renameYAML)
		db := newFakeDB(env, m)
		db.fail["Prepare"] = temporal.NewNonRetryableApplicationError("table public.customers has no primary key", activities.ErrInvalidMigration, nil)
		db.install()
		attrs := recordAttributes(env)

		env.ExecuteWorkflow(workflows.MigrationWorkflow, workflows.MigrationInput{Migration: m})

		require.True(t, env.IsWorkflowCompleted())
		require.Error(t, env.GetWorkflowError())
		assert.Equal(t, []string{"validating", "failed"}, attrs.phases)
		assert.Empty(t, attrs.tables)
	})
}
