package planner_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zdmhq/zdm/internal/planner"
	"github.com/zdmhq/zdm/internal/schema"
	"github.com/zdmhq/zdm/internal/spec"
)

func accounts() *schema.Table {
	return &schema.Table{
		Schema: "public", Name: "accounts",
		Columns: []schema.Column{
			{Name: "aid", Type: "bigint", NotNull: true},
			{Name: "abalance", Type: "integer", NotNull: true, Default: "0"},
			{Name: "name", Type: "text", NotNull: true},
			{Name: "email", Type: "text"},
			{Name: "code", Type: "text", Dependents: []schema.Dependent{
				{Type: "index", Name: "accounts_code_idx", Describe: "index accounts_code_idx"},
				{Type: "index", Name: "accounts_code_key", Describe: "index accounts_code_key"},
				{Type: "table constraint", ConstraintType: "u", Name: "accounts_code_key", Describe: "constraint accounts_code_key on table accounts"}}},
			{Name: "in_view", Type: "text", Views: []string{"v_accounts"}, Dependents: []schema.Dependent{
				{Type: "rule", Name: "_RETURN", Describe: "rule _RETURN on view v_accounts"}}},
			{Name: "tag", Type: "text", Dependents: []schema.Dependent{
				{Type: "index", Name: "accounts_tag_idx", Describe: "index accounts_tag_idx"}}},
		},
		Key: []string{"aid"}, KeySource: "primary key accounts_pkey",
		Indexes: []schema.Index{
			{Name: "accounts_pkey", Columns: []string{"aid"}, Primary: true, Unique: true, Valid: true},
			{Name: "accounts_code_idx", Columns: []string{"code", "aid"}, Valid: true, Method: "btree",
				Def: `CREATE INDEX accounts_code_idx ON public.accounts USING btree (code text_pattern_ops DESC, aid) WITH (fillfactor='90')`},
			{Name: "accounts_code_key", Columns: []string{"code"}, Valid: true, Unique: true, Method: "btree",
				Constraint: "accounts_code_key", ConstraintType: "u",
				Def: `CREATE UNIQUE INDEX accounts_code_key ON public.accounts USING btree (code)`},
			{Name: "accounts_code_ex", Columns: []string{"code"}, Valid: true, Method: "gist", ConstraintType: "x", Constraint: "accounts_code_ex",
				Def: `CREATE INDEX accounts_code_ex ON public.accounts USING gist (code)`},
			{Name: "accounts_tag_idx", Columns: []string{"tag"}, Valid: true, Partial: true, Method: "btree",
				Def: `CREATE INDEX accounts_tag_idx ON public.accounts USING btree (tag) WHERE tag IS NOT NULL`},
		},
		EstimatedRows: 1000,
	}
}

func parse(t *testing.T, ops string) *spec.Migration {
	t.Helper()
	m, err := spec.Parse("m.yaml", []byte("name: m1\ntable: accounts\noperations:\n"+ops))
	require.NoError(t, err)
	return m
}

func TestPlanAllOperations(t *testing.T) {
	m := parse(t, `  - change_type: {column: abalance, type: bigint}
  - rename_column: {column: name, to: full_name}
  - add_column: {column: email_lower, type: text, backfill: "lower(email)", not_null: true, default: "''"}
`)
	p, err := planner.Build(m, accounts(), planner.Options{})
	require.NoError(t, err)
	require.Len(t, p.Ops, 3)
	assert.Equal(t, []planner.KeyColumn{{Name: "aid", Type: "bigint"}}, p.Key)

	ct := p.Ops[0]
	assert.Equal(t, "_zdm_abalance", ct.New)
	assert.Equal(t, `"abalance"`, ct.Up, "up defaults to the column itself, cast by the plan")
	assert.Equal(t, "_zdm_nn_abalance", ct.CheckName, "NOT NULL of the old column is carried over")
	assert.Equal(t, "0", ct.Default)

	var ids []string
	for _, s := range p.Expand {
		ids = append(ids, s.ID)
		assert.NotEmpty(t, s.Lock, s.ID)
	}
	// The trigger must exist before any NOT NULL check: old code would write NULLs
	// into the new columns in between.
	assert.Equal(t, []string{"expand/add-column/_zdm_abalance", "expand/add-column/full_name", "expand/add-column/email_lower",
		"expand/sync-function", "expand/sync-trigger",
		"expand/not-null-check/_zdm_abalance", "expand/not-null-check/full_name", "expand/not-null-check/email_lower"}, ids)
	assert.Contains(t, p.Expand[0].SQL, `ADD COLUMN IF NOT EXISTS "_zdm_abalance" bigint`)
	assert.NotContains(t, p.Expand[0].SQL, "DEFAULT")
	assert.Contains(t, p.Expand[4].SQL, "WHEN (current_setting('zdm.backfill', true) IS DISTINCT FROM 'on')")
	assert.Contains(t, p.Expand[5].SQL, "NOT VALID")

	fn := p.Expand[3].SQL
	assert.Contains(t, fn, `CREATE OR REPLACE FUNCTION "zdm"."sync_m1"()`)
	assert.Contains(t, fn, "#variable_conflict use_column", "columns named found, new or old read as columns")
	assert.Contains(t, fn, `zdm_new_2 := COALESCE(lower(new.email)::text, ''::text);`, "an expression over the row's columns reads the record: no query")
	assert.Contains(t, fn, `OLD."email_lower" IS NOT DISTINCT FROM COALESCE(lower(old.email)::text, ''::text)`, "an added column follows the row while it holds what the expression gave")
	assert.Contains(t, fn, `zdm_new_0 := new.abalance::bigint;`, "a plain cast is an assignment, not a query")
	assert.Contains(t, fn, `zdm_old_0 := new._zdm_abalance::int;`, "down sees the new type under the old name")
	assert.Contains(t, fn, `zdm_old_1 := new.full_name::text;`)
	assert.Contains(t, fn, `NEW."abalance" IS NOT DISTINCT FROM (0)::integer`, "an insert that left the old column at its default is new code's")

	assert.Equal(t, `"_zdm_abalance" = ("abalance")::bigint, "full_name" = ("name")::text, "email_lower" = coalesce("email_lower", coalesce((lower(email))::text, ('')::text))`, p.BackfillSet,
		"add_column keeps what the application wrote")
	assert.Contains(t, p.Mismatch, `"email_lower" IS NULL AND coalesce((lower(email))::text, ('')::text) IS NOT NULL`)
	assert.Contains(t, p.Mismatch, `NOT ("_zdm_abalance" IS NOT DISTINCT FROM ("abalance")::bigint)`)
	assert.Len(t, p.Validate, 3)

	contract := sqlOf(p.Contract)
	assert.Equal(t, "contract/drop-trigger", p.Contract[0].ID)
	assert.Contains(t, contract, `ALTER TABLE "public"."accounts" DROP COLUMN "abalance"`)
	assert.Contains(t, contract, `RENAME COLUMN "_zdm_abalance" TO "abalance"`)
	assert.Contains(t, contract, `ALTER COLUMN "abalance" SET DEFAULT 0`)
	assert.Contains(t, contract, `ALTER COLUMN "abalance" SET NOT NULL`)
	assert.Contains(t, contract, `DROP COLUMN "name"`)
	assert.Contains(t, contract, `ALTER COLUMN "email_lower" SET NOT NULL`)
	assert.Contains(t, contract, `DROP FUNCTION IF EXISTS "zdm"."sync_m1"()`)

	rollback := sqlOf(p.Rollback)
	for _, c := range []string{"_zdm_abalance", "full_name", "email_lower"} {
		assert.Contains(t, rollback, `DROP COLUMN IF EXISTS "`+c+`"`)
	}
	assert.NotContains(t, rollback, `DROP COLUMN IF EXISTS "name"`, "rollback never drops an original column")
	assert.False(t, p.FlagsFinalReadNew())
}

func TestPlanRefusals(t *testing.T) {
	cases := []struct{ ops, want string }{
		{"  - rename_column: {column: nope, to: x}\n", `m.yaml:4: operations[0].rename_column.column: column "nope" does not exist in public.accounts (fix: use one of: aid, abalance, name, email, code, in_view, tag)`},
		{"  - rename_column: {column: name, to: email}\n", `operations[0].rename_column.to: column "email" already exists`},
		{"  - change_type: {column: aid, type: numeric}\n", `column "aid" is part of the key`},
		{"  - rename_column: {column: in_view, to: x}\n", `used by view(s) v_accounts`},
		{"  - change_type: {column: abalance, type: integer}\n", `column "abalance" is already of type integer`},
		{"  - add_column: {column: x, type: text, backfill: \"1; drop table accounts\"}\n", `operations[0].add_column.backfill: is not one SQL expression`},
		{"  - add_column: {column: x, type: text, backfill: \"lower(email)) , aid = (1\"}\n", `operations[0].add_column.backfill: `},
		{"  - change_type: {column: abalance, type: \"bigint; drop table accounts\"}\n", `operations[0].change_type.type: `},
		{"  - add_column: {column: x, type: text, backfill: \"lower(email)\", not_null: true}\n", `the backfill expression can be NULL (it reads the nullable column email)`},
	}
	for _, c := range cases {
		_, err := planner.Build(parse(t, c.ops), accounts(), planner.Options{})
		require.Error(t, err, c.ops)
		assert.Contains(t, err.Error(), c.want)
	}

	excl := accounts()
	excl.Column("code").Dependents = append(excl.Column("code").Dependents, schema.Dependent{Type: "index", Name: "accounts_code_ex", Describe: "index accounts_code_ex"})
	_, err := planner.Build(parse(t, "  - change_type: {column: code, type: varchar(10)}\n"), excl, planner.Options{})
	require.Error(t, err)
	assert.Contains(t, err.Error(), `column "code" is used by index accounts_code_ex, which zdm cannot carry over: it backs an exclusion constraint`)

	noKey := accounts()
	noKey.Key = nil
	_, err = planner.Build(parse(t, "  - rename_column: {column: name, to: x}\n"), noKey, planner.Options{})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "m.yaml:2: table: table public.accounts has no primary key or unique NOT NULL column")
}

func TestPlanResumingAcceptsItsOwnColumns(t *testing.T) {
	tbl := accounts()
	tbl.Columns = append(tbl.Columns, schema.Column{Name: "full_name", Type: "text"})
	m := parse(t, "  - rename_column: {column: name, to: full_name}\n  - add_column: {column: e, type: text, backfill: \"lower(email) || (SELECT 'x')\"}\n")
	_, err := planner.Build(m, tbl, planner.Options{})
	require.Error(t, err)
	p, err := planner.Build(m, tbl, planner.Options{Resuming: true})
	require.NoError(t, err)
	fn := sqlOf(p.Expand)
	assert.Contains(t, fn, `SELECT (lower(email) || (SELECT 'x'))::text INTO zdm_new_1 FROM (SELECT zdm_row."aid"`, "a subquery is evaluated over the row shown under the table's name")
	assert.Contains(t, fn, `) AS "accounts"`)
	assert.NotContains(t, fn, `zdm_row."full_name"`, "the column this migration added belongs to the new row only, not the old")
	assert.True(t, p.FlagsFinalReadNew())
}

func TestPartialIndexesAreCarriedWithTheirPredicate(t *testing.T) {
	p, err := planner.Build(parse(t, "  - rename_column: {column: tag, to: label}\n"), accounts(), planner.Options{})
	require.NoError(t, err)
	require.Len(t, p.Ops[0].Indexes, 1)
	assert.Equal(t, `CREATE INDEX CONCURRENTLY IF NOT EXISTS _zdm_accounts_tag_idx ON public.accounts USING btree (label) WHERE label IS NOT NULL`, p.Ops[0].Indexes[0].Create)
}

func TestDownReadsTheNewTypeUnderTheOldName(t *testing.T) {
	p, err := planner.Build(parse(t, "  - change_type: {column: abalance, type: bigint, down: \"least(abalance, 2147483647)::int\"}\n"), accounts(), planner.Options{})
	require.NoError(t, err)
	assert.Contains(t, p.Expand[1].SQL, `zdm_old_0 := LEAST(new._zdm_abalance, 2147483647)::int::int;`)

	gen := accounts()
	gen.Columns = append(gen.Columns, schema.Column{Name: "doubled", Type: "integer", Generated: true, Default: "(abalance * 2)"})
	p, err = planner.Build(parse(t, "  - add_column: {column: d, type: int, backfill: \"doubled + 1\"}\n"), gen, planner.Options{})
	require.NoError(t, err)
	assert.Contains(t, p.Expand[1].SQL, `SELECT (doubled + 1)::int INTO zdm_new_0 FROM (SELECT zdm_row."aid"`, "a BEFORE trigger does not see stored generated columns yet")
	assert.Contains(t, p.Expand[1].SQL, `((abalance * 2)) AS "doubled"`)
}

func TestCompositeKey(t *testing.T) {
	tbl := accounts()
	tbl.Key = []string{"aid", "name"}
	tbl.Columns[2].NotNull = true
	p, err := planner.Build(parse(t, "  - change_type: {column: abalance, type: bigint}\n"), tbl, planner.Options{})
	require.NoError(t, err)
	assert.Equal(t, []planner.KeyColumn{{Name: "aid", Type: "bigint"}, {Name: "name", Type: "text"}}, p.Key)
}

func sqlOf(stmts []planner.Statement) string {
	var b strings.Builder
	for _, s := range stmts {
		b.WriteString(s.SQL)
		b.WriteString(";\n")
	}
	return b.String()
}

func TestIndexesOnReplacedColumnsAreCarriedOver(t *testing.T) {
	p, err := planner.Build(parse(t, "  - rename_column: {column: code, to: sku}\n"), accounts(), planner.Options{})
	require.NoError(t, err)
	require.Len(t, p.Ops[0].Indexes, 2)
	var builds []string
	for _, s := range p.Validate {
		if s.Concurrent {
			builds = append(builds, s.SQL)
			assert.True(t, s.Scans)
			assert.NotEmpty(t, s.Index)
		}
	}
	assert.Equal(t, []string{
		`CREATE INDEX CONCURRENTLY IF NOT EXISTS _zdm_accounts_code_idx ON public.accounts USING btree (sku text_pattern_ops DESC, aid) WITH (fillfactor='90')`,
		`CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS _zdm_accounts_code_key ON public.accounts USING btree (sku)`,
	}, builds)
	contract := sqlOf(p.Contract)
	assert.Contains(t, contract, `ALTER INDEX "public"."_zdm_accounts_code_idx" RENAME TO "accounts_code_idx"`)
	assert.Contains(t, contract, `ADD CONSTRAINT "accounts_code_key" UNIQUE USING INDEX "_zdm_accounts_code_key"`)
	assert.Less(t, strings.Index(contract, `DROP COLUMN "code"`), strings.Index(contract, `RENAME TO "accounts_code_idx"`),
		"the copy takes the name only once the old index is gone")
}

func branches() *schema.Table {
	return &schema.Table{Schema: "public", Name: "branches",
		Columns: []schema.Column{{Name: "bid", Type: "integer", NotNull: true}, {Name: "bname", Type: "text"}},
		Key:     []string{"bid"}, KeySource: "primary key branches_pkey", EstimatedRows: 10}
}

func TestOperationsOnSeveralTablesArePlannedTogetherAndAllClaimed(t *testing.T) {
	m := parse(t, `  - rename_column: {column: name, to: full_name}
  - create_index: {table: branches, name: branches_bname_idx, columns: [bname]}
  - set_default: {table: public.branches, column: bname, default: "'main'"}
`)
	p, err := planner.Build(m, accounts(), planner.Options{Others: map[string]*schema.Table{"public.branches": branches()}})
	require.NoError(t, err)
	assert.Equal(t, "public.accounts", p.TableName(), "the plan's table is the one it backfills")
	assert.Equal(t, []string{"public.accounts", "public.branches"}, p.Claims())
	assert.Equal(t, "public.branches", p.Changes[1].Table)
	var sqls []string
	for _, s := range p.Expand {
		sqls = append(sqls, s.SQL)
	}
	assert.Contains(t, strings.Join(sqls, "\n"), `ON "public"."branches" USING btree ("bname")`)
	assert.Contains(t, strings.Join(sqls, "\n"), `ALTER TABLE "public"."branches" ALTER COLUMN "bname" SET DEFAULT 'main'`)
}

func TestBackfillsOfTwoTablesAreRefused(t *testing.T) {
	m := parse(t, `  - rename_column: {column: name, to: full_name}
  - rename_column: {table: branches, column: bname, to: branch_name}
`)
	_, err := planner.Build(m, accounts(), planner.Options{Others: map[string]*schema.Table{"public.branches": branches()}})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "m.yaml:5: operations[1].rename_column: operations[1].rename_column fills columns of public.branches, and operations[0].rename_column fills columns of public.accounts: a migration backfills one table (fix: split the migration in two")
}

func TestAnOperationsMissingTableIsNamedOnceWithItsField(t *testing.T) {
	m := parse(t, `  - create_index: {table: branch, name: a_idx, columns: [bname]}
  - set_default: {table: branch, column: bname, default: "'x'"}
`)
	_, err := planner.Build(m, accounts(), planner.Options{Missing: map[string]*schema.NoTableError{
		"public.branch": {Schema: "public", Name: "branch", Similar: []string{"public.branches"}}}})
	require.Error(t, err)
	assert.Equal(t, "m.yaml:4: operations[0].create_index.table: table public.branch does not exist; did you mean public.branches? (fix: use public.branches)", err.Error())
}

func TestAMigrationWithoutTopLevelTableNeedsOneOnEachOperation(t *testing.T) {
	_, err := spec.Parse("m.yaml", []byte("name: m1\noperations:\n  - set_default: {column: bname, default: \"'x'\"}\n"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "m.yaml:3: operations[0].set_default: names no table (fix: add `table: public.users` to the operation")
	m, err := spec.Parse("m.yaml", []byte("name: m1\noperations:\n  - set_default: {table: branches, column: bname, default: \"'x'\"}\n"))
	require.NoError(t, err)
	assert.Equal(t, []string{"public.branches"}, m.Tables())
	p, err := planner.Build(m, nil, planner.Options{Others: map[string]*schema.Table{"public.branches": branches()}})
	require.NoError(t, err)
	assert.Equal(t, "public.branches", p.TableName())
}
