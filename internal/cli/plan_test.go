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

func TestRenderPlanShowsEveryPhaseWithLocks(t *testing.T) {
	m, err := spec.Parse("m.yaml", []byte(`name: acc
table: accounts
operations:
  - change_type: {column: abalance, type: bigint}
backfill: {batch_size: 1000}
flags: {dual_write: acc-dw, read_new: acc-rn}
gates: [read_new, contract]
`))
	require.NoError(t, err)
	tbl := &schema.Table{Schema: "public", Name: "accounts", Key: []string{"aid"}, KeySource: "primary key accounts_pkey",
		EstimatedRows: 1_000_000,
		Columns:       []schema.Column{{Name: "aid", Type: "integer", NotNull: true}, {Name: "abalance", Type: "integer", NotNull: true}, {Name: "filler", Type: "text"}}}
	p, err := planner.Build(m, tbl, planner.Options{})
	require.NoError(t, err)
	var out bytes.Buffer
	cli.RenderPlan(&out, m, p)
	s := out.String()
	for _, want := range []string{
		"about 1,000,000 rows",
		"1. expand: each statement in its own transaction under lock_timeout 50ms",
		"-- expand/add-column/_zdm_abalance: lock ACCESS EXCLUSIVE, brief (catalog only); no table scan",
		"carried: NOT NULL",
		"note: column abalance moves to the end of the table's column list",
		"rehearsed in a transaction that is rolled back before the contract gate opens",
		"then: flag acc-dw on (and acc-rn off)",
		"2. backfill: batches of 1000 rows by aid, one transaction each (about 1,000 batches)",
		"-- validate/_zdm_nn_abalance: lock SHARE UPDATE EXCLUSIVE (reads and writes go on); reads every row",
		"4. switch reads: after gate read_new is approved: flag acc-rn on",
		"5. contract: after gate contract is approved; both flags off",
		`RENAME COLUMN "_zdm_abalance" TO "abalance"`,
		"rollback (on reject or failure before contract)",
	} {
		assert.Contains(t, s, want)
	}
}
