package cli

import (
	"context"
	"encoding/json"
	"net/url"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/mocks"

	"github.com/zdmhq/zdm/internal/pgexec"
	"github.com/zdmhq/zdm/internal/testenv"
	"github.com/zdmhq/zdm/workflows"
)

// zdm start hands the worker the database it checked the file against (system identifier
// and name, never the URL), so that the worker can refuse to migrate another.
func TestStartTellsTheWorkerWhichDatabaseItChecked(t *testing.T) {
	dsn, pool := testenv.DB(t, "zdm_cli")
	_, err := pool.Exec(context.Background(), `CREATE TABLE orders (id bigint PRIMARY KEY, total_cents bigint)`)
	require.NoError(t, err)
	want, err := pgexec.DatabaseIdentity(context.Background(), pool)
	require.NoError(t, err)

	h := newHarness(t)
	h.env["DATABASE_URL"] = dsn
	run := mocks.NewWorkflowRun(t)
	run.On("GetID").Return("zdm-orders")
	run.On("GetRunID").Return("run-1")
	var got workflows.MigrationInput
	h.c.On("ExecuteWorkflow", mock.Anything, mock.Anything, mock.Anything, mock.Anything).
		Run(func(args mock.Arguments) { got = args.Get(3).(workflows.MigrationInput) }).Return(run, nil)

	require.Equal(t, ExitOK, h.run("start", "-f", writeFile(t, "m.yaml", validMigration)), h.err.String())
	require.NotNil(t, got.CheckedAgainst)
	assert.Equal(t, want, *got.CheckedAgainst)

	b, err := json.Marshal(got)
	require.NoError(t, err)
	u, err := url.Parse(dsn)
	require.NoError(t, err)
	for _, secret := range []string{dsn, u.User.String() + "@", u.Host} {
		assert.NotContains(t, string(b), secret, "no URL, user, password or host in the workflow's input")
	}
}
