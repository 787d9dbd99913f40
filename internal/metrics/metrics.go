// Package metrics owns what the worker exports to Prometheus: the Temporal SDK's own
// metrics and zdm's (rows backfilled, batch durations, lock-timeout retries and the phase
// of each migration), all on one registry that the worker serves at /metrics.
package metrics

import (
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/uber-go/tally/v4"
	tallyprom "github.com/uber-go/tally/v4/prometheus"
	"go.temporal.io/sdk/client"
	sdktally "go.temporal.io/sdk/contrib/tally"

	"github.com/zdmhq/zdm/activities"
)

// Names of zdm's own metrics.
const (
	RowsBackfilled = "zdm_backfill_rows_total"
	BatchDuration  = "zdm_backfill_batch_duration_seconds"
	LockRetries    = "zdm_lock_timeout_retries_total"
	MigrationPhase = "zdm_migration_phase"
)

// Registry holds every metric the worker exports. It implements activities.Metrics.
type Registry struct {
	reg         *prometheus.Registry
	rows        *prometheus.CounterVec
	batches     *prometheus.HistogramVec
	lockRetries *prometheus.CounterVec
	phase       *prometheus.GaugeVec

	mu      sync.Mutex
	current map[string]string // migration -> phase whose gauge is 1

	// Per partition (partitions.go).
	partOnce              sync.Once
	partRows, partBatches *prometheus.CounterVec

	// parallelism: auto (parallelism.go).
	parOnce     sync.Once
	parallelism *prometheus.GaugeVec
}

var _ activities.Metrics = (*Registry)(nil)

// New returns a registry with zdm's metrics and the Go runtime and process collectors.
func New() *Registry {
	r := &Registry{
		reg: prometheus.NewRegistry(),
		rows: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: RowsBackfilled,
			Help: "Rows written by committed backfill batches.",
		}, []string{"migration"}),
		batches: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: BatchDuration,
			Help: "Time of one committed backfill batch (one transaction).",
			// 5 ms to about 20 s: a batch is meant to take well under a second.
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 13),
		}, []string{"migration"}),
		lockRetries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: LockRetries,
			Help: "Statements retried because lock_timeout expired before they got their lock.",
		}, []string{"migration", "statement"}),
		phase: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: MigrationPhase,
			Help: "1 for the phase a migration is in, 0 for the phases it has left.",
		}, []string{"migration", "phase"}),
		current: map[string]string{},
	}
	r.reg.MustRegister(r.rows, r.batches, r.lockRetries, r.phase,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return r
}

// BatchDone records one committed backfill batch.
func (r *Registry) BatchDone(migration string, rows int64, d time.Duration) {
	r.rows.WithLabelValues(migration).Add(float64(rows))
	r.batches.WithLabelValues(migration).Observe(d.Seconds())
}

// LockRetry records one statement retried after a lock timeout.
func (r *Registry) LockRetry(migration, statement string) {
	r.lockRetries.WithLabelValues(migration, statement).Inc()
}

// Phase records that migration is now in phase: its gauge goes to 1 and the gauge of the
// phase it was in before goes to 0.
func (r *Registry) Phase(migration, phase string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	prev, known := r.current[migration]
	if known && prev == phase {
		return
	}
	if known {
		r.phase.WithLabelValues(migration, prev).Set(0)
	}
	r.phase.WithLabelValues(migration, phase).Set(1)
	r.current[migration] = phase
}

// Handler serves the registry in the Prometheus text format.
func (r *Registry) Handler() http.Handler {
	return promhttp.HandlerFor(r.reg, promhttp.HandlerOpts{Registry: r.reg})
}

// TemporalHandler returns the metrics handler for the Temporal client (client.Options
// MetricsHandler): the SDK's metrics (temporal_*) land on this registry. Close the closer
// when the client is closed.
func (r *Registry) TemporalHandler(logger *slog.Logger) (client.MetricsHandler, io.Closer) {
	var once sync.Once
	reporter := tallyprom.NewReporter(tallyprom.Options{
		Registerer:       r.reg,
		DefaultTimerType: tallyprom.HistogramTimerType,
		// The default panics; a metric that cannot be registered is only lost.
		OnRegisterError: func(err error) {
			once.Do(func() { logger.Warn("a Temporal SDK metric could not be registered", "error", err) })
		},
	})
	scope, closer := tally.NewRootScope(tally.ScopeOptions{
		CachedReporter:  reporter,
		Separator:       tallyprom.DefaultSeparator,
		SanitizeOptions: &sdktally.PrometheusSanitizeOptions,
		// tally's own bookkeeping (tally_internal_*) tells an operator nothing.
		OmitCardinalityMetrics: true,
	}, time.Second)
	return sdktally.NewMetricsHandler(sdktally.NewPrometheusNamingScope(scope)), closer
}
