package activities

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"go.temporal.io/sdk/activity"

	"github.com/zdmhq/zdm/internal/guard"
	"github.com/zdmhq/zdm/internal/spec"
	"github.com/zdmhq/zdm/internal/wire"
)

// Inputs and outputs of the guarded switch (package wire).
type (
	RolloutInput = wire.RolloutInput
	GuardInput   = wire.GuardInput
	GuardResult  = wire.GuardResult
	GuardFigure  = wire.GuardFigure
)

// SetRollout makes a flag on for a percent of the traffic through Unleash's gradual
// rollout (0: off). It is idempotent.
func (a *Activities) SetRollout(ctx context.Context, in RolloutInput) error {
	if err := a.ensureFlag(ctx, in.Flag, in.Description); err != nil {
		return err
	}
	return a.Flags.SetRollout(ctx, in.Flag, in.Percent)
}

// EvaluateGuard reads every figure of a guard once: each query as an instant query
// against the Prometheus server, and the health URL. It fails only on bad input; a
// server that cannot be reached is a figure with a Problem, for the workflow to show.
func (a *Activities) EvaluateGuard(ctx context.Context, in GuardInput) (*GuardResult, error) {
	g := in.Guard
	timeout := max(g.Interval.D(), 2*time.Second)
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	prom := guard.New(g.PrometheusURL, nil)
	res := &GuardResult{At: time.Now()}
	for _, q := range g.Queries {
		samples, err := prom.Query(ctx, q.PromQL)
		switch {
		case err != nil:
			res.Figures = append(res.Figures, GuardFigure{Query: q.Name, Max: q.Max, Min: q.Min, Problem: err.Error()})
			activity.GetLogger(ctx).Warn("guard query failed", "migration", in.Migration, "query", q.Name, "error", err)
		case len(samples) == 0:
			res.Figures = append(res.Figures, GuardFigure{Query: q.Name, Max: q.Max, Min: q.Min, NoData: true})
		}
		for _, s := range samples {
			beyond := (q.Max != nil && s.Value > *q.Max) || (q.Min != nil && s.Value < *q.Min) || math.IsInf(s.Value, 0)
			res.Figures = append(res.Figures, GuardFigure{Query: q.Name, Labels: s.Labels, Value: s.Value, Max: q.Max, Min: q.Min, Beyond: beyond})
		}
	}
	if g.HealthURL != "" {
		f := GuardFigure{Query: wire.HealthQuery}
		if err := guard.Health(ctx, g.HealthURL, g.HealthTimeout.D()); err != nil {
			f.Beyond, f.Problem = true, err.Error()
		}
		res.Figures = append(res.Figures, f)
	}
	res.At = time.Now()
	return res, nil
}

// checkGuard asks the guard's Prometheus, from the worker that will ask it during the
// rollout, to run each query once: a query this server refuses, or whose result a guard
// cannot use, is refused before anything changes; a server that does not answer is
// retried (Prepare's retries), then fails the migration before anything changes.
func checkGuard(ctx context.Context, m *spec.Migration) error {
	g := m.Guard
	if g == nil {
		return nil
	}
	prom := guard.New(g.PrometheusURL, nil)
	for i, q := range g.Queries {
		field := fmt.Sprintf("guard.queries[%d].promql", i)
		_, err := prom.Query(ctx, q.PromQL)
		switch {
		case errors.Is(err, guard.ErrRefused):
			return invalid(m.Errorf(field, "write an instant query this Prometheus accepts, giving a vector or a scalar", "%s", err))
		case err != nil:
			return fmt.Errorf("%s", m.Errorf("guard.prometheus_url", "start Prometheus, or correct the URL: the worker must reach it", "query %q: %s", q.Name, err))
		}
	}
	return nil
}
