package activities

import (
	"context"

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
