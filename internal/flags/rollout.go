package flags

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
)

// strategy is one activation strategy of a flag in an environment.
type strategy struct {
	ID          string            `json:"id,omitempty"`
	Name        string            `json:"name"`
	Parameters  map[string]string `json:"parameters"`
	Constraints []any             `json:"constraints"`
}

// RolloutStrategy is Unleash's gradual rollout strategy.
const RolloutStrategy = "flexibleRollout"

// resetRollout puts the flag's gradual rollout strategies back at 100%.
func (c *Client) resetRollout(ctx context.Context, name string) error {
	list, err := c.strategies(ctx, name)
	if err != nil {
		return err
	}
	for _, s := range list {
		if s.Name != RolloutStrategy || s.Parameters["rollout"] == "100" {
			continue
		}
		s.Parameters["rollout"] = "100"
		op := fmt.Sprintf("reset the rollout of flag %q to 100%% in %s", name, c.env)
		body := strategy{Name: s.Name, Parameters: s.Parameters, Constraints: s.Constraints}
		if body.Constraints == nil {
			body.Constraints = []any{}
		}
		if err := c.do(ctx, op, http.MethodPut, c.strategiesPath(name)+"/"+url.PathEscape(s.ID), body, nil); err != nil {
			return err
		}
	}
	return nil
}

// SetRollout makes flag name on for percent of the traffic in the client's environment,
// through Unleash's own gradual rollout (flexibleRollout, stickiness "default": by
// userId, else sessionId, else random, so one user keeps one answer). 0 turns the flag
// off and puts its rollout back at 100% behind the off switch. The flag is created when Unleash does not know
// it; its rollout strategy is updated in place, and any other strategy of the
// environment (which would widen who sees it) is removed. Calling it again changes
// nothing.
func (c *Client) SetRollout(ctx context.Context, name string, percent int) error {
	if err := checkName(name); err != nil {
		return err
	}
	if percent < 0 || percent > 100 {
		return fmt.Errorf("unleash: rollout of flag %q: %d is not a percent from 0 to 100", name, percent)
	}
	if percent == 0 {
		// Off first; then, while nobody sees the flag, its rollout goes back to
		// everyone, so that a later plain Set(on) (a migration without rollout using
		// the same flag) means on for all, as it always did.
		if err := c.Set(ctx, name, false); err != nil {
			return err
		}
		return c.resetRollout(ctx, name)
	}
	if err := c.Ensure(ctx, name, "created by zdm"); err != nil {
		return err
	}
	list, err := c.strategies(ctx, name)
	if err != nil {
		return err
	}
	want := strategy{Name: RolloutStrategy, Constraints: []any{}, Parameters: map[string]string{
		"rollout": strconv.Itoa(percent), "stickiness": "default", "groupId": name,
	}}
	var kept bool
	for _, s := range list {
		if s.Name == RolloutStrategy && !kept && len(s.Constraints) == 0 {
			kept = true
			if s.Parameters["rollout"] == want.Parameters["rollout"] && s.Parameters["stickiness"] == "default" && s.Parameters["groupId"] == name {
				continue
			}
			op := fmt.Sprintf("set rollout of flag %q to %d%% in %s", name, percent, c.env)
			if err := c.do(ctx, op, http.MethodPut, c.strategiesPath(name)+"/"+url.PathEscape(s.ID), want, nil); err != nil {
				return err
			}
			continue
		}
		op := fmt.Sprintf("remove strategy %s of flag %q in %s", s.Name, name, c.env)
		if err := c.do(ctx, op, http.MethodDelete, c.strategiesPath(name)+"/"+url.PathEscape(s.ID), nil, nil); err != nil {
			return err
		}
	}
	if !kept {
		op := fmt.Sprintf("add a %d%% rollout to flag %q in %s", percent, name, c.env)
		if err := c.do(ctx, op, http.MethodPost, c.strategiesPath(name), want, nil); err != nil {
			return err
		}
	}
	return c.Set(ctx, name, true)
}

// Rollout is the percent of traffic flag name is on for in the client's environment:
// 0 when it is off, else its gradual rollout's percent (100 without one).
func (c *Client) Rollout(ctx context.Context, name string) (int, error) {
	on, err := c.Enabled(ctx, name)
	if err != nil || !on {
		return 0, err
	}
	list, err := c.strategies(ctx, name)
	if err != nil {
		return 0, err
	}
	pct := 0
	for _, s := range list {
		p := 100
		if s.Name == RolloutStrategy {
			if p, err = strconv.Atoi(s.Parameters["rollout"]); err != nil {
				return 0, fmt.Errorf("unleash: flag %q has a rollout of %q", name, s.Parameters["rollout"])
			}
		}
		pct = max(pct, p)
	}
	if len(list) == 0 {
		pct = 100
	}
	return pct, nil
}

func (c *Client) strategiesPath(name string) string { return c.envPath(name) + "/strategies" }

func (c *Client) strategies(ctx context.Context, name string) ([]strategy, error) {
	var list []strategy
	op := fmt.Sprintf("read strategies of flag %q in %s", name, c.env)
	if err := c.do(ctx, op, http.MethodGet, c.strategiesPath(name), nil, &list); err != nil {
		return nil, err
	}
	return list, nil
}
