package ops_test

import (
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zdmhq/zdm/internal/ops"
	"github.com/zdmhq/zdm/internal/ops/opstest"
	"github.com/zdmhq/zdm/internal/schema"
	"github.com/zdmhq/zdm/internal/spec"
)

// dropping is a case whose migration drops the attached objects named.
func dropping(c opstest.Case, objects ...string) opstest.Case {
	c.Dropped = append(c.Dropped, objects...)
	return c
}

func TestDropConstraintLifecycle(t *testing.T) {
	t.Parallel()
	withFK := opstest.Branches(20) + opstest.Accounts() + "ALTER TABLE accounts ADD CONSTRAINT accounts_bid_fkey FOREIGN KEY (bid) REFERENCES branches (bid);"
	runCases(t, []opstest.Case{
		dropping(constraintCase("a check", opstest.Accounts("note text")+"ALTER TABLE accounts ADD CONSTRAINT accounts_note_check CHECK (note <> '');",
			`drop_constraint: {name: accounts_note_check}`,
			func(t *testing.T, pool *pgxpool.Pool) {
				assert.Equal(t, "missing", opstest.Constraint(t, pool, "accounts", "accounts_note_check"))
				assert.Equal(t, "", opstest.ExecErr(t, pool, `UPDATE accounts SET note = '' WHERE aid = 7`))
			}), "constraint accounts_note_check"),
		dropping(constraintCase("a unique constraint and its index", opstest.Accounts()+"ALTER TABLE accounts ADD CONSTRAINT accounts_email_key UNIQUE (email);",
			`drop_constraint: {name: accounts_email_key}`,
			func(t *testing.T, pool *pgxpool.Pool) {
				assert.Equal(t, "missing", opstest.Constraint(t, pool, "accounts", "accounts_email_key"))
				assert.Equal(t, "missing", opstest.Index(t, pool, "accounts_email_key"))
				assert.Equal(t, "", opstest.ExecErr(t, pool, `UPDATE accounts SET email = 'user42@example.com' WHERE aid = 4001`))
			}), "constraint accounts_email_key", "index accounts_email_key"),
		dropping(constraintCase("an exclusion constraint", opstest.Accounts()+"ALTER TABLE accounts ADD CONSTRAINT accounts_email_excl EXCLUDE USING btree (email WITH =);",
			`drop_constraint: {name: accounts_email_excl}`,
			func(t *testing.T, pool *pgxpool.Pool) {
				assert.Equal(t, "missing", opstest.Constraint(t, pool, "accounts", "accounts_email_excl"))
				assert.Equal(t, "", opstest.ExecErr(t, pool, `UPDATE accounts SET email = 'user42@example.com' WHERE aid = 4001`))
			}), "constraint accounts_email_excl", "index accounts_email_excl"),
		dropping(fkCase("a foreign key", withFK, `drop_constraint: {name: accounts_bid_fkey}`,
			func(t *testing.T, pool *pgxpool.Pool) {
				assert.Equal(t, "missing", opstest.Constraint(t, pool, "accounts", "accounts_bid_fkey"))
				assert.Equal(t, "", opstest.ExecErr(t, pool, `INSERT INTO accounts (aid, bid, name) VALUES (9000001, 12345, 'orphan')`))
			}), "constraint accounts_bid_fkey"),
		dropping(fkCase("a foreign key, then the key it relies on", withFK,
			"drop_constraint: {name: accounts_bid_fkey}\n  - drop_constraint: {name: branches_pkey, table: branches}",
			func(t *testing.T, pool *pgxpool.Pool) {
				assert.Equal(t, "missing", opstest.Constraint(t, pool, "accounts", "accounts_bid_fkey"))
				assert.Equal(t, "missing", opstest.Constraint(t, pool, "branches", "branches_pkey"))
				assert.Equal(t, "", opstest.ExecErr(t, pool, `INSERT INTO branches VALUES (3, 'again')`))
			}), "constraint accounts_bid_fkey"),
		refusedConstraint("no such constraint", opstest.Accounts()+"ALTER TABLE accounts ADD CONSTRAINT accounts_balance_check CHECK (abalance >= 0);",
			`drop_constraint: {name: accounts_note_check}`,
			`public.accounts has no constraint "accounts_note_check" (fix: use one of the table's constraints: accounts_balance_check (CHECK), accounts_pkey (PRIMARY KEY))`),
		refusedConstraint("a NOT NULL", opstest.Accounts(), `drop_constraint: {name: accounts_name_not_null}`,
			`NOT NULL is not a constraint in PostgreSQL 15 but a property of column "name": public.accounts has no constraint "accounts_name_not_null" (fix: use drop_not_null: {column: name})`),
		refusedFK("a key a foreign key relies on", withFK, "drop_constraint: {name: branches_pkey, table: branches}",
			"foreign key(s) accounts_bid_fkey of public.accounts rely on branches_pkey: PostgreSQL refuses to drop it while they exist (fix: drop the foreign key(s) first"),
		refusedFK("the key before the foreign key", withFK, "drop_constraint: {name: branches_pkey, table: branches}\n  - drop_constraint: {name: accounts_bid_fkey}",
			"foreign key(s) accounts_bid_fkey of public.accounts rely on branches_pkey"),
		refusedConstraint("the primary key of a published table", opstest.Accounts()+"CREATE PUBLICATION accounts_pub FOR TABLE accounts;",
			`drop_constraint: {name: accounts_pkey}`,
			"public.accounts is published (accounts_pub) with the primary key as its replica identity: without it every UPDATE and DELETE would fail"),
	})
}

// A foreign key's drop claims and locks its referenced table; a primary key's says how
// zdm will page the table afterwards.
func TestDropConstraintPlan(t *testing.T) {
	tbl := accounts()
	tbl.Constraints = []schema.Constraint{
		{Name: "accounts_pkey", Type: "p", Def: "PRIMARY KEY (aid)", Columns: []string{"aid"}, Index: "accounts_pkey"},
		{Name: "accounts_bid_fkey", Type: "f", Def: "FOREIGN KEY (bid) REFERENCES branches(bid)", References: "public.branches"},
	}
	tbl.Indexes = []schema.Index{{Name: "accounts_pkey", Columns: []string{"aid"}, Primary: true, Unique: true, Valid: true}}
	plan := func(t *testing.T, name string) *ops.Change {
		ch, errs := planOp(t, "drop_constraint: {name: "+name+"}", tbl)
		require.Empty(t, errs)
		return ch
	}
	fk := plan(t, "accounts_bid_fkey")
	assert.Equal(t, []string{"public.branches"}, fk.Touches)
	assert.Equal(t, "ACCESS EXCLUSIVE on public.accounts and public.branches, brief (catalog only)", fk.Contract[0].Lock)
	assert.Empty(t, fk.Expand)
	assert.Empty(t, fk.Rollback, "nothing happens before contract: nothing to undo")

	assert.Contains(t, plan(t, "accounts_pkey").Notes,
		"without a primary key or a unique index over NOT NULL columns, zdm cannot page public.accounts in later migrations that backfill it")
	tbl.Indexes = append(tbl.Indexes, schema.Index{Name: "accounts_email_key", Columns: []string{"name"}, Unique: true, Valid: true})
	assert.Contains(t, plan(t, "accounts_pkey").Notes, "without its primary key, zdm pages public.accounts by unique index accounts_email_key in later migrations")

	_, err := spec.Parse("m.yaml", []byte("name: m\ntable: accounts\noperations:\n  - drop_constraint: {name: _zdm_nn_x}\n"))
	assert.ErrorContains(t, err, `"_zdm_nn_x" is reserved for zdm's own objects`)
}
