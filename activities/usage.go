package activities

import (
	"context"

	"github.com/zdmhq/zdm/internal/planner"
	"github.com/zdmhq/zdm/internal/spec"
	"github.com/zdmhq/zdm/internal/usage"
	"github.com/zdmhq/zdm/internal/wire"
)

// UsageCheck looks at what the database executes (pg_stat_statements) for statements
// that still name a column or table the migration's contract retires, and whose calls
// rose since the previous check. Without pg_stat_statements it says it cannot tell,
// and why; it never creates the extension (that needs a restart and a superuser, and
// changes the database beyond the migration).
func (a *Activities) UsageCheck(ctx context.Context, in wire.UsageInput) (*wire.UsageResult, error) {
	if err := a.onRecordedDatabase(ctx, in.Database); err != nil {
		return nil, err
	}
	res, err := usage.Check(ctx, a.DB, in)
	if err != nil {
		return nil, err
	}
	return &res, nil
}

// oldUsageVisible refuses, at plan time, a migration whose file requires no old usage
// before contract in a database where zdm cannot see what runs: its gate could never
// open.
func oldUsageVisible(ctx context.Context, a *Activities, m *spec.Migration, p *planner.Plan) error {
	if !m.ContractRequiresNoOldUsage {
		return nil
	}
	retired, err := usage.Retired(p)
	if err != nil || len(retired) == 0 {
		return err
	}
	what, fix, _, err := usage.Availability(ctx, a.DB)
	if err != nil || what == "" {
		return err
	}
	return invalid(m.Errorf("contract_requires_no_old_usage", fix+"; or remove contract_requires_no_old_usage",
		"zdm cannot tell whether old code still uses what contract retires: %s", what))
}
