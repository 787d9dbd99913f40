package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/zdmhq/zdm/activities"
)

// BackfillParallelism is the gauge of a `parallelism: auto` backfill: how many of its
// partitions the latency governor let run at once when this worker last started one of
// its slices. The workflow decides the number; each slice carries it, so the gauge
// lags by at most one slice and keeps its last value once the backfill ended.
const BackfillParallelism = "zdm_backfill_parallelism"

var _ activities.ParallelismMetrics = (*Registry)(nil)

// BackfillParallelism records the limit a slice of migration's backfill started with.
func (r *Registry) BackfillParallelism(migration string, n int) {
	r.parOnce.Do(func() {
		r.parallelism = prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: BackfillParallelism,
			Help: "Partitions of a parallelism: auto backfill allowed to run at once, as the latest slice started.",
		}, []string{"migration"})
		r.reg.MustRegister(r.parallelism)
	})
	r.parallelism.WithLabelValues(migration).Set(float64(n))
}
