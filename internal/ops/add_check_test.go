package ops_test

import (
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zdmhq/zdm/internal/ops/opstest"
	"github.com/zdmhq/zdm/internal/planner"
	"github.com/zdmhq/zdm/internal/schema"
	"github.com/zdmhq/zdm/internal/spec"
	"github.com/zdmhq/zdm/internal/testenv"
)

// constraintCase is a lifecycle case of a constraint operation on accounts: old and new
// code are the same program (a constraint changes no column), writing rows that pass
// it, before and after contract.
func constraintCase(name, setup, migration string, check func(t *testing.T, pool *pgxpool.Pool)) opstest.Case {
	return opstest.Case{Name: name, Setup: setup, Migration: "table: accounts\noperations:\n  - " + migration + "\n",
		OldWrite: indexWrites("old", 1_000_000), NewWrite: indexWrites("new", 2_000_000), OldWritesAfterContract: true, Check: check}
}

func refusedConstraint(name, setup, migration, want string) opstest.Case {
	c := constraintCase(name, setup, migration, nil)
	c.WantRefused = want
	return c
}

func runCases(t *testing.T, cases []opstest.Case) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			t.Parallel()
			opstest.Prerequisites(t, c)
			opstest.Run(t, c)
		})
	}
}

func TestAddCheckLifecycle(t *testing.T) {
	t.Parallel()
	runCases(t, []opstest.Case{
		constraintCase("plain check", opstest.Accounts(), `add_check: {name: accounts_balance_positive, check: "abalance >= 0"}`,
			func(t *testing.T, pool *pgxpool.Pool) {
				assert.Equal(t, "CHECK ((abalance >= 0)) deferrable=false deferred=false validated=true",
					opstest.Constraint(t, pool, "accounts", "accounts_balance_positive"))
				assert.Equal(t, "23514", opstest.ExecErr(t, pool, `UPDATE accounts SET abalance = -1 WHERE aid = 7`))
			}),
		constraintCase("check over two columns, qualified by the table", opstest.Accounts(),
			`add_check: {name: accounts_email_not_name, check: "public.accounts.email IS DISTINCT FROM accounts.name AND abalance < 1000000000"}`,
			func(t *testing.T, pool *pgxpool.Pool) {
				assert.Equal(t, "CHECK (((email IS DISTINCT FROM name) AND (abalance < 1000000000))) deferrable=false deferred=false validated=true",
					opstest.Constraint(t, pool, "accounts", "accounts_email_not_name"))
				assert.Equal(t, "23514", opstest.ExecErr(t, pool, `UPDATE accounts SET email = name WHERE aid = 7`))
			}),
		{
			Name: "quoted names in another schema, no inherit",
			Setup: opstest.Accounts() + `CREATE SCHEMA "Ledger"; ALTER TABLE accounts SET SCHEMA "Ledger"; ALTER TABLE "Ledger".accounts RENAME TO "Accounts";
				ALTER TABLE "Ledger"."Accounts" RENAME COLUMN abalance TO "Balance";`,
			Migration: "table: Ledger.Accounts\noperations:\n  - add_check: {name: \"Balance Positive\", check: '\"Balance\" >= 0', no_inherit: true}\n",
			OldWrite:  ledgerWrites("old", 1_000_000), NewWrite: ledgerWrites("new", 2_000_000), OldWritesAfterContract: true,
			Check: func(t *testing.T, pool *pgxpool.Pool) {
				assert.Equal(t, `CHECK (("Balance" >= 0)) NO INHERIT deferrable=false deferred=false validated=true`,
					opstest.Constraint(t, pool, `"Ledger"."Accounts"`, "Balance Positive"))
				assert.Equal(t, "23514", opstest.ExecErr(t, pool, `UPDATE "Ledger"."Accounts" SET "Balance" = -1 WHERE aid = 7`))
			},
		},
		refusedConstraint("not an expression", opstest.Accounts(), `add_check: {name: c, check: "abalance >= 0) OR (true"}`, "add_check.check: "),
		refusedConstraint("unknown column", opstest.Accounts(), `add_check: {name: c, check: "abalanse >= 0"}`,
			`column "abalanse" does not exist in public.accounts (fix: use one of: aid, bid, abalance, name, email)`),
		refusedConstraint("not boolean", opstest.Accounts(), `add_check: {name: c, check: "abalance + 1"}`,
			"the check must be one boolean expression over the table's row: argument of WHERE must be type boolean"),
		refusedConstraint("a subquery", opstest.Accounts(), `add_check: {name: c, check: "abalance < (SELECT max(aid) FROM accounts)"}`,
			"PostgreSQL does not allow a subquery in a CHECK constraint (fix: check only the row's own columns"),
		refusedConstraint("a volatile function", opstest.Accounts(), `add_check: {name: c, check: "abalance < random() * 10"}`,
			"the check must give the same answer whenever it is evaluated: generation expression is not immutable"),
		refusedConstraint("now() is not immutable either", opstest.Accounts("created timestamptz DEFAULT now()"), `add_check: {name: c, check: "created <= now()"}`,
			"generation expression is not immutable"),
		refusedConstraint("the name is taken", opstest.Accounts()+"ALTER TABLE accounts ADD CONSTRAINT accounts_balance_positive CHECK (abalance > -1);",
			`add_check: {name: accounts_balance_positive, check: "abalance >= 0"}`,
			`public.accounts already has a constraint named "accounts_balance_positive": CHECK ((abalance > '-1'::integer)) (fix: choose another name`),
		refusedConstraint("the name is another kind's", opstest.Accounts(), `add_check: {name: accounts_pkey, check: "abalance >= 0"}`,
			`public.accounts already has a constraint named "accounts_pkey": PRIMARY KEY (aid)`),
	})
}

// ledgerWrites are indexWrites on "Ledger"."Accounts", whose balance column is "Balance".
func ledgerWrites(who string, base int64) opstest.Writer {
	cols := func(i int) []opstest.Col {
		return []opstest.Col{{Name: "email", Value: email(who, i)}, {Name: "Balance", Value: i}}
	}
	return opstest.Writes("Ledger.Accounts", "aid", base, opstest.Hot,
		func(i int) []opstest.Col {
			return append([]opstest.Col{{Name: "bid", Value: i % 10}, {Name: "name", Value: who}}, cols(i)...)
		}, cols)
}

// A row that breaks the check: the plan is fine, VALIDATE fails after expand, before
// any gate, and the rollback leaves the database as it was.
func TestAddCheckRowBreakingItFailsAtValidate(t *testing.T) {
	testenv.Need(t, "DATABASE_URL")
	t.Parallel()
	err := opstest.FailsBeforeGates(t, opstest.Accounts()+"UPDATE accounts SET abalance = -5 WHERE aid = 4321;",
		"table: accounts\noperations:\n  - add_check: {name: accounts_balance_positive, check: \"abalance >= 0\"}\n")
	assert.ErrorContains(t, err, `check constraint "accounts_balance_positive" of relation "accounts" is violated by some row`)
}

// Several constraint operations in one migration: they claim no column, so they may
// name the same one; each name is given once; the tables they lock are claimed.
func TestConstraintOperationsTogether(t *testing.T) {
	branches := &schema.Table{Schema: "public", Name: "branches", Columns: []schema.Column{{Name: "bid", Type: "integer", NotNull: true}},
		Key: []string{"bid"}, Indexes: []schema.Index{{Name: "branches_pkey", Columns: []string{"bid"}, Primary: true, Unique: true, Valid: true}}}
	acc := accounts()
	acc.Columns = append(acc.Columns, schema.Column{Name: "bid", Type: "integer", NotNull: true})
	acc.Constraints = []schema.Constraint{{Name: "accounts_bid_check", Type: "c", Def: "CHECK ((bid >= 0))", Columns: []string{"bid"}, Validated: true}}
	build := func(ops string) (*planner.Plan, error) {
		m, err := spec.Parse("m.yaml", []byte("name: m\ntable: accounts\noperations:\n"+ops))
		require.NoError(t, err)
		return planner.Build(m, acc, planner.Options{Others: map[string]*schema.Table{"public.branches": branches}})
	}
	p, err := build(`  - add_check: {name: accounts_bid_small, check: "bid < 1000"}
  - add_unique: {name: accounts_bid_email_key, columns: [bid, email]}
  - add_foreign_key: {name: accounts_bid_fk, columns: [bid], references: {table: branches, columns: [bid]}}
`)
	require.NoError(t, err)
	assert.True(t, p.NoBackfill)
	assert.Equal(t, []string{"public.accounts", "public.branches"}, p.Claims())

	_, err = build(`  - add_check: {name: accounts_bid_small, check: "bid < 1000"}
  - add_check: {name: accounts_bid_small, check: "bid < 100"}
`)
	assert.ErrorContains(t, err, `operations[1].add_check.name: operations[0] already adds a constraint named "accounts_bid_small" to public.accounts`)

	_, err = build(`  - drop_constraint: {name: accounts_bid_check}
  - add_check: {name: accounts_bid_check, check: "bid < 1000"}
`)
	assert.ErrorContains(t, err, `operations[1].add_check.name: public.accounts already has a constraint named "accounts_bid_check"`,
		"the add would find the old one at expand and add nothing, and contract would drop it")
}
