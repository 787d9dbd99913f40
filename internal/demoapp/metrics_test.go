package demoapp

import (
	"io"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestMetricsCountByReadNewVariant(t *testing.T) {
	a, err := New(Config{DatabaseURL: "postgres://u@h/db", UnleashURL: "http://x"})
	require.NoError(t, err)
	a.metrics.op(opRead, ModeDualWriteReadNew, 3*time.Millisecond, errInjected)
	a.metrics.op(opRead, ModeDualWriteReadNew, 2*time.Millisecond, nil)
	a.metrics.op(opUpdate, ModeDualWrite, time.Millisecond, nil)
	rec := httptest.NewRecorder()
	a.MetricsHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	out := string(body)
	assert.Contains(t, out, `zdm_demo_requests_total{op="read",read_new="on"} 2`)
	assert.Contains(t, out, `zdm_demo_errors_total{op="read",read_new="on"} 1`)
	assert.Contains(t, out, `zdm_demo_requests_total{op="update",read_new="off"} 1`)
	assert.Contains(t, out, `zdm_demo_errors_total{op="insert",read_new="off"} 0`, "every series exists from the start")
	assert.Contains(t, out, `zdm_demo_request_duration_seconds_count{read_new="on"} 2`)
}

func TestFaultRate(t *testing.T) {
	_, err := New(Config{DatabaseURL: "postgres://u@h/db", UnleashURL: "http://x", FaultRate: 1.5})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "FaultRate 1.5 is not a fraction from 0 to 1")

	a, err := New(Config{DatabaseURL: "postgres://u@h/db", UnleashURL: "http://x", FaultRate: 1})
	require.NoError(t, err)
	assert.True(t, a.faulty())
	require.NoError(t, a.SetFaultRate(0))
	for range 1000 {
		require.False(t, a.faulty())
	}
	require.NoError(t, a.SetFaultRate(0.1))
	n := 0
	for range 10000 {
		if a.faulty() {
			n++
		}
	}
	assert.InDelta(t, 1000, n, 200, "about one read in ten fails")
	assert.Error(t, a.SetFaultRate(-0.1))
}
