package slackbot

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/zdmhq/zdm/workflows"
)

func TestProgressTextShowsAutoParallelism(t *testing.T) {
	p := &workflows.Progress{RowsDone: 250, RowsTotal: 1000, Percent: 25, Parallelism: 3, ParallelismAuto: true,
		Partitions: []workflows.PartitionProgress{{Part: 0, RowsDone: 250, Done: true}, {Part: 1}, {Part: 2}, {Part: 3}}}
	assert.Contains(t, progressText(statusView{Live: true, Progress: p}), "\n4 partitions, 1 done, parallelism 3 (auto)")
}
