package workflows

// prometheusURL is the guard's Prometheus server, which backfill.latency_query asks ("" when
// the file has no latency_query: the slice's input then stays what it was).
func (r *run) prometheusURL() string {
	if r.m.Backfill.LatencyQuery == "" || r.m.Guard == nil {
		return ""
	}
	return r.m.Guard.PrometheusURL
}
