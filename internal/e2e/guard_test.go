package e2e

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zdmhq/zdm/internal/demoapp"
	"github.com/zdmhq/zdm/internal/flags"
	"github.com/zdmhq/zdm/internal/spec"
	"github.com/zdmhq/zdm/internal/testenv"
	"github.com/zdmhq/zdm/workflows"
)

// guardedStack is a guarded migration's real surroundings: a database seeded with the
// demo table, the demo application reading and writing it through Unleash with its new
// read path failing at faultRate, a Prometheus server of the test's own scraping the
// app every second, and a worker.
type guardedStack struct {
	srv   *devServer
	queue string
	app   *demoapp.App
	fc    *flags.Client
	m     spec.Migration
}

func newGuardedStack(t *testing.T, faultRate float64) *guardedStack {
	t.Helper()
	fl := newFlagged(t, 20_000)
	dsn, srv, queue, fc := fl.dsn, fl.srv, fl.queue, fl.fc

	suffix := randomSuffix()
	appCfg := flaggedAppConfig(dsn, "guard-dual-write-"+suffix, "guard-read-new-"+suffix)
	appCfg.FaultRate = faultRate
	app, err := demoapp.New(appCfg)
	require.NoError(t, err)
	metrics := httptest.NewServer(app.MetricsHandler())
	t.Cleanup(metrics.Close)
	prom := testenv.Prometheus(t, time.Second, strings.TrimPrefix(metrics.URL, "http://"))

	runApp(t, app)

	m := migration(t, fmt.Sprintf(`name: guarded-%s
table: public.customers
operations:
  - rename_column: {column: name, to: full_name}
  - add_column: {column: email_lower, type: text, backfill: "lower(email)", not_null: true, default: "''"}
backfill: {batch_size: 5000}
flags:
  dual_write: %s
  read_new: %s
  app_refresh: 1s
  rollout: [10, 50, 100]
  soak: 10s
guard:
  prometheus_url: %s
  interval: 2s
  queries:
    - name: error-ratio-read-new
      promql: 'sum(rate(zdm_demo_errors_total{read_new="on"}[5s])) / sum(rate(zdm_demo_requests_total{read_new="on"}[5s]))'
      max: 0.01
gates: [contract]
`, suffix, appCfg.DualWriteFlag, appCfg.ReadNewFlag, prom))
	archiveFlagsAtEnd(t, fc, m)
	return &guardedStack{srv: srv, queue: queue, app: app, fc: fc, m: m}
}

// breach waits for the guard to catch the fault and checks what it did: read_new off in
// Unleash, the breach recorded with its figures, and no error on the new read path once
// the app has seen the flag.
func (s *guardedStack) breach(t *testing.T) workflows.Breach {
	t.Helper()
	p := waitForGate(t, s.srv.Client, s.m.Name, spec.GateRecover, 3*time.Minute)
	require.NotNil(t, p.Guard)
	require.Len(t, p.Guard.Breaches, 1)
	b := p.Guard.Breaches[0]
	assert.Equal(t, 10, b.Percent)
	assert.Equal(t, 0, b.RevertedTo, "a breach at the first step switches read_new off")
	require.NotEmpty(t, b.Figures)
	assert.Equal(t, "error-ratio-read-new", b.Figures[0].Query)
	assert.Greater(t, b.Figures[0].Value, 0.01)
	pct, err := s.fc.Rollout(context.Background(), s.m.Flags.ReadNew)
	require.NoError(t, err)
	assert.Zero(t, pct, "read_new is off in Unleash")
	t.Logf("breach: %s; detected %s, flag back %s", b.Summary(), b.DetectedAt.Format(time.RFC3339Nano), b.FlagBackAt.Format(time.RFC3339Nano))
	assert.Less(t, b.ToFlagBack, 30*time.Second)

	// The app follows within its refresh interval; from then on the new read path
	// gets no traffic and so no error.
	time.Sleep(2 * time.Second)
	before := s.app.Stats()
	require.Positive(t, before.ErrorsReadNew, "the fault did reach the application")
	time.Sleep(4 * time.Second)
	after := s.app.Stats()
	assert.Equal(t, before.ErrorsReadNew, after.ErrorsReadNew, "no error after the revert")
	assert.Greater(t, after.Ops, before.Ops, "the app kept working")
	t.Logf("application: %d errors on the new read path before the revert, 0 in the 4s after", before.ErrorsReadNew)
	return b
}

func TestGuardedSwitchRevertsOnABreachAndRetriesOnceRecovered(t *testing.T) {
	t.Parallel()
	s := newGuardedStack(t, 0.1)
	run := start(t, s.srv.Client, s.queue, s.m, workflows.Options{})
	s.breach(t)

	// The fault is fixed; a person retries the step. The rollout goes on from 10%.
	require.NoError(t, s.app.SetFaultRate(0))
	approve(t, s.srv.Client, s.m.Name, spec.GateRecover)
	p := waitForGate(t, s.srv.Client, s.m.Name, spec.GateContract, 3*time.Minute)
	assert.Equal(t, 100, p.Guard.Percent)
	assert.Equal(t, "retried by e2e", p.Guard.Breaches[0].Decision)
	pct, err := s.fc.Rollout(context.Background(), s.m.Flags.ReadNew)
	require.NoError(t, err)
	assert.Equal(t, 100, pct)
	approve(t, s.srv.Client, s.m.Name, spec.GateContract)
	res, err := result(t, run, 2*time.Minute)
	require.NoError(t, err)
	assert.Equal(t, workflows.PhaseCompleted, res.Status)
	recordHistory(t, s.srv.Client, run, "guard-breach-retry.json")
}

func TestGuardedSwitchRollsBackWhenRecoverIsRejected(t *testing.T) {
	t.Parallel()
	s := newGuardedStack(t, 0.1)
	run := start(t, s.srv.Client, s.queue, s.m, workflows.Options{})
	s.breach(t)

	h, err := s.srv.Client.UpdateWorkflow(context.Background(), updateOpts(s.m.Name, workflows.UpdateReject,
		workflows.Decision{Gate: spec.GateRecover, By: "e2e", Comment: "the new read path is broken"}))
	require.NoError(t, err)
	require.NoError(t, h.Get(context.Background(), nil))
	res, err := result(t, run, 2*time.Minute)
	require.NoError(t, err)
	assert.Equal(t, workflows.PhaseRolledBack, res.Status)
	assert.False(t, flagOn(t, s.fc, s.m.Flags.ReadNew))
	assert.False(t, flagOn(t, s.fc, s.m.Flags.DualWrite))
	recordHistory(t, s.srv.Client, run, "guard-breach-rollback.json")
}
