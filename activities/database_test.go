package activities

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/testsuite"

	"github.com/zdmhq/zdm/internal/pgexec"
	"github.com/zdmhq/zdm/internal/planner"
	"github.com/zdmhq/zdm/internal/spec"
	"github.com/zdmhq/zdm/internal/testenv"
)

func TestWrongDatabaseSaysBothAndTheFix(t *testing.T) {
	app := planner.Identity{SystemID: "76", Database: "app"}
	other := planner.Identity{SystemID: "76", Database: "app_staging"}

	assert.NoError(t, wrongDatabase(app, app))
	assert.NoError(t, wrongDatabase(app, planner.Identity{Database: "app"}), "a cluster one side could not read: the names decide")
	err := wrongDatabase(app, other)
	require.Error(t, err)
	assert.Contains(t, err.Error(), `this migration belongs to database "app" on cluster 76, but this worker's DATABASE_URL points at database "app_staging" on cluster 76`)
	assert.Contains(t, err.Error(), `fix: point the worker's DATABASE_URL at database "app" on cluster 76, or start the migration again against this one`)

	assert.NoError(t, checkedElsewhere(nil, app), "zdm start without DATABASE_URL checked nothing")
	assert.NoError(t, checkedElsewhere(&planner.Identity{}, app))
	assert.NoError(t, checkedElsewhere(&app, app))
	err = checkedElsewhere(&other, app)
	require.Error(t, err)
	assert.Contains(t, err.Error(), `zdm start checked this migration against database "app_staging" on cluster 76, but the worker migrates database "app" on cluster 76`)
	assert.Contains(t, err.Error(), "point the CLI's DATABASE_URL and the worker's at the same database")
}

const accountsDDL = `CREATE TABLE accounts (aid int PRIMARY KEY, abalance int NOT NULL, name text);
INSERT INTO accounts SELECT g, g, 'n' || g FROM generate_series(1, 100) g`

const renameYAML = "name: accounts-full-name\ntable: accounts\noperations:\n  - rename_column: {column: name, to: full_name}\ngates: []\n"

// twoDatabases gives the worker's database (with the accounts table) and another of the
// same cluster, which also has it: identical but for the name.
func twoDatabases(t *testing.T) (worker, other *pgxpool.Pool) {
	t.Helper()
	_, worker = testenv.DB(t, "zdm_acts")
	_, other = testenv.DB(t, "zdm_acts")
	for _, p := range []*pgxpool.Pool{worker, other} {
		_, err := p.Exec(context.Background(), accountsDDL)
		require.NoError(t, err)
	}
	return worker, other
}

func identityOf(t *testing.T, pool *pgxpool.Pool) planner.Identity {
	t.Helper()
	id, err := pgexec.DatabaseIdentity(context.Background(), pool)
	require.NoError(t, err)
	return id
}

func actsEnv(pool *pgxpool.Pool) (*testsuite.TestActivityEnvironment, *Activities) {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestActivityEnvironment()
	a := &Activities{DB: pool}
	env.RegisterActivity(a)
	return env, a
}

func parseMigration(t *testing.T, yaml string) spec.Migration {
	t.Helper()
	m, err := spec.Parse("accounts.yaml", []byte(yaml))
	require.NoError(t, err)
	return *m
}

func scalarOf[T any](t *testing.T, pool *pgxpool.Pool, sql string) T {
	t.Helper()
	var v T
	require.NoError(t, pool.QueryRow(context.Background(), sql).Scan(&v), sql)
	return v
}

func TestDatabaseIdentityNamesClusterAndDatabase(t *testing.T) {
	a, b := twoDatabases(t)
	ida, idb := identityOf(t, a), identityOf(t, b)
	assert.Equal(t, scalarOf[string](t, a, `SELECT current_database()`), ida.Database)
	assert.NotEmpty(t, ida.SystemID, "PostgreSQL 15 lets a plain role read pg_control_system()")
	assert.Equal(t, ida.SystemID, idb.SystemID, "one cluster")
	assert.NotEqual(t, ida.Database, idb.Database)
	assert.True(t, ida.Same(identityOf(t, a)))
	assert.False(t, ida.Same(idb))
}

// zdm start checked the file against one database, the worker is connected to another:
// Prepare refuses before it changes anything, and names both.
func TestPrepareRefusesWhenStartCheckedAnotherDatabase(t *testing.T) {
	workerDB, cliDB := twoDatabases(t)
	env, a := actsEnv(workerDB)
	checked := identityOf(t, cliDB)
	mine := identityOf(t, workerDB)

	_, err := env.ExecuteActivity(nilActs.Prepare, PrepareInput{Migration: parseMigration(t, renameYAML), RunID: "run-1", CheckedAgainst: &checked})
	app := appErr(t, err)
	assert.Equal(t, ErrInvalidMigration, app.Type())
	assert.True(t, app.NonRetryable())
	assert.Contains(t, app.Error(), "zdm start checked this migration against "+checked.String()+", but the worker migrates "+mine.String())
	for _, pool := range []*pgxpool.Pool{workerDB, cliDB} {
		assert.Zero(t, scalarOf[int64](t, pool, `SELECT count(*) FROM pg_namespace WHERE nspname = 'zdm'`), "nothing claimed, nothing created")
	}

	// Checked against the worker's own database, it goes on and the plan records it.
	v, err := env.ExecuteActivity(nilActs.Prepare, PrepareInput{Migration: parseMigration(t, renameYAML), RunID: "run-1", CheckedAgainst: &mine})
	require.NoError(t, err)
	var res PrepareResult
	require.NoError(t, v.Get(&res))
	assert.Equal(t, mine, res.Plan.Database)
	assert.Same(t, workerDB, a.db.pool, "the worker's identity is kept for its pool")
}

// A plan recorded for another database is refused by every activity that would act on
// it, before it touches anything; plans from before identities were recorded still run.
func TestActivitiesRefuseAPlanOfAnotherDatabase(t *testing.T) {
	planned, workerDB := twoDatabases(t)
	penv, _ := actsEnv(planned)
	v, err := penv.ExecuteActivity(nilActs.Prepare, PrepareInput{Migration: parseMigration(t, renameYAML), RunID: "run-1"})
	require.NoError(t, err)
	var res PrepareResult
	require.NoError(t, v.Get(&res))
	p := res.Plan
	require.Equal(t, identityOf(t, planned), p.Database)
	target := pgexec.TargetOf(&p)
	require.Equal(t, p.Database, target.Database)

	env, _ := actsEnv(workerDB)
	ddl := DDLInput{Migration: p.Migration, Phase: "expand", Statements: p.Expand, LockTimeout: p.LockTimeout, Database: p.Database}
	calls := map[string]func() error{
		"RunDDL":   func() error { _, err := env.ExecuteActivity(nilActs.RunDDL, ddl); return err },
		"Rehearse": func() error { _, err := env.ExecuteActivity(nilActs.Rehearse, ddl); return err },
		"Contract": func() error { _, err := env.ExecuteActivity(nilActs.Contract, ContractInput{Plan: p}); return err },
		"BackfillBounds": func() error {
			_, err := env.ExecuteActivity(nilActs.BackfillBounds, BoundsInput{Target: target})
			return err
		},
		"BackfillSlice": func() error {
			_, err := env.ExecuteActivity(nilActs.BackfillSlice, SliceInput{Target: target, Upper: pgexec.Cursor{"100"}, BatchSize: 10, Budget: 1e9})
			return err
		},
		"Verify": func() error {
			_, err := env.ExecuteActivity(nilActs.Verify, VerifyInput{Target: target, Upper: pgexec.Cursor{"100"}})
			return err
		},
		"Finish": func() error {
			_, err := env.ExecuteActivity(nilActs.Finish, FinishInput{Migration: p.Migration, Status: pgexec.StatusRolledBack, Database: p.Database})
			return err
		},
	}
	other := identityOf(t, workerDB)
	for name, call := range calls {
		app := appErr(t, call())
		assert.Equal(t, ErrWrongDatabase, app.Type(), name)
		assert.Contains(t, app.Error(), "this migration belongs to "+p.Database.String()+", but this worker's DATABASE_URL points at "+other.String(), name)
		assert.Contains(t, app.Error(), "point the worker's DATABASE_URL at "+p.Database.String()+", or start the migration again against this one", name)
	}
	assert.Zero(t, scalarOf[int64](t, workerDB, `SELECT count(*) FROM pg_attribute WHERE attrelid = 'accounts'::regclass AND attname = 'full_name'`), "expand did not run here")
	assert.Zero(t, scalarOf[int64](t, workerDB, `SELECT count(*) FROM pg_namespace WHERE nspname = 'zdm'`))

	// Without a recorded database (histories from before), nothing is checked.
	require.NoError(t, pgexec.EnsureState(context.Background(), workerDB))
	old := ddl
	old.Database = planner.Identity{}
	_, err = env.ExecuteActivity(nilActs.RunDDL, old)
	require.NoError(t, err)
	assert.EqualValues(t, 1, scalarOf[int64](t, workerDB, `SELECT count(*) FROM pg_attribute WHERE attrelid = 'accounts'::regclass AND attname = 'full_name'`))

	// On the database it was planned against, the same input runs.
	_, err = penv.ExecuteActivity(nilActs.RunDDL, ddl)
	require.NoError(t, err)
	assert.EqualValues(t, 1, scalarOf[int64](t, planned, `SELECT count(*) FROM pg_attribute WHERE attrelid = 'accounts'::regclass AND attname = 'full_name'`))
}
