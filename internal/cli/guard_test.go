package cli

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/zdmhq/zdm/internal/wire"
	"github.com/zdmhq/zdm/workflows"
)

func TestStatusAndWatchShowTheBreachWithItsFigures(t *testing.T) {
	max := 0.01
	at := time.Date(2026, 12, 3, 14, 0, 0, 0, time.UTC)
	fig := wire.GuardFigure{Query: "error-ratio-new", Labels: `{variant="new"}`, Value: 0.104, Max: &max, Beyond: true}
	p := workflows.Progress{Migration: "m", Phase: workflows.PhaseAwaiting, AwaitingGate: "recover", Guard: &workflows.GuardState{
		Steps: []int{1, 10, 100}, Step: 1, Percent: 1, Recovering: true, Evaluations: 9, LastAt: at,
		Last: []wire.GuardFigure{fig},
		Breaches: []workflows.Breach{{Percent: 10, RevertedTo: 1, Figures: []wire.GuardFigure{fig}, DetectedAt: at,
			FlagBackAt: at.Add(412 * time.Millisecond), ToFlagBack: 412 * time.Millisecond}},
	}}
	line := LiveLine(p, 10)
	assert.Contains(t, line, "awaiting gate recover")
	assert.Contains(t, line, `read_new 1% (step 2/3)  BREACH: guard breached at 10%: error-ratio-new{variant="new"} = 0.104 > max 0.01; read_new back to 1% 412ms after the figures were read`)

	out := RenderStatus(StatusView{Name: "m", Progress: &p})
	assert.Contains(t, out, "rollout       read_new at 1% (step 2 of 3; steps 1% [10%] 100%)")
	assert.Contains(t, out, `guard         error-ratio-new{variant="new"} = 0.104 > max 0.01 (read 2026-12-03 14:00:00 UTC, 9 evaluations)`)
	assert.Contains(t, out, "breaches      2026-12-03 14:00:00 UTC: guard breached at 10%")
	assert.Contains(t, out, "(waiting at gate recover)")
	assert.Contains(t, out, "approve: zdm approve m --gate recover")
	assert.Contains(t, GateHelp("m", "recover", "u"), "switched read_new back; approving retries the rollout step")
}
