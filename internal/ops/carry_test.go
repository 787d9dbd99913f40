package ops_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zdmhq/zdm/internal/plan"
	"github.com/zdmhq/zdm/internal/schema"
)

func sqlOf(stmts []plan.Statement) string {
	var b strings.Builder
	for _, s := range stmts {
		b.WriteString(s.SQL + ";\n")
	}
	return b.String()
}

func TestAttachedObjectsAreCarriedToTheFinalColumn(t *testing.T) {
	tbl := accounts()
	stat := 500
	email := tbl.Column("email")
	email.Default, email.Comment, email.StatTarget = "'none'::text", "where we write", &stat
	email.Collation = `"pg_catalog"."C"`
	email.Grants = []schema.Grant{{Grantee: "reporting", Privilege: "SELECT"}, {Privilege: "UPDATE", Grantable: true}}
	email.Dependents = []schema.Dependent{
		{Type: "table constraint", ConstraintType: "c", Name: "email_has_at", Expr: "(email ~~ '%@%'::text)", Validated: true, Describe: "constraint email_has_at on table accounts"},
		{Type: "default value", Own: true, Describe: "default value for column email of table accounts"},
		{Type: "sequence", Own: true, Name: "accounts_email_seq", Identity: "public.accounts_email_seq", Describe: "sequence accounts_email_seq"},
	}
	ch, errs := planOp(t, "rename_column: {column: email, to: mail}", tbl)
	require.Empty(t, errs)
	expand := sqlOf(ch.Expand) + sqlOf(ch.AfterSync)
	assert.Contains(t, expand, `ADD COLUMN IF NOT EXISTS "mail" text COLLATE "pg_catalog"."C"`)
	assert.Contains(t, expand, `GRANT SELECT ("mail") ON "public"."accounts" TO "reporting"`)
	assert.Contains(t, expand, `GRANT UPDATE ("mail") ON "public"."accounts" TO PUBLIC WITH GRANT OPTION`)
	assert.Contains(t, expand, `ADD CONSTRAINT "_zdm_email_has_at" CHECK (mail ~~ '%@%'::text) NOT VALID`)
	assert.Contains(t, sqlOf(ch.Validate), `VALIDATE CONSTRAINT "_zdm_email_has_at"`)
	contract := sqlOf(ch.Contract)
	assert.True(t, strings.HasPrefix(contract, `ALTER SEQUENCE public.accounts_email_seq OWNED BY "public"."accounts"."mail"`),
		"the sequence changes owner before the old column (and the sequence with it) is dropped:\n%s", contract)
	assert.Contains(t, contract, `RENAME CONSTRAINT "_zdm_email_has_at" TO "email_has_at"`)
	assert.Contains(t, contract, `COMMENT ON COLUMN "public"."accounts"."mail" IS 'where we write'`)
	assert.Contains(t, contract, `ALTER COLUMN "mail" SET STATISTICS 500`)
	assert.Equal(t, "'none'::text", ch.Sync.Default)
	assert.Equal(t, "'none'::text", ch.Sync.OldDefault, "a stable default tells new code's inserts from old code's")
	assert.Contains(t, sqlOf(ch.Rollback), `DROP CONSTRAINT IF EXISTS "_zdm_email_has_at"`)
}

func TestPoliciesReadTheNewColumnFromContract(t *testing.T) {
	tbl := accounts()
	tbl.Column("email").Dependents = []schema.Dependent{{Type: "policy", Name: "own_rows", Describe: "policy own_rows on table accounts",
		Using: "(email = CURRENT_USER)", WithCheck: "(email IS NOT NULL)"}}
	ch, errs := planOp(t, "rename_column: {column: email, to: mail}", tbl)
	require.Empty(t, errs)
	require.NotEmpty(t, ch.Contract)
	assert.Equal(t, `ALTER POLICY "own_rows" ON "public"."accounts" USING (mail = current_user) WITH CHECK (mail IS NOT NULL)`, ch.Contract[0].SQL,
		"before the old column is dropped, in the contract's transaction")
}

func TestAttachedObjectsThatCannotBeCarriedAreRefusedWithTheFix(t *testing.T) {
	cases := []struct {
		dep  schema.Dependent
		want string
	}{
		{schema.Dependent{Type: "trigger", Describe: "trigger audit on table accounts"}, "UPDATE OF"},
		{schema.Dependent{Type: "table column", Describe: "column email_domain of table accounts"}, "generated column"},
		{schema.Dependent{Type: "statistics object", Describe: "statistics object s1"}, "DROP STATISTICS"},
		{schema.Dependent{Type: "table constraint", ConstraintType: "f", Describe: "constraint fk on table orders"}, "foreign key"},
		{schema.Dependent{Type: "publication relation", Describe: "publication of table accounts in publication p"}, "remove it before the migration"},
	}
	for _, c := range cases {
		tbl := accounts()
		tbl.Column("email").Dependents = []schema.Dependent{c.dep}
		_, errs := planOp(t, "change_type: {column: email, type: varchar(200)}", tbl)
		require.Len(t, errs, 1, c.dep.Describe)
		assert.Equal(t, "operations[0].change_type.column", errs[0].Field)
		assert.Contains(t, errs[0].Error(), c.dep.Describe)
		assert.Contains(t, errs[0].Error(), c.want)
	}
}
