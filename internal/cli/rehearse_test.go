package cli

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/mocks"

	"github.com/zdmhq/zdm/internal/demoapp"
	"github.com/zdmhq/zdm/internal/rehearse"
	"github.com/zdmhq/zdm/internal/testenv"
)

// zdm rehearse stores its report in the source's zdm.rehearsals; zdm start and zdm plan
// show the latest of the same file; require_rehearsal refuses a file without a recent
// successful one, and accepts it after.
func TestRehearseIsStoredShownAndRequired(t *testing.T) {
	srcDSN, src := testenv.DB(t, "zdm_cli_rehearse_src")
	scratchDSN, _ := testenv.DB(t, "zdm_cli_rehearse_scratch")
	ctx := context.Background()
	require.NoError(t, demoapp.Seed(ctx, src, "public.customers", 50000))

	demo, err := os.ReadFile(filepath.Join("..", "..", "examples", "customers-full-name.yaml"))
	require.NoError(t, err)
	required := writeFile(t, "required.yaml", string(demo)+"require_rehearsal: true\nrehearsal_max_age: 1h\n")

	h := newHarness(t)
	h.env["DATABASE_URL"] = srcDSN
	run := mocks.NewWorkflowRun(t)
	run.On("GetID").Return("zdm-customers-full-name").Maybe()
	run.On("GetRunID").Return("run-1").Maybe()
	started := 0
	h.c.On("ExecuteWorkflow", mock.Anything, mock.Anything, mock.Anything, mock.Anything).
		Run(func(mock.Arguments) { started++ }).Return(run, nil).Maybe()

	// Never rehearsed: plan says so, start refuses, naming the file, field and fix.
	require.Equal(t, ExitOK, h.run("plan", "-f", required), h.err.String())
	assert.Contains(t, h.stdout.String(), "rehearsal: never rehearsed")
	require.Equal(t, ExitFailed, h.run("start", "-f", required))
	assert.Contains(t, h.err.String(), required+":")
	assert.Contains(t, h.err.String(), "require_rehearsal")
	assert.Contains(t, h.err.String(), "zdm rehearse -f "+required)
	assert.Zero(t, started, "nothing started")

	// No scratch database, or the source as scratch: refused, nothing stored.
	require.Equal(t, ExitUsage, h.run("rehearse", "-f", required, "--sample", "20%"))
	assert.Contains(t, h.err.String(), "ZDM_REHEARSAL_DATABASE_URL")
	h.env["SAME"] = srcDSN
	require.Equal(t, ExitUsage, h.run("rehearse", "-f", required, "--scratch-url-env", "SAME"))
	assert.Contains(t, h.err.String(), "SAME points at the source database")
	assert.NotContains(t, h.err.String()+h.stdout.String(), "zdm:zdm@", "no URL in the output")

	// A rehearsal on a 20% sample under a write load, as JSON.
	h.env[DefaultScratchURLEnv] = scratchDSN
	require.Equal(t, ExitOK, h.run("rehearse", "-f", required, "--sample", "20%", "--load", "100/s", "--load-window", "1s", "--format", "json"), h.err.String())
	var rep rehearse.Report
	require.NoError(t, json.Unmarshal(h.stdout.Bytes(), &rep))
	assert.True(t, rep.Success, rep.Error)
	assert.Equal(t, 20.0, rep.Sample)
	assert.Greater(t, rep.PredictedSeconds, 0.0)
	assert.NotContains(t, h.err.String()+h.stdout.String(), scratchDSN, "no URL in the output")

	var stored int
	var checksum string
	require.NoError(t, src.QueryRow(ctx, `SELECT count(*), max(checksum) FROM zdm.rehearsals WHERE success`).Scan(&stored, &checksum))
	assert.Equal(t, 1, stored)
	assert.Equal(t, rep.Checksum, checksum)

	// Now plan and start show it, and start goes ahead.
	require.Equal(t, ExitOK, h.run("plan", "-f", required), h.err.String())
	assert.Regexp(t, `rehearsal: rehearsed \d+s ago on a 20% sample: predicted \d`, h.stdout.String())
	require.Equal(t, ExitOK, h.run("start", "-f", required), h.err.String())
	assert.Regexp(t, `(?m)^rehearsed \d+s ago on a 20% sample: predicted \d`, h.stdout.String())
	assert.Equal(t, 1, started)

	// The same migration edited is another file: its rehearsal does not count.
	edited := writeFile(t, "edited.yaml", string(demo)+"require_rehearsal: true\n# edited\n")
	require.Equal(t, ExitFailed, h.run("start", "-f", edited))
	assert.Contains(t, h.err.String(), "no successful rehearsal of this file")
	assert.Equal(t, 1, started)

	// A rehearsal older than rehearsal_max_age does not count either.
	_, err = src.Exec(ctx, `UPDATE zdm.rehearsals SET finished_at = finished_at - interval '2 hours'`)
	require.NoError(t, err)
	require.Equal(t, ExitFailed, h.run("start", "-f", required))
	assert.Contains(t, h.err.String(), "longer than rehearsal_max_age 1h0m0s")
	assert.Equal(t, 1, started)

	// The text report names every phase.
	h.env[DefaultScratchURLEnv] = scratchDSN
	require.Equal(t, ExitOK, h.run("rehearse", "-f", required, "--sample", "20%", "--load", "off"), h.err.String())
	for _, want := range []string{"rehearsal of customers-full-name", "backfill", "verify", "contract", "predicted for the real run:", "stored as rehearsal 2"} {
		assert.Contains(t, h.stdout.String(), want)
	}
	assert.False(t, strings.Contains(h.stdout.String(), "FAILED"))
}

// zdm migrate checks require_rehearsal for every file before it starts any.
func TestMigrateRefusesAFileThatRequiresARehearsal(t *testing.T) {
	dsn, pool := testenv.DB(t, "zdm_cli_rehearse_migrate")
	require.NoError(t, demoapp.Seed(context.Background(), pool, "public.customers", 100))
	demo, err := os.ReadFile(filepath.Join("..", "..", "examples", "customers-full-name.yaml"))
	require.NoError(t, err)
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "001_full_name.yaml"), append(demo, []byte("require_rehearsal: true\n")...), 0o644))

	h := newHarness(t)
	h.env["DATABASE_URL"] = dsn
	require.Equal(t, ExitFailed, h.run("migrate", dir))
	assert.Contains(t, h.err.String(), "001_full_name.yaml")
	assert.Contains(t, h.err.String(), "require_rehearsal")
	assert.Contains(t, h.err.String(), "run zdm rehearse -f")
	assert.Zero(t, h.dialed, "Temporal is not even asked")
}
