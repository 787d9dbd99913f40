package cli

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/zdmhq/zdm/internal/wire"
	"github.com/zdmhq/zdm/workflows"
)

// Without pg_stat_statements the gate says it cannot tell, never that nothing runs.
func TestOldUsageTextSaysWhenItCannotTell(t *testing.T) {
	at := time.Date(2026, 12, 3, 14, 2, 11, 0, time.UTC)
	p := workflows.Progress{OldUsage: &workflows.OldUsage{Known: true, Since: at, CheckedAt: at, Required: true,
		Retired:     []wire.Retired{{Schema: "public", Table: "customers", Column: "name", How: "column dropped"}},
		Unavailable: "cannot tell: pg_stat_statements is not available: the extension is not installed in database \"app\" (fix: ...)",
		Holding:     "contract_requires_no_old_usage: cannot tell: pg_stat_statements is not available: the extension is not installed in database \"app\" (fix: ...)"}}
	assert.Equal(t, `  old code: cannot tell: pg_stat_statements is not available: the extension is not installed in database "app" (fix: ...)
            watching: public.customers.name (column dropped)
            HELD: contract_requires_no_old_usage: cannot tell: pg_stat_statements is not available: the extension is not installed in database "app" (fix: ...)
`, OldUsageText(p))
	assert.Contains(t, LiveLine(workflows.Progress{OldUsage: p.OldUsage}, 10), "HELD")
	assert.Empty(t, OldUsageText(workflows.Progress{}), "nothing to say before the soak")
}
