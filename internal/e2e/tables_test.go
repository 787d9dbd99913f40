package e2e

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zdmhq/zdm/workflows"
)

// One migration file changes two tables: the workflow backfills the one that needs it,
// runs the other's statements in the same phases, and claims both, so that a second
// migration touching either waits its turn.
func TestOneMigrationOverTwoTablesClaimsBoth(t *testing.T) {
	t.Parallel()
	dsn, pool := testDB(t)
	srv := startDevServer(t)
	queue := "zdm-e2e-" + randomSuffix()
	inProcessWorker(t, srv.Client, queue, dsn, false)
	accountsTable(t, pool, 50_000)
	exec1(t, pool, `CREATE TABLE branches (bid int PRIMARY KEY, bname text); INSERT INTO branches SELECT g, 'branch ' || g FROM generate_series(0, 9) g`)
	next := &int64Counter{}
	next.v.Store(10_000_000)
	l := startLoad(t, pool, 2, oldCodeWrites(next))

	m := migration(t, `name: e2e-two-tables
table: accounts
operations:
  - alter_column: {column: abalance, type: bigint, check: {name: accounts_abalance_nonneg, constraint: "abalance >= 0"}}
  - set_default: {table: branches, column: bname, default: "'main'"}
  - create_index: {table: branches, name: branches_bname_idx, columns: [bname]}
gates: [contract]
`)
	run := start(t, srv.Client, queue, m, workflows.Options{})
	waitForGate(t, srv.Client, m.Name, "contract", 3*time.Minute)
	assert.Equal(t, "{public.accounts,public.branches}", scalar[string](t, pool, `SELECT tables::text FROM zdm.migrations WHERE name = $1`, m.Name))

	other := migration(t, `name: e2e-branches-too
table: branches
operations:
  - drop_default: {column: bname}
gates: []
`)
	_, err := result(t, start(t, srv.Client, queue, other, workflows.Options{}), time.Minute)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "table public.branches is already being migrated by e2e-two-tables")

	approve(t, srv.Client, m.Name, "contract")
	res, err := result(t, run, 2*time.Minute)
	require.NoError(t, err)
	l.stop()
	l.report(t)
	assert.Zero(t, l.errs.Load())
	assert.Equal(t, workflows.PhaseCompleted, res.Status)
	assert.Positive(t, res.Progress.RowsDone)
	assert.Equal(t, "bigint", scalar[string](t, pool, `SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = 'accounts'::regclass AND attname = 'abalance'`))
	assert.True(t, scalar[bool](t, pool, `SELECT convalidated FROM pg_constraint WHERE conname = 'accounts_abalance_nonneg'`))
	assert.Equal(t, "'main'::text", scalar[string](t, pool, `SELECT pg_get_expr(adbin, adrelid) FROM pg_attrdef WHERE adrelid = 'branches'::regclass`))
	assert.True(t, scalar[bool](t, pool, `SELECT indisvalid FROM pg_index WHERE indexrelid = 'branches_bname_idx'::regclass`))
	assert.Zero(t, scalar[int64](t, pool, `SELECT count(*) FROM accounts WHERE abalance IS NULL`))

	// Both tables are free again.
	_, err = result(t, start(t, srv.Client, queue, other, workflows.Options{}), time.Minute)
	require.NoError(t, err)
}
