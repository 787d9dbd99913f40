package cli

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/zdmhq/zdm/workflows"
)

func TestRenderStatusUndoWindow(t *testing.T) {
	at := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
	p := &workflows.Progress{Phase: workflows.PhaseUndoWindow, Table: "public.customers", Gates: []string{"finalize"},
		StartedAt: at, Elapsed: 2 * time.Hour, UndoUntil: at.Add(26 * time.Hour)}
	got := RenderStatus(StatusView{Name: "customers", WorkflowID: "zdm-customers", Status: "Running", Progress: p})
	assert.Contains(t, got, "undo window   open until "+at.Add(26*time.Hour).Format(timeLayout)+" (24h00m left)\n")
	assert.Contains(t, got, "zdm revert customers --by <you>")
	assert.Contains(t, got, "zdm finalize customers --by <you>")
	assert.Contains(t, LiveLine(*p, 10), "undo window until ")

	p.Phase, p.UndoUntil = workflows.PhaseCompleted, time.Time{}
	got = RenderStatus(StatusView{Name: "customers", WorkflowID: "zdm-customers", Status: "Completed", Progress: p})
	assert.False(t, strings.Contains(got, "undo window"), "no window line once it ended")
}
