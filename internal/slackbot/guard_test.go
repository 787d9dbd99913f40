package slackbot

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/zdmhq/zdm/internal/wire"
	"github.com/zdmhq/zdm/workflows"
)

func TestStatusShowsTheRolloutAndTheLastBreach(t *testing.T) {
	assert.Nil(t, guardFields(&workflows.Progress{}))
	max := 0.02
	p := &workflows.Progress{Guard: &workflows.GuardState{Steps: []int{10, 50, 100}, Step: 0, Percent: 0, Recovering: true,
		Breaches: []workflows.Breach{{Percent: 10, Figures: []wire.GuardFigure{{Query: "error-ratio", Value: 0.05, Max: &max, Beyond: true}},
			ToFlagBack: 300 * time.Millisecond}}}}
	assert.Equal(t, []string{
		"*Rollout*\nread_new at 0%, step 1 of 3",
		"*Guard breach*\n:rotating_light: guard breached at 10%: error-ratio = 0.05 &gt; max 0.02; read_new back to off 300ms after the figures were read",
	}, guardFields(p))
}
