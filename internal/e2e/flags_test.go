package e2e

import (
	"context"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	sdkpb "go.temporal.io/api/sdk/v1"
	"go.temporal.io/sdk/client"

	"github.com/zdmhq/zdm/internal/demoapp"
	"github.com/zdmhq/zdm/internal/flags"
	"github.com/zdmhq/zdm/internal/spec"
	"github.com/zdmhq/zdm/workflows"
)

// exampleMigration reads examples/customers-full-name.yaml, renamed so that runs and
// their Unleash flags do not collide.
func exampleMigration(t *testing.T, suffix string) spec.Migration {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	path := filepath.Join(filepath.Dir(file), "..", "..", "examples", "customers-full-name.yaml")
	m, err := spec.ParseFile(path)
	require.NoError(t, err)
	m.Name += "-" + suffix
	m.Flags.DualWrite += "-" + suffix
	m.Flags.ReadNew += "-" + suffix
	return *m
}

func flagOn(t *testing.T, fc *flags.Client, name string) bool {
	t.Helper()
	on, err := fc.Enabled(context.Background(), name)
	require.NoError(t, err)
	return on
}

// TestDemoMigrationWithFlags runs the example migration with the demo application
// reading and writing through Unleash flags the whole time, and approves the read_new
// gate the way a person does in the Temporal UI: with a signal.
func TestDemoMigrationWithFlags(t *testing.T) {
	t.Parallel()
	fl := newFlagged(t, 100_000)
	dsn, pool, srv, queue, fc := fl.dsn, fl.pool, fl.srv, fl.queue, fl.fc

	m := exampleMigration(t, randomSuffix())
	archiveFlagsAtEnd(t, fc, m)
	app, err := demoapp.New(flaggedAppConfig(dsn, m.Flags.DualWrite, m.Flags.ReadNew))
	require.NoError(t, err)
	stopApp := runApp(t, app)

	run := start(t, srv.Client, queue, m, workflows.Options{})
	p := waitForGate(t, srv.Client, m.Name, "read_new", 2*time.Minute)
	assert.Equal(t, workflows.PhaseAwaiting, p.Phase)
	assert.EqualValues(t, 100, p.Percent)
	assert.True(t, flagOn(t, fc, m.Flags.DualWrite), "dual_write is on once expanded")
	assert.False(t, flagOn(t, fc, m.Flags.ReadNew), "read_new waits for its gate")
	waitFor(t, 10*time.Second, "the app to dual-write", func() bool { return app.Stats().ModeOps[string(demoapp.ModeDualWrite)] > 0 })

	// The Temporal UI builds its "Send a Signal" picker from this query.
	uiLists(t, srv.Client, m.Name)

	// What a person might send from the UI by mistake is refused and never acted on.
	for _, bad := range []any{
		map[string]any{"gate": "contract", "by": "ui-user"},
		map[string]any{"gate": "read_new"},
		map[string]any{"gate": "read_new", "by": "ui-user", "approver": "typo"},
		"yes",
	} {
		require.NoError(t, srv.Client.SignalWorkflow(context.Background(), spec.WorkflowID(m.Name), "", workflows.SignalApprove, bad))
		waitFor(t, 10*time.Second, "refusal recorded", func() bool {
			p := progress(t, srv.Client, m.Name)
			return p.LastRefusal != "" && p.AwaitingGate == "read_new" && strings.Contains(p.LastRefusal, refusalHint(bad))
		})
	}
	require.NoError(t, srv.Client.SignalWorkflow(context.Background(), spec.WorkflowID(m.Name), "", workflows.SignalApprove,
		workflows.Decision{Gate: "read_new", By: "ui-user", Comment: "reads look good"}))

	p = waitForGate(t, srv.Client, m.Name, "contract", time.Minute)
	assert.True(t, flagOn(t, fc, m.Flags.ReadNew))
	require.Len(t, p.Approvals, 1)
	assert.Equal(t, "ui-user", p.Approvals[0].By)
	assert.Equal(t, "signal", p.Approvals[0].Via)
	waitFor(t, 10*time.Second, "the app to read the new columns", func() bool {
		return app.Stats().ModeOps[string(demoapp.ModeDualWriteReadNew)] > 0
	})

	approve(t, srv.Client, m.Name, "contract")
	res, err := result(t, run, time.Minute)
	require.NoError(t, err)
	assert.Equal(t, workflows.PhaseCompleted, res.Status)
	assert.False(t, flagOn(t, fc, m.Flags.DualWrite), "after contract the app writes the new columns only")
	assert.True(t, flagOn(t, fc, m.Flags.ReadNew))
	before := app.Stats().ModeOps[string(demoapp.ModeNew)]
	waitFor(t, 10*time.Second, "the app to run as new code", func() bool {
		return app.Stats().ModeOps[string(demoapp.ModeNew)] > before+50
	})
	recordHistory(t, srv.Client, run, "demo-flags-gates.json")
	require.NoError(t, stopApp())
	st := app.Stats()
	t.Logf("demo app: %d ops, %d errors, max latency %s, p99 %s, per mode %v", st.Ops, st.Errors, st.MaxLatency, st.P99, st.ModeOps)
	assert.Zero(t, st.Errors, "the application must not see a single error: %v", st.FirstErrors)

	assert.Zero(t, scalar[int64](t, pool, `SELECT count(*) FROM information_schema.columns WHERE table_name = 'customers' AND column_name = 'name'`))
	assert.Equal(t, "NO", scalar[string](t, pool, `SELECT is_nullable FROM information_schema.columns WHERE table_name = 'customers' AND column_name = 'full_name'`))
	assert.Equal(t, "NO", scalar[string](t, pool, `SELECT is_nullable FROM information_schema.columns WHERE table_name = 'customers' AND column_name = 'email_lower'`))
	assert.Zero(t, scalar[int64](t, pool, `SELECT count(*) FROM customers WHERE email_lower IS DISTINCT FROM lower(email)`))
}

func refusalHint(bad any) string {
	switch v := bad.(type) {
	case string:
		return "malformed payload"
	case map[string]any:
		if _, ok := v["approver"]; ok {
			return "unknown field"
		}
		if _, ok := v["by"]; !ok {
			return `"by" is required`
		}
		return `waiting at gate "read_new", not "contract"`
	}
	return ""
}

// uiLists checks what the Temporal UI shows of a running migration: every signal, update
// and query, each with a description.
func uiLists(t *testing.T, c client.Client, name string) {
	t.Helper()
	v, err := c.QueryWorkflow(context.Background(), spec.WorkflowID(name), "", "__temporal_workflow_metadata")
	require.NoError(t, err)
	var md sdkpb.WorkflowMetadata
	require.NoError(t, v.Get(&md))
	described := func(defs []*sdkpb.WorkflowInteractionDefinition) map[string]string {
		out := map[string]string{}
		for _, d := range defs {
			out[d.GetName()] = d.GetDescription()
		}
		return out
	}
	signals := described(md.GetDefinition().GetSignalDefinitions())
	for _, s := range []string{workflows.SignalApprove, workflows.SignalReject, workflows.SignalPause, workflows.SignalResume} {
		assert.NotEmpty(t, signals[s], "signal %s must be listed with a description", s)
	}
	assert.Contains(t, signals[workflows.SignalApprove], `"gate"`, "the description shows the payload to send")
	updates := described(md.GetDefinition().GetUpdateDefinitions())
	assert.NotEmpty(t, updates[workflows.UpdateApprove])
	assert.NotEmpty(t, updates[workflows.UpdateReject])
	assert.NotEmpty(t, described(md.GetDefinition().GetQueryDefinitions())[workflows.QueryProgress])
}
