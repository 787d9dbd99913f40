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

// zdm plan says the backfill is governed, by default, and not when max_app_p99 is off.
func TestPlanSaysTheBackfillIsGoverned(t *testing.T) {
	tbl := &schema.Table{Schema: "public", Name: "accounts", Key: []string{"aid"}, KeySource: "primary key accounts_pkey",
		EstimatedRows: 1000,
		Columns:       []schema.Column{{Name: "aid", Type: "integer", NotNull: true}, {Name: "abalance", Type: "integer", NotNull: true}}}
	render := func(extra string) string {
		m, err := spec.Parse("m.yaml", []byte("name: acc\ntable: accounts\noperations:\n  - change_type: {column: abalance, type: bigint}\n"+extra))
		require.NoError(t, err)
		p, err := planner.Build(m, tbl, planner.Options{})
		require.NoError(t, err)
		var out bytes.Buffer
		cli.RenderPlan(&out, m, p)
		return out.String()
	}
	assert.Contains(t, render(""), "governed: batches of at most 20ms, shorter and paused while the application waits longer than max_app_p99 20ms")
	assert.Contains(t, render("backfill: {max_app_p99: 100ms, target_batch_time: 40ms}\n"), "governed: batches of at most 40ms")
	assert.NotContains(t, render("backfill: {max_app_p99: off}\n"), "governed")
}
