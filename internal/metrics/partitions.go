package metrics

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/zdmhq/zdm/activities"
)

// Names of the partitioned backfill's metrics, labelled by migration and partition.
// zdm_backfill_rows_total and zdm_backfill_batch_duration_seconds keep counting every
// batch by migration alone, so dashboards on them stay right with partitions.
const (
	PartitionRows    = "zdm_backfill_partition_rows_total"
	PartitionBatches = "zdm_backfill_partition_batches_total"
)

var _ activities.PartitionMetrics = (*Registry)(nil)

// partitionVecs are created on the first partitioned batch this worker runs.
func (r *Registry) partitionVecs() (*prometheus.CounterVec, *prometheus.CounterVec) {
	r.partOnce.Do(func() {
		r.partRows = prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: PartitionRows,
			Help: "Rows written by committed backfill batches, per partition of a partitioned backfill.",
		}, []string{"migration", "partition"})
		r.partBatches = prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: PartitionBatches,
			Help: "Committed backfill batches, per partition of a partitioned backfill.",
		}, []string{"migration", "partition"})
		r.reg.MustRegister(r.partRows, r.partBatches)
	})
	return r.partRows, r.partBatches
}

// PartitionBatchDone records one committed batch of partition part.
func (r *Registry) PartitionBatchDone(migration string, part int, rows int64, _ time.Duration) {
	rowsVec, batches := r.partitionVecs()
	label := strconv.Itoa(part)
	rowsVec.WithLabelValues(migration, label).Add(float64(rows))
	batches.WithLabelValues(migration, label).Inc()
}
