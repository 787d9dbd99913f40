package metrics

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestPartitionMetricsOnScrape(t *testing.T) {
	r := New()
	require.NotContains(t, scrape(t, r.Handler()), PartitionRows, "no partition metric before a partitioned backfill")
	r.PartitionBatchDone("users-email", 0, 1000, 40*time.Millisecond)
	r.PartitionBatchDone("users-email", 0, 500, 40*time.Millisecond)
	r.PartitionBatchDone("users-email", 3, 7, time.Millisecond)
	page := scrape(t, r.Handler())
	for _, line := range []string{
		"# TYPE zdm_backfill_partition_rows_total counter",
		`zdm_backfill_partition_rows_total{migration="users-email",partition="0"} 1500`,
		`zdm_backfill_partition_rows_total{migration="users-email",partition="3"} 7`,
		`zdm_backfill_partition_batches_total{migration="users-email",partition="0"} 2`,
		`zdm_backfill_partition_batches_total{migration="users-email",partition="3"} 1`,
	} {
		require.Contains(t, page, line+"\n")
	}
}
