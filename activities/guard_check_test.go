package activities

import (
	"context"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"

	"github.com/zdmhq/zdm/internal/spec"
	"github.com/zdmhq/zdm/internal/testenv"
)

// Prepare asks the guard's Prometheus each query once: what it refuses is refused before
// anything changes, and a server that does not answer fails with the field to fix.
func TestPrepareChecksTheGuardAgainstItsPrometheus(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := &http.Server{Handler: http.NotFoundHandler()}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	prom := testenv.Prometheus(t, time.Second, ln.Addr().String())

	m := &spec.Migration{Source: spec.Source{File: "m.yaml", Lines: map[string]int{"guard.prometheus_url": 7, "guard.queries[1].promql": 12}},
		Guard: &spec.Guard{PrometheusURL: prom, Queries: []spec.GuardQuery{
			{Name: "ok", PromQL: `sum(up)`},
			{Name: "range", PromQL: `up[1m]`},
		}}}
	err = checkGuard(context.Background(), m)
	require.Error(t, err)
	var app *temporal.ApplicationError
	require.ErrorAs(t, err, &app)
	assert.Equal(t, ErrInvalidMigration, app.Type())
	assert.True(t, app.NonRetryable())
	assert.Contains(t, err.Error(), "m.yaml:12: guard.queries[1].promql: prometheus: the query gives a matrix")

	m.Guard.Queries = m.Guard.Queries[:1]
	require.NoError(t, checkGuard(context.Background(), m))

	m.Guard.PrometheusURL = "http://" + testenv.FreeAddr(t)
	err = checkGuard(context.Background(), m)
	require.Error(t, err)
	assert.False(t, temporal.IsApplicationError(err), "an unreachable server is retried")
	assert.Contains(t, err.Error(), `m.yaml:7: guard.prometheus_url: query "ok": prometheus:`)
	assert.Contains(t, err.Error(), "(fix: start Prometheus, or correct the URL: the worker must reach it)")
}
