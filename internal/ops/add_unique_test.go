package ops_test

import (
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"

	"github.com/zdmhq/zdm/internal/ops/opstest"
	"github.com/zdmhq/zdm/internal/testenv"
)

// uniqueHolds checks that table has constraint name, as def, on its own index of that
// name, and that the write dup fails with a unique violation.
func uniqueHolds(t *testing.T, pool *pgxpool.Pool, table, name, def, dup string) {
	t.Helper()
	assert.Equal(t, def, opstest.Constraint(t, pool, table, name))
	assert.True(t, opstest.Scalar[bool](t, pool, `SELECT conindid = to_regclass($2) FROM pg_constraint WHERE conrelid = $1::regclass AND conname = $3`,
		table, `"public".`+`"`+name+`"`, name), "the constraint uses the index built at expand")
	assert.Equal(t, "23505", opstest.ExecErr(t, pool, dup))
}

// codeWrites write accounts.code, unique and never NULL.
func codeWrites(who string, base int64) opstest.Writer {
	code := func(i int) []opstest.Col { return []opstest.Col{{Name: "code", Value: fmt.Sprintf("%s-%d", who, i)}} }
	return opstest.Writes("accounts", "aid", base, opstest.Hot,
		func(i int) []opstest.Col {
			return append([]opstest.Col{{Name: "bid", Value: i % 10}, {Name: "name", Value: who}}, code(i)...)
		}, code)
}

func TestAddUniqueLifecycle(t *testing.T) {
	t.Parallel()
	withCode := opstest.Accounts("code text := CASE WHEN g = 4000 THEN NULL ELSE 'c' || g END")
	nullsNotDistinct := constraintCase("NULLS NOT DISTINCT", withCode, `add_unique: {name: accounts_code_key, columns: [code], nulls_distinct: false}`,
		func(t *testing.T, pool *pgxpool.Pool) {
			uniqueHolds(t, pool, "accounts", "accounts_code_key", "UNIQUE NULLS NOT DISTINCT (code) deferrable=false deferred=false validated=true",
				`UPDATE accounts SET code = NULL WHERE aid = 4001`)
		})
	nullsNotDistinct.OldWrite, nullsNotDistinct.NewWrite = codeWrites("old", 1_000_000), codeWrites("new", 2_000_000)
	runCases(t, []opstest.Case{
		constraintCase("one column, NULLs distinct", opstest.Accounts(), `add_unique: {name: accounts_email_key, columns: [email], nulls_distinct: true}`,
			func(t *testing.T, pool *pgxpool.Pool) {
				uniqueHolds(t, pool, "accounts", "accounts_email_key", "UNIQUE (email) deferrable=false deferred=false validated=true",
					`UPDATE accounts SET email = 'user42@example.com' WHERE aid = 4001`)
				opstest.Exec(t, pool, `UPDATE accounts SET email = NULL WHERE aid IN (4001, 4002)`)
			}),
		constraintCase("two columns", opstest.Accounts(), `add_unique: {name: accounts_bid_name_key, columns: [bid, name]}`,
			func(t *testing.T, pool *pgxpool.Pool) {
				uniqueHolds(t, pool, "accounts", "accounts_bid_name_key", "UNIQUE (bid, name) deferrable=false deferred=false validated=true",
					`UPDATE accounts SET name = 'name 17' WHERE aid = 4007`)
			}),
		nullsNotDistinct,
		constraintCase("deferrable, initially deferred", opstest.Accounts(),
			`add_unique: {name: accounts_email_key, columns: [email], deferrable: true, initially_deferred: true}`,
			func(t *testing.T, pool *pgxpool.Pool) {
				assert.Equal(t, "UNIQUE (email) DEFERRABLE INITIALLY DEFERRED deferrable=true deferred=true validated=true",
					opstest.Constraint(t, pool, "accounts", "accounts_email_key"))
				assert.Equal(t, "", opstest.TxErr(t, pool,
					`UPDATE accounts SET email = 'swap' WHERE aid = 4001`,
					`UPDATE accounts SET email = 'user4001@example.com' WHERE aid = 4002`,
					`UPDATE accounts SET email = 'user4002@example.com' WHERE aid = 4001`), "checked at commit: a swap passes")
				assert.Equal(t, "23505 at commit", opstest.TxErr(t, pool, `UPDATE accounts SET email = 'user4003@example.com' WHERE aid = 4004`))
			}),
		{
			Name:      "quoted name in another schema",
			Setup:     opstest.Accounts() + `CREATE SCHEMA "Ledger"; ALTER TABLE accounts SET SCHEMA "Ledger"; ALTER TABLE "Ledger".accounts RENAME TO "Accounts"; ALTER TABLE "Ledger"."Accounts" RENAME COLUMN abalance TO "Balance";`,
			Migration: "table: Ledger.Accounts\noperations:\n  - add_unique: {name: \"Accounts Email\", columns: [email]}\n",
			OldWrite:  ledgerWrites("old", 1_000_000), NewWrite: ledgerWrites("new", 2_000_000), OldWritesAfterContract: true,
			Check: func(t *testing.T, pool *pgxpool.Pool) {
				assert.Equal(t, "UNIQUE (email) deferrable=false deferred=false validated=true", opstest.Constraint(t, pool, `"Ledger"."Accounts"`, "Accounts Email"))
				assert.Equal(t, `CREATE UNIQUE INDEX "Accounts Email" ON "Ledger"."Accounts" USING btree (email)`, opstest.Index(t, pool, `"Ledger"."Accounts Email"`))
				assert.Equal(t, "23505", opstest.ExecErr(t, pool, `UPDATE "Ledger"."Accounts" SET email = 'user42@example.com' WHERE aid = 4001`))
			},
		},
		refusedConstraint("unknown column", opstest.Accounts(), `add_unique: {name: x_key, columns: [emial]}`,
			`column "emial" does not exist in public.accounts (fix: use one of: aid, bid, abalance, name, email)`),
		refusedConstraint("a column listed twice", opstest.Accounts(), `add_unique: {name: x_key, columns: [email, email]}`, `column "email" is listed twice`),
		refusedConstraint("already a unique constraint", opstest.Accounts()+"ALTER TABLE accounts ADD CONSTRAINT accounts_email_uq UNIQUE (email);",
			`add_unique: {name: accounts_email_key, columns: [email]}`,
			"public.accounts is already unique over (email): UNIQUE accounts_email_uq, on index accounts_email_uq (fix: nothing to do"),
		refusedConstraint("already a unique index", opstest.Accounts()+"CREATE UNIQUE INDEX accounts_bid_name_idx ON accounts (name, bid);",
			`add_unique: {name: accounts_bid_name_key, columns: [bid, name]}`,
			`public.accounts is already unique over (bid, name): unique index accounts_bid_name_idx (fix: make the existing index the constraint, a catalog change: ALTER TABLE "public"."accounts" ADD CONSTRAINT "accounts_bid_name_key" UNIQUE USING INDEX "accounts_bid_name_idx")`),
		refusedConstraint("an index of the table has the name", opstest.Accounts()+"CREATE INDEX accounts_email_key ON accounts (name);",
			`add_unique: {name: accounts_email_key, columns: [email]}`, "index accounts_email_key already exists on public.accounts"),
		refusedConstraint("a table of the schema has the name", opstest.Accounts()+"CREATE TABLE accounts_email_key (id int);",
			`add_unique: {name: accounts_email_key, columns: [email]}`,
			"the unique index takes the constraint's name: table accounts_email_key already exists in schema public (fix: choose a name"),
		refusedConstraint("a type without equality", opstest.Accounts("doc json := json_build_object('g', g)"), `add_unique: {name: x_key, columns: [doc]}`,
			`column "doc" is of type json, which has no equality operator`),
	})
}

// A duplicate among the existing rows fails the index build at expand, before any
// gate; the rollback drops the invalid index it left.
func TestAddUniqueDuplicateFailsAtExpand(t *testing.T) {
	testenv.Need(t, "DATABASE_URL")
	t.Parallel()
	err := opstest.FailsBeforeGates(t, opstest.Accounts()+"UPDATE accounts SET email = 'user7@example.com' WHERE aid = 4321;",
		"table: accounts\noperations:\n  - add_unique: {name: accounts_email_key, columns: [email]}\n")
	assert.ErrorContains(t, err, `could not create unique index "accounts_email_key"`)
}
