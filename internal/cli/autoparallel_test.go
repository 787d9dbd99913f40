package cli

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/zdmhq/zdm/workflows"
)

// With parallelism: auto, status and watch say how many partitions the governor lets
// run at once, and status which partitions wait for a place.
func TestStatusAndWatchShowAutoParallelism(t *testing.T) {
	p := workflows.Progress{Phase: workflows.PhaseBackfilling, RowsDone: 150000, RowsTotal: 400000, Parallelism: 2, ParallelismAuto: true,
		Partitions: []workflows.PartitionProgress{{Part: 0, RowsDone: 100000, Done: true}, {Part: 1, RowsDone: 30000}, {Part: 2, RowsDone: 20000}, {Part: 3, Waiting: true}}}
	out := RenderStatus(StatusView{Name: "m", Progress: &p})
	assert.Contains(t, out, "partitions    4 partitions, 1 done, parallelism 2 (auto)\n")
	assert.Contains(t, out, "                #1  30,000 rows  running\n")
	assert.Contains(t, out, "                #3  0 rows  waiting\n")
	assert.Contains(t, LiveLine(p, 10), "  backfilling  4 partitions, 1 done, parallelism 2 (auto)")

	p.ParallelismAuto = false
	assert.NotContains(t, RenderStatus(StatusView{Name: "m", Progress: &p}), "(auto)")
}
