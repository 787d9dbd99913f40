package ops_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zdmhq/zdm/internal/ops"
	"github.com/zdmhq/zdm/internal/schema"
	"github.com/zdmhq/zdm/internal/spec"
)

func accounts() *schema.Table {
	return &schema.Table{Schema: "public", Name: "accounts", Key: []string{"aid"}, KeySource: "primary key",
		Columns: []schema.Column{
			{Name: "aid", Type: "bigint", NotNull: true},
			{Name: "email", Type: "text"},
			{Name: "name", Type: "text", NotNull: true},
		}}
}

func planOp(t *testing.T, opYAML string, tbl *schema.Table) (*ops.Change, spec.Errors) {
	t.Helper()
	m, err := spec.Parse("m.yaml", []byte("name: m\ntable: accounts\noperations:\n  - "+opYAML+"\n"))
	require.NoError(t, err)
	e := &ops.Env{M: m, Field: "operations[0]." + m.Operations[0].Kind, Table: tbl}
	ch := m.Operations[0].Op.(ops.Operation).Plan(e)
	return ch, e.Errs
}

func TestEveryOperationIsRegisteredWithItsFields(t *testing.T) {
	assert.Subset(t, spec.OpKinds(), []string{"add_column", "change_type", "rename_column"})
	_, err := spec.Parse("m.yaml", []byte("name: m\ntable: t\noperations:\n  - add_column: {column: a, type: text, backfil: x}\n"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), `unknown field "backfil"`)
	assert.Contains(t, err.Error(), "column, type, backfill, not_null, default", "the keys come from the operation's own struct")
}

func TestExpressionsQualifiedByTheSchemaReadUnderTheTableName(t *testing.T) {
	ch, errs := planOp(t, `add_column: {column: e, type: text, backfill: "lower(public.accounts.email) || accounts.name"}`, accounts())
	require.Empty(t, errs)
	assert.Equal(t, "lower(accounts.email) || accounts.name", ch.Sync.Up)
}

func TestExpressionsThatAreNotOneExpressionAreRefused(t *testing.T) {
	for _, bad := range []string{
		`"lower(email)) , name = (name"`,
		`"1; DROP TABLE accounts"`,
		`"email AS x"`,
	} {
		_, errs := planOp(t, `add_column: {column: e, type: text, backfill: `+bad+`}`, accounts())
		require.NotEmpty(t, errs, bad)
		assert.Equal(t, "operations[0].add_column.backfill", errs[0].Field, bad)
	}
	ch, errs := planOp(t, `add_column: {column: e, type: text, backfill: "'a;b' || email"}`, accounts())
	require.Empty(t, errs, "a ; inside a string literal is fine")
	assert.Equal(t, "'a;b' || email", ch.Sync.Up)
}

func TestNotNullNeedsADefaultWhenTheExpressionCanBeNull(t *testing.T) {
	_, errs := planOp(t, `add_column: {column: e, type: text, backfill: "lower(email)", not_null: true}`, accounts())
	require.Len(t, errs, 1)
	assert.Contains(t, errs[0].Error(), "it reads the nullable column email")
	assert.Contains(t, errs[0].Error(), "add `default:`")

	ch, errs := planOp(t, `add_column: {column: e, type: text, backfill: "lower(email)", not_null: true, default: "''"}`, accounts())
	require.Empty(t, errs)
	assert.Equal(t, "''", ch.Sync.Fill)
	assert.Equal(t, "''", ch.Sync.Default, "the default is the column's at contract")
}
