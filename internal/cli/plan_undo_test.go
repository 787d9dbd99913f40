package cli_test

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zdmhq/zdm/internal/cli"
	"github.com/zdmhq/zdm/internal/planner"
	"github.com/zdmhq/zdm/internal/schema"
	"github.com/zdmhq/zdm/internal/spec"
)

func TestRenderPlanShowsTheUndoWindow(t *testing.T) {
	m, err := spec.Parse("m.yaml", []byte(`name: acc
table: accounts
operations:
  - change_type: {column: abalance, type: bigint}
gates: [contract, finalize]
undo_window: 24h
`))
	require.NoError(t, err)
	tbl := &schema.Table{Schema: "public", Name: "accounts", Key: []string{"aid"}, KeySource: "primary key accounts_pkey",
		Columns: []schema.Column{{Name: "aid", Type: "integer", NotNull: true}, {Name: "abalance", Type: "integer", NotNull: true}}}
	p, err := planner.Build(m, tbl, planner.Options{})
	require.NoError(t, err)
	var out bytes.Buffer
	cli.RenderPlan(&out, m, p)
	s := out.String()
	for _, want := range []string{
		"with undo_window 24h00m, the old shape is kept restorable:",
		"- operations[0].change_type: abalance is kept as _zdm_undo_abalance, equal to down over every write",
		`-- contract/set-aside/abalance/0: lock ACCESS EXCLUSIVE, brief (catalog only); no table scan; kept for the undo window instead of dropped`,
		`ALTER TABLE "public"."accounts" RENAME COLUMN "abalance" TO "_zdm_undo_abalance";`,
		"followed by the whole revert, and by finalize",
		"revert (zdm revert acc, during the window, or on rejecting gate finalize): first, in one transaction",
		"-- revert/swap-back/abalance: lock ACCESS EXCLUSIVE, brief (catalog only)",
		"finalize (once gate finalize is approved (it opens when the window ends), or on zdm finalize acc): one transaction",
		`ALTER TABLE "public"."accounts" DROP COLUMN IF EXISTS "_zdm_undo_abalance";`,
	} {
		assert.Contains(t, s, want)
	}
	assert.NotContains(t, s, `DROP COLUMN "abalance"`, "with a window, contract drops no column")
}
