package spec

import "strings"

// checkLatencyQuery checks backfill.latency_query: valid PromQL, a Prometheus server to
// ask (guard.prometheus_url) and a limit to hold it to (max_app_p99).
func (m *Migration) checkLatencyQuery(add func(*FieldError)) {
	q := m.Backfill.LatencyQuery
	if q == "" {
		return
	}
	const field = "backfill.latency_query"
	if strings.TrimSpace(q) == "" {
		add(m.Errorf(field, "write a PromQL query giving the application's latency in seconds, or leave the field out", "is blank"))
		return
	}
	if CheckPromQL != nil {
		if err := CheckPromQL(q); err != nil {
			add(m.Errorf(field, "write a PromQL expression Prometheus accepts, e.g. histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket[30s])))",
				"is not valid PromQL: %s", oneLine(err.Error())))
		}
	}
	if m.Guard == nil || strings.TrimSpace(m.Guard.PrometheusURL) == "" {
		add(m.Errorf(field, "set guard.prometheus_url to the Prometheus server that holds the application's metrics",
			"has no Prometheus server to ask"))
	}
	if m.Backfill.MaxAppP99 == LatencyLimitOff {
		add(m.Errorf(field, "set backfill.max_app_p99 to the latency to keep under (20ms by default) instead of off, or leave latency_query out",
			"feeds the latency governor, and max_app_p99 is off"))
	}
}
