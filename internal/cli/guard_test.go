package cli

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zdmhq/zdm/internal/spec"
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

func TestPlanSaysHowReadNewRollsOutAndWhatGuardsIt(t *testing.T) {
	m, err := spec.ParseFile("../../examples/customers-guarded.yaml")
	require.NoError(t, err)
	var b strings.Builder
	renderGuardPlan(&b, m)
	assert.Equal(t, `   rollout: 10% -> 50% -> 100% of users (Unleash gradual rollout, sticky per user), 20s each
   guard: every 2s, from the first step until contract begins, breached by: error-ratio-read-new above 0.02; p99-read-new above 0.5 (Prometheus http://127.0.0.1:9091)
   on a breach: flag customers-guarded-read-new back to the step before (off at the first), then gate recover: approve retries the step, reject rolls back
`, b.String())
}
