package activities_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/testsuite"

	"github.com/zdmhq/zdm/activities"
	"github.com/zdmhq/zdm/internal/spec"
	"github.com/zdmhq/zdm/internal/testenv"
	"github.com/zdmhq/zdm/internal/wire"
)

func ptr(f float64) *float64 { return &f }

// TestEvaluateGuardAgainstARealPrometheus reads a guard's figures from a Prometheus server
// scraping a small app: a ratio beyond its threshold, one within, a query without data,
// one the server refuses, and a health URL that answers 503.
func TestEvaluateGuardAgainstARealPrometheus(t *testing.T) {
	reg := prometheus.NewRegistry()
	requests := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "g_requests_total"}, []string{"read_new"})
	errs := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "g_errors_total"}, []string{"read_new"})
	reg.MustRegister(requests, errs)
	requests.WithLabelValues("on").Add(200)
	errs.WithLabelValues("on").Add(20)
	requests.WithLabelValues("off").Add(200)
	errs.WithLabelValues("off").Add(0)
	addr := testenv.UnhealthyApp(t, reg)
	prom := testenv.Prometheus(t, time.Second, addr)
	ratio := `sum by (read_new) (g_errors_total) / sum by (read_new) (g_requests_total)`
	testenv.WaitFor(t, 30*time.Second, "a scrape", func() bool {
		resp, err := http.Get(prom + "/api/v1/query?query=g_requests_total")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		var b [4096]byte
		n, _ := resp.Body.Read(b[:])
		return n > 0 && strings.Contains(string(b[:n]), `"read_new":"on"`)
	})

	var s testsuite.WorkflowTestSuite
	env := s.NewTestActivityEnvironment()
	env.RegisterActivity(&activities.Activities{})
	val, err := env.ExecuteActivity(wire.EvaluateGuard, wire.GuardInput{Migration: "m", Guard: spec.Guard{
		PrometheusURL: prom, Interval: spec.Duration(2 * time.Second),
		HealthURL: "http://" + addr + "/healthz", HealthTimeout: spec.Duration(time.Second),
		Queries: []spec.GuardQuery{
			{Name: "error-ratio", PromQL: ratio, Max: ptr(0.05)},
			{Name: "volume", PromQL: `sum(g_requests_total)`, Min: ptr(10), Max: ptr(1000)},
			{Name: "absent", PromQL: `sum(g_no_such_total)`, Max: ptr(1)},
			{Name: "range", PromQL: `g_errors_total[1m]`, Max: ptr(1)},
		},
	}})
	require.NoError(t, err)
	var res wire.GuardResult
	require.NoError(t, val.Get(&res))
	assert.WithinDuration(t, time.Now(), res.At, time.Minute)
	byName := map[string][]wire.GuardFigure{}
	for _, f := range res.Figures {
		byName[f.Query+f.Labels] = append(byName[f.Query+f.Labels], f)
	}
	on := byName[`error-ratio{read_new="on"}`]
	require.Len(t, on, 1)
	assert.InDelta(t, 0.1, on[0].Value, 1e-9)
	assert.True(t, on[0].Beyond, "0.1 is above max 0.05")
	off := byName[`error-ratio{read_new="off"}`]
	require.Len(t, off, 1)
	assert.False(t, off[0].Beyond)
	require.Len(t, byName["volume"], 1)
	assert.Equal(t, 400.0, byName["volume"][0].Value)
	assert.False(t, byName["volume"][0].Beyond)
	require.Len(t, byName["absent"], 1)
	assert.True(t, byName["absent"][0].NoData)
	assert.False(t, byName["absent"][0].Beyond, "no data is not a breach by itself")
	require.Len(t, byName["range"], 1)
	assert.Contains(t, byName["range"][0].Problem, "instant vector or a scalar")
	assert.False(t, byName["range"][0].Beyond)
	require.Len(t, byName[wire.HealthQuery], 1)
	assert.True(t, byName[wire.HealthQuery][0].Beyond, "a health URL answering 503 breaches")
	assert.Contains(t, byName[wire.HealthQuery][0].Problem, "503")
}
