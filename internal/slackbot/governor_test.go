package slackbot

import (
	"testing"

	"github.com/stretchr/testify/assert"
	enumspb "go.temporal.io/api/enums/v1"

	"github.com/zdmhq/zdm/internal/progress"
	"github.com/zdmhq/zdm/workflows"
)

// /migration status shows what max_app_p99 holds back, escaped, and nothing when it holds nothing.
func TestStatusSaysWhatTheGovernorHolds(t *testing.T) {
	bot := offlineBot(t, nil, Options{})
	v := statusView{Name: "orders", Live: true, FirstRunID: "run-0",
		Record: &progress.Record{WorkflowID: "zdm-orders", RunID: "run-1", Status: enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING},
		Progress: &workflows.Progress{Migration: "orders", Table: "public.orders", Phase: workflows.PhaseBackfilling,
			RowsDone: 10, RowsTotal: 100, Percent: 10,
			Governor: "app latency: longest lock wait 34ms > 20ms (1 waiting); batches of 8ms"}}
	j := blocksJSON(t, inChannel(statusText(v), bot.statusBlocks(v)...))
	assert.Contains(t, j, "*Governed*")
	assert.Contains(t, j, "app latency: longest lock wait 34ms \\u0026gt; 20ms (1 waiting); batches of 8ms")
	v.Progress.Governor = ""
	assert.NotContains(t, blocksJSON(t, inChannel(statusText(v), bot.statusBlocks(v)...)), "Governed")
}
