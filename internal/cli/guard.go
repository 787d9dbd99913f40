package cli

import (
	"fmt"
	"io"
	"strings"

	_ "github.com/zdmhq/zdm/internal/guard" // checks the guard's PromQL with Prometheus' parser
	"github.com/zdmhq/zdm/internal/spec"
	"github.com/zdmhq/zdm/workflows"
)

// GuardLine is the guarded switch in a few words for watch: read_new's share now and
// the step, and the last breach while the migration waits at the recover gate.
func GuardLine(p workflows.Progress) string {
	g := p.Guard
	if g == nil {
		return ""
	}
	s := fmt.Sprintf("read_new %d%%", g.Percent)
	if g.Step < len(g.Steps) {
		s += fmt.Sprintf(" (step %d/%d)", g.Step+1, len(g.Steps))
	}
	if g.Recovering && len(g.Breaches) > 0 {
		s += "  BREACH: " + g.Breaches[len(g.Breaches)-1].Summary()
	} else if g.Problem != "" {
		s += "  guard: " + g.Problem
	}
	return s
}

// renderGuard adds the guarded switch's rows to status: rollout, last figures, breaches.
func renderGuard(row func(k, format string, args ...any), p workflows.Progress) {
	g := p.Guard
	if g == nil {
		return
	}
	steps := make([]string, len(g.Steps))
	for i, s := range g.Steps {
		steps[i] = fmt.Sprintf("%d%%", s)
		if i == g.Step && g.Step < len(g.Steps) {
			steps[i] = "[" + steps[i] + "]"
		}
	}
	state := "every step soaked"
	if g.Step < len(g.Steps) {
		state = fmt.Sprintf("step %d of %d", g.Step+1, len(g.Steps))
		if !g.SoakEndsAt.IsZero() && g.Applied {
			state += ", soaks until " + g.SoakEndsAt.Format(timeLayout)
		}
	}
	row("rollout", "read_new at %d%% (%s; steps %s)", g.Percent, state, strings.Join(steps, " "))
	if len(g.Last) > 0 {
		figs := make([]string, len(g.Last))
		for i, f := range g.Last {
			figs[i] = workflows.FigureText(f)
		}
		row("guard", "%s (read %s, %d evaluations)", strings.Join(figs, "; "), g.LastAt.Format(timeLayout), g.Evaluations)
	}
	if g.Problem != "" {
		row("guard", "%s", g.Problem)
	}
	for i, b := range g.Breaches {
		k := ""
		if i == 0 {
			k = "breaches"
		}
		d := b.Decision
		if d == "" {
			d = "waiting at gate recover"
		}
		row(k, "%s: %s (%s)", b.DetectedAt.Format(timeLayout), b.Summary(), d)
	}
}

// renderGuardPlan says, in zdm plan, how read_new rolls out and what guards it.
func renderGuardPlan(w io.Writer, m *spec.Migration) {
	if !m.Guarded() {
		return
	}
	steps := make([]string, 0, len(m.Rollout()))
	for _, p := range m.Rollout() {
		steps = append(steps, fmt.Sprintf("%d%%", p))
	}
	fmt.Fprintf(w, "   rollout: %s of users (Unleash gradual rollout, sticky per user), %s each\n", strings.Join(steps, " -> "), m.Flags.Soak.D())
	g := m.Guard
	if g == nil {
		return
	}
	var checks []string
	for _, q := range g.Queries {
		var limits []string
		if q.Max != nil {
			limits = append(limits, fmt.Sprintf("above %g", *q.Max))
		}
		if q.Min != nil {
			limits = append(limits, fmt.Sprintf("below %g", *q.Min))
		}
		c := q.Name + " " + strings.Join(limits, " or ")
		if q.For > 0 {
			c += " for " + q.For.D().String()
		}
		if q.NoData == spec.NoDataBreach {
			c += " or without data"
		}
		checks = append(checks, c)
	}
	if g.HealthURL != "" {
		checks = append(checks, fmt.Sprintf("%s not answering 2xx within %s", g.HealthURL, g.HealthTimeout.D()))
	}
	fmt.Fprintf(w, "   guard: every %s, from the first step until contract begins, breached by: %s (Prometheus %s)\n",
		g.Interval.D(), strings.Join(checks, "; "), g.PrometheusURL)
	fmt.Fprintf(w, "   on a breach: flag %s back to the step before (off at the first), then gate recover: approve retries the step, reject rolls back\n", m.Flags.ReadNew)
}
