package e2e

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"

	"github.com/zdmhq/zdm/internal/cli"
	"github.com/zdmhq/zdm/internal/pgexec"
	"github.com/zdmhq/zdm/workflows"
)

// zdm start checks the file against the CLI's DATABASE_URL; the worker migrates its own.
// When the two are different databases, the worker refuses before changing anything and
// zdm start --wait says so, naming both. When they are the same, the migration runs.
func TestStartRefusedWhenTheWorkerMigratesAnotherDatabase(t *testing.T) {
	t.Parallel()
	workerDSN, workerDB := testDB(t)
	cliDSN, cliDB := testDB(t)
	srv := startDevServer(t)
	// zdm start always uses the task queue "zdm"; no other test of this package does.
	inProcessWorker(t, srv.Client, workflows.TaskQueue, workerDSN, false)
	accountsTable(t, workerDB, 1000)
	accountsTable(t, cliDB, 1000)
	before := schemaSnapshot(t, workerDB)

	name := "e2e-wrong-db-" + randomSuffix()
	file := filepath.Join(t.TempDir(), "m.yaml")
	require.NoError(t, os.WriteFile(file, []byte("name: "+name+"\ntable: accounts\noperations:\n  - rename_column: {column: name, to: full_name}\ngates: []\n"), 0o600))

	startCLI := func(dsn string) (int, string) {
		var out bytes.Buffer
		env := map[string]string{"DATABASE_URL": dsn, "TEMPORAL_ADDRESS": srv.hostPort, "USER": "e2e"}
		app := &cli.App{Stdout: &out, Stderr: &out, Getenv: func(k string) string { return env[k] },
			Dial: client.DialContext, Terminal: func() (bool, int) { return false, 0 }, Now: time.Now,
			PollInterval: 100 * time.Millisecond}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		code := app.Run(ctx, []string{"start", "-f", file, "--wait"})
		t.Logf("zdm start: exit %d\n%s", code, out.String())
		return code, out.String()
	}

	workerID, err := pgexec.DatabaseIdentity(context.Background(), workerDB)
	require.NoError(t, err)
	cliID, err := pgexec.DatabaseIdentity(context.Background(), cliDB)
	require.NoError(t, err)
	code, out := startCLI(cliDSN)
	assert.Equal(t, cli.ExitFailed, code)
	assert.Contains(t, out, "zdm start checked this migration against "+cliID.String()+", but the worker migrates "+workerID.String())
	assert.Contains(t, out, "point the CLI's DATABASE_URL and the worker's at the same database")
	assert.Equal(t, before, schemaSnapshot(t, workerDB), "the worker's database is as it was")
	assert.Zero(t, scalar[int64](t, workerDB, `SELECT count(*) FROM pg_namespace WHERE nspname = 'zdm'`), "nothing claimed")
	assert.Zero(t, scalar[int64](t, cliDB, `SELECT count(*) FROM pg_namespace WHERE nspname = 'zdm'`))

	// Pointed at the worker's database, the same file migrates it.
	code, _ = startCLI(workerDSN)
	assert.Equal(t, cli.ExitOK, code)
	assert.EqualValues(t, 1, scalar[int64](t, workerDB, `SELECT count(*) FROM pg_attribute WHERE attrelid = 'accounts'::regclass AND attname = 'full_name' AND NOT attisdropped`))
}
