package activities

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/zdmhq/zdm/internal/pgexec"
	"github.com/zdmhq/zdm/internal/plan"
	"github.com/zdmhq/zdm/internal/wire"
)

// CheckTargets makes sure, before a fleet touches any database, that this worker serves
// every target (its environment variable is one of ZDM_TARGET_ENVS) and that each
// database answers and is a database of its own. Only names travel in the input: a
// workflow cannot make the worker read a variable it was not told to serve.
func (a *Activities) CheckTargets(ctx context.Context, in wire.CheckTargetsInput) (wire.CheckTargetsResult, error) {
	var missing []string
	for _, env := range in.URLEnvs {
		if a.Targets[env] == nil {
			missing = append(missing, env)
		}
	}
	if len(missing) > 0 {
		served := make([]string, 0, len(a.Targets))
		for env := range a.Targets {
			served = append(served, env)
		}
		sort.Strings(served)
		msg := fmt.Sprintf("the worker serves no target %s: nothing was started (fix: add %s to the worker's ZDM_TARGET_ENVS and set it to that database's URL, then restart the worker; it serves: %s)",
			strings.Join(missing, ", "), strings.Join(missing, ","), orNone(served))
		return wire.CheckTargetsResult{}, temporal.NewNonRetryableApplicationError(msg, wire.ErrUnknownTarget, nil)
	}
	res := wire.CheckTargetsResult{}
	seen := map[plan.Identity]string{}
	for _, env := range in.URLEnvs {
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		id, err := pgexec.DatabaseIdentity(cctx, a.Targets[env])
		cancel()
		if err != nil {
			return res, fmt.Errorf("target %s: cannot read its database: %w", env, err)
		}
		if other, ok := seen[id]; ok {
			return res, temporal.NewNonRetryableApplicationError(fmt.Sprintf(
				"%s and %s both point at %s: one database would be migrated twice; nothing was started (fix: give each target its own database)", other, env, id), ErrInvalidMigration, nil)
		}
		seen[id] = env
		res.Databases = append(res.Databases, id)
	}
	return res, nil
}

func orNone(list []string) string {
	if len(list) == 0 {
		return "none (ZDM_TARGET_ENVS is not set)"
	}
	return strings.Join(list, ", ")
}
