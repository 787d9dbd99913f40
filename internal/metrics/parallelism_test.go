package metrics

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParallelismGaugeOnScrape(t *testing.T) {
	r := New()
	require.NotContains(t, scrape(t, r.Handler()), BackfillParallelism, "no gauge before an auto backfill")
	r.BackfillParallelism("users-email", 1)
	r.BackfillParallelism("users-email", 3)
	r.BackfillParallelism("orders-note", 2)
	page := scrape(t, r.Handler())
	for _, line := range []string{
		"# TYPE zdm_backfill_parallelism gauge",
		`zdm_backfill_parallelism{migration="users-email"} 3`,
		`zdm_backfill_parallelism{migration="orders-note"} 2`,
	} {
		require.Contains(t, page, line+"\n")
	}
}
