package cli

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/zdmhq/zdm/workflows"
)

// status and watch say when max_app_p99 is what slows the backfill, and why.
func TestStatusAndWatchSayWhatTheGovernorHolds(t *testing.T) {
	why := "app latency: longest lock wait 34ms > 20ms (1 waiting); batches of 8ms"
	p := workflows.Progress{Phase: workflows.PhaseBackfilling, RowsTotal: 100, RowsDone: 40, Percent: 40, Governor: why}
	assert.Contains(t, LiveLine(p, 10), "GOVERNED: "+why)
	assert.Contains(t, RenderStatus(StatusView{Name: "m", Progress: &p}), "governed")
	assert.Contains(t, RenderStatus(StatusView{Name: "m", Progress: &p}), why+" (backfill.max_app_p99 slows the backfill)")
	p.Governor = ""
	assert.NotContains(t, LiveLine(p, 10), "GOVERNED")
	assert.NotContains(t, RenderStatus(StatusView{Name: "m", Progress: &p}), "governed")
}
