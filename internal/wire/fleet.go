package wire

import "github.com/zdmhq/zdm/internal/plan"

// CheckTargets is the activity a fleet runs before any database is touched: every
// target's environment variable must be one the worker serves, and its database must
// answer.
const CheckTargets = "CheckTargets"

// ErrUnknownTarget: the worker serves no target of that environment variable name.
const ErrUnknownTarget = "UnknownTarget"

// CheckTargetsInput names the targets' environment variables (never their values).
type CheckTargetsInput struct {
	URLEnvs []string `json:"url_envs"`
}

// CheckTargetsResult is the database behind each environment variable, in input order.
type CheckTargetsResult struct {
	Databases []plan.Identity `json:"databases"`
}
