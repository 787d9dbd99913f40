package spec_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zdmhq/zdm/internal/ops"
	"github.com/zdmhq/zdm/internal/spec"
)

const good = `name: accounts-balance-bigint
table: pgbench_accounts
operations:
  - change_type: {column: abalance, type: bigint, up: "abalance::bigint", down: "abalance::int"}
  - add_column: {column: email_lower, type: text, backfill: "lower(email)", not_null: true}
  - rename_column: {column: name, to: full_name}
backfill: {batch_size: 5000}
lock_timeout: 250ms
gates: []
`

func TestParseGood(t *testing.T) {
	m, err := spec.Parse("m.yaml", []byte(good))
	require.NoError(t, err)
	assert.Equal(t, "public.pgbench_accounts", m.Table)
	assert.Equal(t, 5000, m.Backfill.BatchSize)
	assert.Equal(t, 250*time.Millisecond, m.LockTimeout.D())
	assert.Empty(t, m.Gates)
	assert.NotNil(t, m.Gates)
	require.Len(t, m.Operations, 3)
	assert.Equal(t, "change_type", m.Operations[0].Kind)
	add := m.Operations[1].Op.(*ops.AddColumn)
	assert.Equal(t, "lower(email)", add.Backfill)
	assert.True(t, add.NotNull)
	assert.Equal(t, 5, m.Line("operations[1].add_column.backfill"))
	assert.Equal(t, 6, m.Line("operations[2].rename_column.to"))
}

func TestParseDefaults(t *testing.T) {
	m, err := spec.Parse("m.yaml", []byte("name: a\ntable: t\noperations:\n  - rename_column: {column: a, to: b}\nflags: {dual_write: x}\n"))
	require.NoError(t, err)
	assert.Equal(t, []string{"contract"}, m.Gates)
	assert.Equal(t, spec.DefaultBatchSize, m.Backfill.BatchSize)
	assert.Equal(t, spec.DefaultLockTimeout, m.LockTimeout.D())
	assert.Equal(t, spec.DefaultAppRefresh, m.Flags.AppRefresh.D())
}

func TestParseErrors(t *testing.T) {
	cases := []refusal{
		{"unknown top-level key", "name: a\ntabel: t\noperations: []\n",
			[]string{`m.yaml:2: tabel: unknown field "tabel" at the top level`, `did you mean "table"?`}},
		{"unknown op key", "name: a\ntable: t\noperations:\n  - rename_column: {column: a, too: b}\n",
			[]string{`m.yaml:4: operations[0].rename_column.too: unknown field "too"`, "use one of: column, to"}},
		{"missing fields", "table: t\noperations:\n  - change_type: {column: a}\n",
			[]string{"m.yaml: name: is required", "m.yaml:3: operations[0].change_type.type: is required"}},
		{"bad type", "name: a\ntable: t\noperations:\n  - rename_column: {column: a, to: b}\nbackfill: {batch_size: many}\n",
			[]string{"m.yaml:5"}},
		{"bad duration", "name: a\ntable: t\nlock_timeout: soon\noperations:\n  - rename_column: {column: a, to: b}\n",
			[]string{"m.yaml:3", "is not a duration"}},
		{"bad verify", "name: a\ntable: t\noperations:\n  - rename_column: {column: a, to: b}\nbackfill: {verify: twice}\n",
			[]string{`m.yaml:5: backfill.verify: "twice" is not a verification mode`, "use sampled"}},
		{"bad name", "name: Big_Name\ntable: t\noperations:\n  - rename_column: {column: a, to: b}\n",
			[]string{`m.yaml:1: name: "Big_Name" is not a valid migration name`}},
		{"two ops in one item", "name: a\ntable: t\noperations:\n  - rename_column: {column: a, to: b}\n    add_column: {column: c, type: int, backfill: '1'}\n",
			[]string{"operations[0]: has 2 operations"}},
		{"same column twice", "name: a\ntable: t\noperations:\n  - rename_column: {column: a, to: b}\n  - change_type: {column: a, type: int}\n",
			[]string{`m.yaml:5: operations[1].change_type.column: column "a" is already changed`}},
		{"read_new gate without flag", "name: a\ntable: t\noperations:\n  - rename_column: {column: a, to: b}\ngates: [read_new]\n",
			[]string{"gates[0]: gate read_new guards the read_new flag"}},
		{"unknown gate", "name: a\ntable: t\noperations:\n  - rename_column: {column: a, to: b}\ngates: [deploy]\n",
			[]string{`unknown gate "deploy"`}},
		{"flags mix change_type and rename", "name: a\ntable: t\noperations:\n  - rename_column: {column: a, to: b}\n  - change_type: {column: c, type: int}\nflags: {dual_write: x}\n",
			[]string{"split change_type and rename_column/add_column"}},
		{"reserved column", "name: a\ntable: t\noperations:\n  - rename_column: {column: a, to: _zdm_x}\n",
			[]string{"is reserved for zdm"}},
		{"syntax", "name: a\n  table: [\n", []string{"m.yaml:"}},
	}
	assertRefused(t, cases)
}

func TestParseThrottle(t *testing.T) {
	m, err := spec.Parse("m.yaml", []byte("name: a\ntable: t\noperations:\n  - rename_column: {column: a, to: b}\nbackfill: {max_replication_lag: 2s, throttle_query: \"SELECT count(*) > 5 FROM pg_stat_activity\"}\n"))
	require.NoError(t, err)
	assert.Equal(t, 2*time.Second, m.Backfill.MaxReplicationLag.D())
	assert.Equal(t, "SELECT count(*) > 5 FROM pg_stat_activity", m.Backfill.ThrottleQuery)

	_, err = spec.Parse("m.yaml", []byte("name: a\ntable: t\noperations:\n  - rename_column: {column: a, to: b}\nbackfill: {throttle_query: \"DELETE FROM t\"}\n"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "m.yaml:5: backfill.throttle_query: must be a single SELECT")
	_, err = spec.Parse("m.yaml", []byte("name: a\ntable: t\noperations:\n  - rename_column: {column: a, to: b}\nbackfill: {max_replication_lag: soon}\n"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), `m.yaml:5: backfill.max_replication_lag: "soon" is not a duration`)
}

// A person fixes a file in one round: problems of every kind come back together.
func TestParseReportsEveryProblemAtOnce(t *testing.T) {
	src := `name: Bad Name
tabel: t
lock_timeout: soon
operations:
  - rename_column: {column: a, too: b}
  - change_type: {column: c}
backfill: {batch_size: many, throttle_query: "DELETE FROM t"}
gates: [deploy]
`
	_, err := spec.Parse("m.yaml", []byte(src))
	require.Error(t, err)
	for _, want := range []string{
		`m.yaml:1: name: "Bad Name" is not a valid migration name`,
		`m.yaml:2: tabel: unknown field "tabel"`,
		`m.yaml:3: lock_timeout: "soon" is not a duration`,
		`m.yaml:5: operations[0].rename_column.too: unknown field "too"`,
		`m.yaml:6: operations[1].change_type.type: is required`,
		`m.yaml:7`,
		`m.yaml:8: gates[0]: unknown gate "deploy"`,
	} {
		assert.Contains(t, err.Error(), want)
	}
}

// A program that registers no operation (the workflow) carries their fields untouched.
func TestAnOperationOfAnUnregisteredKindTravelsAsItIs(t *testing.T) {
	var op spec.Operation
	require.NoError(t, json.Unmarshal([]byte(`{"drop_everything": {"column": "a", "why": 42}}`), &op))
	assert.Equal(t, "drop_everything", op.Kind)
	assert.Nil(t, op.Op)
	b, err := json.Marshal(op)
	require.NoError(t, err)
	assert.JSONEq(t, `{"drop_everything": {"column": "a", "why": 42}}`, string(b))
}

func TestAnOperationsOwnTableSurvivesTheWorkflowsJSON(t *testing.T) {
	m, err := spec.Parse("m.yaml", []byte("name: m1\ntable: accounts\noperations:\n  - rename_column: {table: sales.orders, column: a, to: b}\n  - rename_column: {column: a, to: b}\n"))
	require.NoError(t, err)
	b, err := json.Marshal(m)
	require.NoError(t, err)
	assert.Contains(t, string(b), `{"rename_column":{"column":"a","table":"sales.orders","to":"b"}}`)
	var back spec.Migration
	require.NoError(t, json.Unmarshal(b, &back))
	assert.Equal(t, "sales.orders", back.Operations[0].Table)
	assert.Equal(t, "", back.Operations[1].Table)
	assert.Equal(t, []string{"sales.orders", "public.accounts"}, back.Tables())
}

// refusal is a file that Parse must refuse, and fragments its error must contain.
type refusal struct {
	name, src string
	want      []string
}

// assertRefused parses each case's file as m.yaml and checks that it is refused with
// every fragment it wants.
func assertRefused(t *testing.T, cases []refusal) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := spec.Parse("m.yaml", []byte(c.src))
			require.Error(t, err)
			for _, w := range c.want {
				assert.Contains(t, err.Error(), w)
			}
		})
	}
}
