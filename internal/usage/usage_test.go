package usage

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zdmhq/zdm/internal/plan"
	"github.com/zdmhq/zdm/internal/wire"
)

func stmts(sql ...string) []plan.Statement {
	var out []plan.Statement
	for i, s := range sql {
		out = append(out, plan.Statement{ID: "s" + string(rune('0'+i)), SQL: s})
	}
	return out
}

func TestRetiredComesFromTheContractStatements(t *testing.T) {
	p := &plan.Plan{Schema: "public", Table: "customers",
		Ops: []plan.Op{
			{Kind: "rename_column", Old: "name", New: "full_name", Final: "full_name"},
			{Kind: "change_type", Old: "balance", New: "_zdm_balance", Final: "balance", OldType: "integer", NewType: "bigint", InPlace: true},
		},
		Expand: stmts(`DO $zdm$ BEGIN
  ALTER TABLE "public"."accounts" RENAME TO "clients";
  CREATE VIEW "public"."accounts" AS SELECT * FROM "public"."clients";
END $zdm$`),
		Contract: stmts(
			`DROP TRIGGER IF EXISTS zz_zdm_sync_x ON "public"."customers"`,
			`ALTER TABLE "public"."customers" DROP COLUMN "name"`,
			`ALTER TABLE "public"."customers" DROP COLUMN "balance"`,
			`ALTER TABLE "public"."customers" RENAME COLUMN "_zdm_balance" TO "balance"`,
			`ALTER TABLE "public"."customers" DROP COLUMN note, ALTER COLUMN email SET NOT NULL`,
			`DO $zdm$ BEGIN
  IF (SELECT relkind FROM pg_class WHERE oid = to_regclass('"public"."accounts"')) = 'v' THEN
    DROP VIEW "public"."accounts";
  END IF;
END $zdm$`,
			`DROP TABLE IF EXISTS "public"."_zdm_dropped_audit"`,
			// an undo window renames aside instead of dropping
			`ALTER TABLE "public"."orders" RENAME COLUMN "total" TO "_zdm_old_total"`,
			`ALTER TABLE "public"."legacy" RENAME TO "_zdm_old_legacy"`,
		),
	}
	got, err := Retired(p)
	require.NoError(t, err)
	assert.Equal(t, []wire.Retired{
		{Schema: "public", Table: "customers", Column: "name", How: "column dropped", Replacement: "full_name"},
		{Schema: "public", Table: "customers", Column: "note", How: "column dropped"},
		{Schema: "public", Table: "accounts", How: "view dropped", Replacement: "clients"},
		{Schema: "public", Table: "orders", Column: "total", How: "column renamed aside"},
		{Schema: "public", Table: "legacy", How: "table renamed aside"},
	}, got)
	assert.Equal(t, []Changed{{Schema: "public", Table: "customers", Column: "balance", OldType: "integer", NewType: "bigint"}}, TypeChanges(p))
	assert.Equal(t, "after contract: SELECT/INSERT/UPDATE naming public.customers.name, and INSERT without a column list into public.customers, fail (column dropped); new code uses full_name",
		Describe(got[0]))
	assert.Equal(t, "after contract: every statement naming public.accounts fail (view dropped); new code uses clients", Describe(got[2]))
}

func TestRetiredRefusesSQLThePlanCannotHold(t *testing.T) {
	_, err := Retired(&plan.Plan{Contract: stmts("ALTER TABLE x DROP COLUMN")})
	require.Error(t, err)
}

func TestUsesResolvesColumnsAgainstTheStatementsRelations(t *testing.T) {
	retired := []wire.Retired{
		{Schema: "public", Table: "customers", Column: "name", Replacement: "full_name"},
		{Schema: "public", Table: "accounts", Replacement: "clients"},
	}
	for _, tc := range []struct {
		query    string
		names    []string
		excluded bool
	}{
		{"SELECT name FROM customers WHERE id = $1", []string{"public.customers.name (read)"}, false},
		{"SELECT c.name, o.id FROM public.customers c JOIN orders o ON o.customer_id = c.id", []string{"public.customers.name (read)"}, false},
		{"SELECT customers.name FROM customers", []string{"public.customers.name (read)"}, false},
		{"UPDATE customers SET name = $1 WHERE id = $2", []string{"public.customers.name (write)"}, false},
		{"UPDATE customers SET email = $1 WHERE name = $2", []string{"public.customers.name (read)"}, false},
		{"INSERT INTO customers (id, name) VALUES ($1, $2) RETURNING name", []string{"public.customers.name (read, write)"}, false},
		{"INSERT INTO customers VALUES ($1, $2, $3)", []string{"public.customers.name (write)"}, false},
		{"WITH x AS (SELECT id FROM customers WHERE name = $1) SELECT * FROM x", []string{"public.customers.name (read)"}, false},
		{"DELETE FROM accounts WHERE id = $1", []string{"public.accounts (write)"}, false},
		{"SELECT * FROM accounts", []string{"public.accounts (read)"}, false},
		{"COPY customers (id, name) FROM STDIN", []string{"public.customers.name (write)"}, false},
		{"COPY customers FROM STDIN", []string{"public.customers.name (write)"}, false},
		{"COPY customers (id, name) TO STDOUT", []string{"public.customers.name (read)"}, false},
		{"COPY (SELECT name FROM customers) TO STDOUT", []string{"public.customers.name (read)"}, false},
		{"COPY accounts TO STDOUT", []string{"public.accounts (read)"}, false},
		// another table's column of the same name
		{"SELECT name FROM orders", nil, false},
		{"SELECT o.name FROM orders o JOIN customers c ON c.id = o.customer_id", nil, false},
		{"SELECT * FROM customers", nil, false},
		{"SELECT full_name FROM customers", nil, false},
		{"SELECT name FROM other.customers", nil, false},
		// new code writing both names (dual_write), zdm's backfill and verify
		{"INSERT INTO customers (id, name, full_name) VALUES ($1, $2, $3)", nil, true},
		{`UPDATE "public"."customers" SET "full_name" = "name" WHERE ("id") > ($1::text::bigint)`, nil, true},
		{"SELECT count(*) FROM customers WHERE id > $1 AND (full_name IS DISTINCT FROM name)", nil, true},
		{"SELECT name FROM customers WHERE _zdm_balance IS DISTINCT FROM balance", nil, true},
		{"UPDATE zdm.migrations SET cursor = $2 WHERE name = $1", nil, false},
		// DDL is not application code
		{`ALTER TABLE "public"."customers" DROP COLUMN "name"`, nil, false},
	} {
		u, err := Uses(tc.query, retired)
		require.NoError(t, err, tc.query)
		assert.Equal(t, tc.names, u.Names, tc.query)
		assert.Equal(t, tc.excluded, u.Excluded, tc.query)
	}
}
