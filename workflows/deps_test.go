package workflows_test

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// The workflow is deterministic code that plans nothing and touches no database: it
// links no database driver, no SQL parser and no Slack client. What it shares with the
// activities lives in internal/plan and internal/wire.
func TestTheWorkflowLinksNoDriverParserOrSlack(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list")
	}
	out, err := exec.Command("go", "list", "-deps", ".").CombinedOutput()
	require.NoError(t, err, "%s", out)
	for _, dep := range strings.Fields(string(out)) {
		for _, banned := range []string{"github.com/jackc/pgx", "github.com/pganalyze/pg_query_go", "github.com/slack-go/slack",
			"github.com/zdmhq/zdm/activities", "github.com/zdmhq/zdm/internal/pgexec", "github.com/zdmhq/zdm/internal/planner",
			"github.com/prometheus/prometheus", "github.com/zdmhq/zdm/internal/guard"} {
			require.False(t, strings.HasPrefix(dep, banned), "workflows depends on %s", dep)
		}
	}
}
