package demoapp

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metric names the demo app exports, each labelled by the read_new variant the
// operation ran with ("on": the new read path, "off": the old one) and its kind.
const (
	MetricRequests = "zdm_demo_requests_total"
	MetricErrors   = "zdm_demo_errors_total"
	MetricLatency  = "zdm_demo_request_duration_seconds"
)

// appMetrics is what a guard watches: requests, errors and latency by variant.
type appMetrics struct {
	reg      *prometheus.Registry
	requests *prometheus.CounterVec
	errors   *prometheus.CounterVec
	latency  *prometheus.HistogramVec
}

func newAppMetrics() *appMetrics {
	m := &appMetrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: MetricRequests,
			Help: "Operations the demo app ran, by read_new variant (on/off) and kind."}, []string{"read_new", "op"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: MetricErrors,
			Help: "Operations that failed, by read_new variant (on/off) and kind."}, []string{"read_new", "op"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: MetricLatency,
			Help:    "Operation latency, by read_new variant (on/off).",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5}}, []string{"read_new"}),
	}
	m.reg.MustRegister(m.requests, m.errors, m.latency)
	// Both variants exist from the start, so a rate over them is 0 rather than absent.
	for _, v := range []string{"on", "off"} {
		for _, k := range []opKind{opRead, opUpdate, opInsert} {
			m.requests.WithLabelValues(v, k.String())
			m.errors.WithLabelValues(v, k.String())
		}
		m.latency.WithLabelValues(v)
	}
	return m
}

func variant(m Mode) string {
	if m.readsNew() {
		return "on"
	}
	return "off"
}

func (m *appMetrics) op(k opKind, mode Mode, latency time.Duration, err error) {
	v := variant(mode)
	m.requests.WithLabelValues(v, k.String()).Inc()
	if err != nil {
		m.errors.WithLabelValues(v, k.String()).Inc()
	}
	m.latency.WithLabelValues(v).Observe(latency.Seconds())
}

// MetricsHandler serves the app's metrics in Prometheus' text format.
func (a *App) MetricsHandler() http.Handler {
	return promhttp.HandlerFor(a.metrics.reg, promhttp.HandlerOpts{})
}
