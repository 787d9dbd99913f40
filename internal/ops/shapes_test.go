package ops_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zdmhq/zdm/internal/ops/opstest"
	"github.com/zdmhq/zdm/internal/testenv"
)

// Operations of one migration build on what earlier ones add: an index on a new
// column, a foreign key from a new table, a column of a new enum type. Their plan
// checks, which fail against the live schema, hold against the schema as expand leaves
// it (rehearsed in a transaction that is rolled back).
func TestOperationsBuildOnEarlierOnesOfTheSameMigration(t *testing.T) {
	t.Parallel()
	for _, c := range []opstest.Case{
		index("an index and a unique constraint on a column added just before", opstest.Accounts(), `add_column: {column: email_lower, type: text, backfill: "lower(email)"}
  - create_index: {name: accounts_email_lower_idx, columns: [email_lower], where: "email_lower IS NOT NULL"}
  - add_check: {name: accounts_email_lower_check, check: "email_lower = lower(email_lower)"}`,
			func(t *testing.T, pool *pgxpool.Pool) {
				assert.Equal(t, "CREATE INDEX accounts_email_lower_idx ON public.accounts USING btree (email_lower) WHERE (email_lower IS NOT NULL)", opstest.Index(t, pool, "accounts_email_lower_idx"))
				assert.Equal(t, "user4042@example.com", opstest.Scalar[string](t, pool, `SELECT email_lower FROM accounts WHERE aid = 4042`))
				assert.Zero(t, opstest.Scalar[int64](t, pool, `SELECT count(*) FROM accounts WHERE aid > 1000 AND aid <= 5000 AND email_lower IS DISTINCT FROM lower(email)`), "rows the application never wrote are backfilled")
				assert.True(t, opstest.Scalar[bool](t, pool, `SELECT convalidated FROM pg_constraint WHERE conname = 'accounts_email_lower_check'`))
			}),
		index("a new table, its index and its foreign key to an existing one", opstest.Accounts(), `create_table:
      table: payments
      columns:
        - {name: id, type: bigint, identity: true, primary_key: true}
        - {name: aid, type: bigint, nullable: false}
        - {name: amount, type: "numeric(12,2)", default: "0"}
  - create_index: {table: payments, name: payments_aid_idx, columns: [aid]}
  - add_foreign_key: {table: payments, name: payments_aid_fk, columns: [aid], references: {table: accounts, columns: [aid]}}`,
			func(t *testing.T, pool *pgxpool.Pool) {
				opstest.Exec(t, pool, `INSERT INTO payments (aid, amount) VALUES (42, 1.5)`)
				assert.Equal(t, "23503", opstest.ExecErr(t, pool, `INSERT INTO payments (aid) VALUES (-1)`))
				assert.True(t, opstest.Scalar[bool](t, pool, `SELECT convalidated FROM pg_constraint WHERE conname = 'payments_aid_fk'`))
				opstest.ByIndex(t, pool, "payments_aid_idx", `SELECT count(*) FROM payments WHERE aid = 42`)
			}),
		index("a column of an enum type created just before", opstest.Accounts(), `create_enum: {name: tier, values: [free, pro]}
  - add_column: {column: tier, type: tier, backfill: "CASE WHEN abalance > 20000 THEN 'pro' ELSE 'free' END::tier", not_null: true, default: "'free'"}`,
			func(t *testing.T, pool *pgxpool.Pool) {
				assert.Equal(t, "tier", opstest.Scalar[string](t, pool, `SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = 'accounts'::regclass AND attname = 'tier'`))
				assert.Zero(t, opstest.Scalar[int64](t, pool, `SELECT count(*) FROM accounts WHERE tier IS NULL`))
				assert.Equal(t, "pro", opstest.Scalar[string](t, pool, `SELECT tier::text FROM accounts WHERE aid = 4999`))
				assert.Equal(t, "free", opstest.Scalar[string](t, pool, `SELECT tier::text FROM accounts WHERE aid = 2002`))
			}),
		refusedIndex("an index on a column an earlier operation replaces", opstest.Accounts(), `change_type: {column: abalance, type: bigint}
  - create_index: {name: accounts_abalance_idx, columns: [abalance]}`,
			`operations[1].create_index.columns[0]: column "abalance" is replaced or dropped by operations[0].change_type of this migration`),
		refusedIndex("an index on a table an earlier operation drops", opstest.Accounts()+"CREATE TABLE old_audit (id int PRIMARY KEY, what text);", `drop_table: {table: old_audit}
  - create_index: {table: old_audit, name: old_audit_what_idx, columns: [what]}`,
			`operations[1].create_index.table: table public.old_audit is dropped or renamed by operations[0].drop_table of this migration`),
	} {
		t.Run(c.Name, func(t *testing.T) {
			t.Parallel()
			opstest.Run(t, c)
		})
	}
}

func TestATypeCreatedTwiceInOneMigrationIsRefused(t *testing.T) {
	t.Parallel()
	c := index("the same enum twice", opstest.Accounts(), `create_enum: {name: tier, values: [free]}
  - create_enum: {name: tier, values: [pro]}`, nil)
	c.WantRefused = "operations[1].create_enum.name: type public.tier is already created by an earlier operation of this migration"
	opstest.Run(t, c)
}

// add_column without backfill or default: a catalog change, nothing to fill; new code
// writes the column, old code leaves it NULL.
func TestAPlainNullableColumnNeedsNoBackfill(t *testing.T) {
	t.Parallel()
	c := index("a nullable column without backfill", opstest.Accounts(), `add_column: {column: nickname, type: text}`,
		func(t *testing.T, pool *pgxpool.Pool) {
			assert.Equal(t, int64(opstest.AccountsRows-opstest.Hot), opstest.Scalar[int64](t, pool, `SELECT count(*) FROM accounts WHERE nickname IS NULL AND aid > $1 AND aid <= $2`, opstest.Hot, opstest.AccountsRows))
			opstest.Exec(t, pool, `UPDATE accounts SET nickname = 'x' WHERE aid = 1`)
		})
	opstest.Run(t, c)
	_, pool := testenv.DB(t, "zdm_ops")
	opstest.Exec(t, pool, opstest.Accounts())
	p, err := opstest.Plan(context.Background(), pool, "plain.yaml", []byte("name: plain\ntable: accounts\noperations:\n  - add_column: {column: nickname, type: text}\n"))
	require.NoError(t, err)
	assert.True(t, p.NoBackfill, "nothing to backfill")
	assert.Empty(t, p.Ops)
}

func TestATableRenamedAfterOtherChangesToItIsRefused(t *testing.T) {
	t.Parallel()
	c := index("rename after a change", opstest.Accounts(), `create_index: {name: accounts_bid_idx, columns: [bid]}
  - rename_table: {to: clients}`, nil)
	c.WantRefused = "operations[1].rename_table: operations[0].create_index changes public.accounts, which this operation renames"
	opstest.Run(t, c)
}

func TestAColumnReplacedAfterAnIndexIsBuiltOnItIsRefused(t *testing.T) {
	t.Parallel()
	c := index("retype after an index", opstest.Accounts(), `create_index: {name: accounts_bid_idx, columns: [bid]}
  - change_type: {column: bid, type: bigint}`, nil)
	c.WantRefused = `operations[1].change_type.column: column "bid" is used by operations[0].create_index of this migration, and this operation replaces it`
	opstest.Run(t, c)
}
