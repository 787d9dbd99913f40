package spec_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zdmhq/zdm/internal/spec"
)

const guardedBase = "name: a\ntable: t\noperations:\n  - change_type: {column: a, type: bigint}\n" +
	"flags: {read_new: x}\nguard:\n  prometheus_url: http://p:9090\n  queries: [{name: e, promql: up, max: 1}]\n"

func TestLatencyQueryFeedsTheGovernor(t *testing.T) {
	q := `histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket[30s])))`
	m, err := spec.Parse("m.yaml", []byte(guardedBase+"backfill:\n  latency_query: '"+q+"'\n"))
	require.NoError(t, err)
	assert.Equal(t, q, m.Backfill.LatencyQuery)
}

func TestLatencyQueryNeedsPrometheusAGovernorAndPromQL(t *testing.T) {
	for _, c := range []struct{ name, file, want string }{
		{"no guard", "name: a\ntable: t\noperations:\n  - change_type: {column: a, type: bigint}\nbackfill: {latency_query: 'app_p99_seconds'}\n",
			"m.yaml:5: backfill.latency_query: has no Prometheus server to ask (fix: set guard.prometheus_url"},
		{"governor off", guardedBase + "backfill: {latency_query: 'app_p99_seconds', max_app_p99: off}\n",
			"backfill.latency_query: feeds the latency governor, and max_app_p99 is off (fix: set backfill.max_app_p99"},
		{"bad PromQL", guardedBase + "backfill: {latency_query: 'sum(rate(x[1m]) by'}\n",
			"backfill.latency_query: is not valid PromQL"},
		{"blank", guardedBase + "backfill: {latency_query: '  '}\n",
			"backfill.latency_query: is blank"},
	} {
		_, err := spec.Parse("m.yaml", []byte(c.file))
		require.Error(t, err, c.name)
		assert.Contains(t, err.Error(), c.want, c.name)
	}
}
