package slackbot

import (
	"fmt"

	"github.com/zdmhq/zdm/internal/notify"
	"github.com/zdmhq/zdm/workflows"
)

// guardFields are the guarded switch's fields of a status message: read_new's share and
// step, and the last breach with its figures.
func guardFields(p *workflows.Progress) []string {
	g := p.Guard
	if g == nil {
		return nil
	}
	rollout := fmt.Sprintf("read_new at %d%%", g.Percent)
	if g.Step < len(g.Steps) {
		rollout += fmt.Sprintf(", step %d of %d", g.Step+1, len(g.Steps))
	}
	out := []string{"*Rollout*\n" + rollout}
	if n := len(g.Breaches); n > 0 {
		b := g.Breaches[n-1]
		icon := ":rotating_light: "
		if b.Decision != "" {
			icon = ""
		}
		out = append(out, "*Guard breach*\n"+icon+notify.Truncate(notify.Escape(b.Summary()), 1800))
	}
	return out
}
