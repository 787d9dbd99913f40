package ops_test

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/zdmhq/zdm/internal/demoapp"
	"github.com/zdmhq/zdm/internal/ops/opstest"
	"github.com/zdmhq/zdm/internal/spec"
	"github.com/zdmhq/zdm/internal/testenv"
)

// setupLine is an example's "# setup: SQL" comment: what its database needs besides
// the demo's customers table.
var setupLine = regexp.MustCompile(`(?m)^# setup: (.+)$`)

// Every example of examples/operations runs its whole life on the demo's table: plan,
// expand, backfill, verify, contract.
func TestEveryOperationExampleRuns(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob("../../examples/operations/*.yaml")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	kinds := map[string]bool{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		require.NoError(t, err)
		m, err := spec.Parse(f, data)
		require.NoError(t, err, "%s must parse", f)
		for _, op := range m.Operations {
			kinds[op.Kind] = true
		}
		t.Run(filepath.Base(f), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			_, pool := testenv.DB(t, "zdm_example")
			require.NoError(t, demoapp.Seed(ctx, pool, "public.customers", 2000))
			for _, s := range setupLine.FindAllStringSubmatch(string(data), -1) {
				_, err := pool.Exec(ctx, s[1])
				require.NoError(t, err, "setup: %s", s[1])
			}
			p, err := opstest.Plan(ctx, pool, f, data)
			require.NoError(t, err, "plan")
			require.NoError(t, opstest.Expand(ctx, pool, p, "run-1"), "expand")
			if !p.NoBackfill {
				_, _, err = opstest.Backfill(ctx, pool, p, 500)
				require.NoError(t, err, "backfill")
			}
			require.NoError(t, opstest.Verify(ctx, pool, p), "verify")
			require.NoError(t, opstest.Contract(ctx, pool, p), "contract")
		})
	}
	for _, k := range spec.OpKinds() {
		if !kinds[k] {
			t.Errorf("operation %s has no example in examples/operations (%s)", k, strings.Join(files, ", "))
		}
	}
}
