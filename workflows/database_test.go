package workflows_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"

	"github.com/zdmhq/zdm/activities"
	"github.com/zdmhq/zdm/internal/planner"
	"github.com/zdmhq/zdm/workflows"
)

var appDB = planner.Identity{SystemID: "7642011472967116994", Database: "app"}

// databaseOf is the database an activity input names, and whether the input names one.
func databaseOf(in any) (planner.Identity, bool) {
	switch v := in.(type) {
	case activities.DDLInput:
		return v.Database, true
	case activities.ContractInput:
		return v.Plan.Database, true
	case activities.BoundsInput:
		return v.Target.Database, true
	case activities.SliceInput:
		return v.Target.Database, true
	case activities.VerifyInput:
		return v.Target.Database, true
	case activities.FinishInput:
		return v.Database, true
	}
	return planner.Identity{}, false
}

// assertEveryStepOn checks that every activity acting on the database was told which one.
func assertEveryStepOn(t *testing.T, db *fakeDB, want planner.Identity) {
	t.Helper()
	db.mu.Lock()
	defer db.mu.Unlock()
	n := 0
	for _, s := range db.steps {
		if got, ok := databaseOf(s.Input); ok {
			n++
			assert.Equal(t, want, got, s.Label)
		}
	}
	assert.NotZero(t, n)
}

// What zdm start checked reaches Prepare; the database Prepare's plan records reaches
// every activity after it, on the way forward.
func TestTheMigrationsDatabaseReachesEveryActivity(t *testing.T) {
	env := newEnv()
	m := parse(t, noFlagsYAML)
	db := newFakeDB(env, m)
	db.plan.Database = appDB
	db.install()

	checked := appDB
	env.ExecuteWorkflow(workflows.MigrationWorkflow, workflows.MigrationInput{Migration: m, CheckedAgainst: &checked})

	require.True(t, env.IsWorkflowCompleted())
	require.NoError(t, env.GetWorkflowError())
	prep := db.only(t, "Prepare").Input.(activities.PrepareInput)
	assert.Equal(t, &appDB, prep.CheckedAgainst)
	assert.Equal(t, seq("Prepare", "RunDDL expand", "Rehearse rollback", "BackfillBounds", repeat("BackfillSlice", 3), "Verify", "Rehearse contract", "Contract", "Finish completed"), db.labels())
	assertEveryStepOn(t, db, appDB)
}

// A worker on another database fails the migration where a failure may (here, verify),
// and the rollback is told the migration's database too.
func TestWrongDatabaseBeforeContractFailsAndRollsBackOnTheRightOne(t *testing.T) {
	env := newEnv()
	m := parse(t, noFlagsYAML)
	db := newFakeDB(env, m)
	db.plan.Database = appDB
	db.fail["Verify"] = temporal.NewApplicationError("this migration belongs to another database", activities.ErrWrongDatabase)
	db.install()

	env.ExecuteWorkflow(workflows.MigrationWorkflow, workflows.MigrationInput{Migration: m})

	require.True(t, env.IsWorkflowCompleted())
	require.Error(t, env.GetWorkflowError())
	assert.Len(t, db.calls("Verify"), 1, "final: not retried")
	assert.Equal(t, seq("Prepare", "RunDDL expand", "Rehearse rollback", "BackfillBounds", repeat("BackfillSlice", 3), "Verify", "RunDDL rollback", "Finish rolled_back"), db.labels())
	assertEveryStepOn(t, db, appDB)
}

// Past the last gate there is no going back: a contract refused by a worker on another
// database is retried until one on the migration's database takes it.
func TestWrongDatabaseAtContractIsRetried(t *testing.T) {
	env := newEnv()
	m := parse(t, noFlagsYAML)
	db := newFakeDB(env, m)
	db.plan.Database = appDB
	refused := 0
	env.OnActivity(acts.Contract, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.ContractInput) (*activities.DDLResult, error) {
		refused++
		return nil, temporal.NewApplicationError("this migration belongs to another database", activities.ErrWrongDatabase)
	}).Times(2)
	db.install()

	env.ExecuteWorkflow(workflows.MigrationWorkflow, workflows.MigrationInput{Migration: m})

	require.True(t, env.IsWorkflowCompleted())
	require.NoError(t, env.GetWorkflowError())
	assert.Equal(t, 2, refused)
	assert.Len(t, db.calls("Contract"), 1, "the third try, on the right worker, contracted")
	assert.Empty(t, db.calls("RunDDL rollback"))
}
