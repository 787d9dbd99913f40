package cli

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/zdmhq/zdm/workflows"
)

func TestStatusShowsEachPartition(t *testing.T) {
	p := workflows.Progress{Phase: workflows.PhaseBackfilling, RowsDone: 150000, RowsTotal: 200000, Batches: 30, Parallelism: 2,
		Partitions: []workflows.PartitionProgress{{Part: 0, RowsDone: 100000, Done: true}, {Part: 1, RowsDone: 50000}}}
	out := RenderStatus(StatusView{Name: "m", Progress: &p})
	assert.Contains(t, out, "partitions    2 partitions, 1 done\n")
	assert.Contains(t, out, "                #0  100,000 rows  done\n")
	assert.Contains(t, out, "                #1  50,000 rows  running\n")

	p.Partitions = nil
	assert.NotContains(t, RenderStatus(StatusView{Name: "m", Progress: &p}), "partitions")
}

func TestWatchLineCountsPartitionsWhileBackfilling(t *testing.T) {
	p := workflows.Progress{Phase: workflows.PhaseBackfilling, RowsDone: 10, Parallelism: 2,
		Partitions: []workflows.PartitionProgress{{Part: 0, RowsDone: 10, Done: true}, {Part: 1}}}
	assert.Contains(t, LiveLine(p, 10), "  backfilling  2 partitions, 1 done")
	p.Phase = workflows.PhaseVerifying
	assert.NotContains(t, LiveLine(p, 10), "partitions")
}
