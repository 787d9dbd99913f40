package ops_test

import (
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zdmhq/zdm/internal/ops"
	"github.com/zdmhq/zdm/internal/ops/opstest"
	"github.com/zdmhq/zdm/internal/schema"
	"github.com/zdmhq/zdm/internal/spec"
	"github.com/zdmhq/zdm/internal/testenv"
)

// keyWrites are the application's writes while accounts gets a foreign key to branches
// (which holds bids 0 to 19): accounts rows with existing branches, inserted and moved
// between branches, and now and then a new branch. cols gives the referencing
// columns' values for a bid.
func keyWrites(who string, base int64, branches string, cols func(bid int) []opstest.Col) opstest.Writer {
	accounts := opstest.Writes("accounts", "aid", base, opstest.Hot,
		func(i int) []opstest.Col {
			return append([]opstest.Col{{Name: "name", Value: fmt.Sprintf("%s %d", who, i)}, {Name: "email", Value: email(who, i)}}, cols(i%20)...)
		},
		func(i int) []opstest.Col {
			return append([]opstest.Col{{Name: "abalance", Value: i}}, cols((i*3)%20)...)
		})
	branch := opstest.Writes(branches, "bid", base, 1,
		func(i int) []opstest.Col {
			return []opstest.Col{{Name: "bname", Value: fmt.Sprintf("%s branch %d", who, i)}}
		}, nil)
	return opstest.Alternate(accounts, opstest.Alternate(accounts, branch))
}

func bidOnly(bid int) []opstest.Col { return []opstest.Col{{Name: "bid", Value: bid}} }

func fkCase(name, setup, migration string, check func(t *testing.T, pool *pgxpool.Pool)) opstest.Case {
	c := constraintCase(name, setup, migration, check)
	c.OldWrite, c.NewWrite = keyWrites("old", 1_000_000, "branches", bidOnly), keyWrites("new", 2_000_000, "branches", bidOnly)
	return c
}

func refusedFK(name, setup, migration, want string) opstest.Case {
	c := fkCase(name, setup, migration, nil)
	c.WantRefused = want
	return c
}

func TestAddForeignKeyLifecycle(t *testing.T) {
	t.Parallel()
	setup := opstest.Branches(20) + opstest.Accounts()
	// Two columns, referencing a table of another schema through a unique constraint
	// whose columns come in another order.
	bank := opstest.Branches(20) + `ALTER TABLE branches ADD CONSTRAINT branches_name_bid_key UNIQUE (bname, bid);
		CREATE SCHEMA "Bank"; ALTER TABLE branches SET SCHEMA "Bank"; ALTER TABLE "Bank".branches RENAME TO "Branches";` +
		opstest.Accounts("bname text := 'branch ' || (g % 10)")
	bankCols := func(bid int) []opstest.Col {
		return []opstest.Col{{Name: "bid", Value: bid}, {Name: "bname", Value: fmt.Sprintf("branch %d", bid)}}
	}
	twoColumns := fkCase("two columns, referenced table in another schema", bank,
		`add_foreign_key: {name: accounts_branch_fk, columns: [bid, bname], references: {table: Bank.Branches, columns: [bid, bname]}, on_update: CASCADE}`,
		func(t *testing.T, pool *pgxpool.Pool) {
			assert.Equal(t, `FOREIGN KEY (bid, bname) REFERENCES "Bank"."Branches"(bid, bname) ON UPDATE CASCADE deferrable=false deferred=false validated=true`,
				opstest.Constraint(t, pool, "accounts", "accounts_branch_fk"))
			assert.Equal(t, "23503", opstest.ExecErr(t, pool, `UPDATE accounts SET bname = 'branch 3' WHERE aid = 4001`), "(1, 'branch 3') is no branch")
			opstest.Exec(t, pool, `UPDATE "Bank"."Branches" SET bname = 'renamed 5' WHERE bid = 5`)
			assert.Equal(t, "renamed 5", opstest.Scalar[string](t, pool, `SELECT bname FROM accounts WHERE aid = 4005`), "ON UPDATE CASCADE")
		})
	twoColumns.OldWrite = keyWrites("old", 1_000_000, "Bank.Branches", bankCols)
	twoColumns.NewWrite = keyWrites("new", 2_000_000, "Bank.Branches", bankCols)

	runCases(t, []opstest.Case{
		fkCase("on delete cascade", setup,
			`add_foreign_key: {name: accounts_bid_fk, columns: [bid], references: {table: branches, columns: [bid]}, on_delete: CASCADE, on_update: NO ACTION, deferrable: false}`,
			func(t *testing.T, pool *pgxpool.Pool) {
				assert.Equal(t, "FOREIGN KEY (bid) REFERENCES branches(bid) ON DELETE CASCADE deferrable=false deferred=false validated=true",
					opstest.Constraint(t, pool, "accounts", "accounts_bid_fk"))
				assert.Equal(t, "23503", opstest.ExecErr(t, pool, `INSERT INTO accounts (aid, bid, name) VALUES (9000001, 12345, 'orphan')`))
				opstest.Exec(t, pool, `INSERT INTO branches VALUES (777, 'b'); INSERT INTO accounts (aid, bid, name) VALUES (9000002, 777, 'x'); DELETE FROM branches WHERE bid = 777`)
				assert.Equal(t, int64(0), opstest.Scalar[int64](t, pool, `SELECT count(*) FROM accounts WHERE aid = 9000002`), "ON DELETE CASCADE")
			}),
		twoColumns,
		fkCase("self-reference, set null, deferrable", opstest.Branches(20)+opstest.Accounts("referrer bigint := CASE WHEN g % 3 = 0 THEN g - 1 END"),
			`add_foreign_key: {name: accounts_referrer_fk, columns: [referrer], references: {table: public.accounts, columns: [aid]}, on_delete: set null, initially_deferred: true}`,
			func(t *testing.T, pool *pgxpool.Pool) {
				assert.Equal(t, "FOREIGN KEY (referrer) REFERENCES accounts(aid) ON DELETE SET NULL DEFERRABLE INITIALLY DEFERRED deferrable=true deferred=true validated=true",
					opstest.Constraint(t, pool, "accounts", "accounts_referrer_fk"))
				opstest.Exec(t, pool, `DELETE FROM accounts WHERE aid = 2999`)
				assert.Nil(t, opstest.Scalar[*int64](t, pool, `SELECT referrer FROM accounts WHERE aid = 3000`), "ON DELETE SET NULL")
				assert.Equal(t, "23503 at commit", opstest.TxErr(t, pool, `UPDATE accounts SET referrer = 9999999 WHERE aid = 4001`))
			}),
		refusedFK("referenced table missing", setup,
			`add_foreign_key: {name: fk, columns: [bid], references: {table: branchez, columns: [bid]}}`,
			"add_foreign_key.references.table: the referenced table public.branchez does not exist (fix: create the referenced table first"),
		refusedFK("referenced column missing", setup,
			`add_foreign_key: {name: fk, columns: [bid], references: {table: branches, columns: [id]}}`,
			`references.columns[0]: column "id" does not exist in public.branches (fix: use one of: bid, bname)`),
		refusedFK("referenced columns not unique", setup,
			`add_foreign_key: {name: fk, columns: [name], references: {table: branches, columns: [bname]}}`,
			"public.branches (bname) is not a primary key or unique constraint: PostgreSQL requires a foreign key's referenced columns to be one (fix: add a primary key or unique constraint on public.branches (bname) first (add_unique))"),
		refusedFK("referenced key deferrable", opstest.Branches(20)+"ALTER TABLE branches ADD CONSTRAINT branches_bname_key UNIQUE (bname) DEFERRABLE;"+opstest.Accounts(),
			`add_foreign_key: {name: fk, columns: [name], references: {table: branches, columns: [bname]}}`,
			"public.branches (bname) is unique only through branches_bname_key, which is DEFERRABLE: PostgreSQL cannot check a foreign key against a deferrable key (fix: make branches_bname_key NOT DEFERRABLE"),
		refusedFK("set null on a NOT NULL column", setup,
			`add_foreign_key: {name: fk, columns: [bid], references: {table: branches, columns: [bid]}, on_delete: SET NULL}`,
			`add_foreign_key.on_delete: SET NULL on column "bid", which is NOT NULL: every delete of a referenced row would fail (fix: use another action, or drop NOT NULL on bid first`),
		refusedFK("not an action", setup,
			`add_foreign_key: {name: fk, columns: [bid], references: {table: branches, columns: [bid]}, on_delete: DELETE}`,
			`add_foreign_key.on_delete: "DELETE" is not a referential action (fix: use one of: NO ACTION, RESTRICT, CASCADE, SET NULL, SET DEFAULT)`),
		refusedFK("incompatible types", setup,
			`add_foreign_key: {name: fk, columns: [name], references: {table: branches, columns: [bid]}}`,
			"add_foreign_key.columns: key columns name (text) and bid (integer) are of incompatible types"),
		refusedFK("numeric cannot reference integer, though = compares them", opstest.Branches(20)+opstest.Accounts("amount numeric := g % 10"),
			`add_foreign_key: {name: fk, columns: [amount], references: {table: branches, columns: [bid]}}`,
			"key columns amount (numeric) and bid (integer) are of incompatible types"),
		refusedFK("the name is taken", setup+"ALTER TABLE accounts ADD CONSTRAINT fk CHECK (bid >= 0);",
			`add_foreign_key: {name: fk, columns: [bid], references: {table: branches, columns: [bid]}}`,
			`public.accounts already has a constraint named "fk"`),
		refusedFK("column counts differ", setup,
			`add_foreign_key: {name: fk, columns: [bid, name], references: {table: branches, columns: [bid]}}`,
			"1 referenced column(s) for 2 column(s)"),
	})
}

// int referencing bigint, varchar referencing text, a domain over int: PostgreSQL
// implements each (cross-type or implicit equality), and the plan accepts them.
func TestAddForeignKeyCompatibleTypes(t *testing.T) {
	testenv.Need(t, "DATABASE_URL")
	t.Parallel()
	_, pool := testenv.DB(t, "zdm_ops")
	opstest.Exec(t, pool, `CREATE DOMAIN posint AS int CHECK (VALUE > 0);
		CREATE TABLE parent (id bigint PRIMARY KEY, code text UNIQUE, small int UNIQUE);
		CREATE TABLE child (id int PRIMARY KEY, parent_id int, code varchar(10), d posint)`)
	for _, fk := range []string{
		`{name: fk, columns: [parent_id], references: {table: parent, columns: [id]}}`,
		`{name: fk, columns: [code], references: {table: parent, columns: [code]}}`,
		`{name: fk, columns: [d], references: {table: parent, columns: [small]}}`,
	} {
		_, err := opstest.Plan(t.Context(), pool, "m.yaml", []byte("name: fk\ntable: child\noperations:\n  - add_foreign_key: "+fk+"\n"))
		assert.NoError(t, err, fk)
	}
}

// An orphan row: the plan is fine, VALIDATE fails after expand, before any gate, and
// the rollback leaves both tables as they were.
func TestAddForeignKeyOrphanFailsAtValidate(t *testing.T) {
	testenv.Need(t, "DATABASE_URL")
	t.Parallel()
	err := opstest.FailsBeforeGates(t, opstest.Branches(20)+opstest.Accounts()+"UPDATE accounts SET bid = 42 WHERE aid = 4321;",
		"table: accounts\noperations:\n  - add_foreign_key: {name: accounts_bid_fk, columns: [bid], references: {table: branches, columns: [bid]}}\n")
	assert.ErrorContains(t, err, `insert or update on table "accounts" violates foreign key constraint "accounts_bid_fk"`)
}

// The plan claims the referenced table, says when the referencing columns have no
// index, and names both tables' locks.
func TestAddForeignKeyPlan(t *testing.T) {
	branches := &schema.Table{Schema: "public", Name: "branches", Columns: []schema.Column{{Name: "bid", Type: "integer", NotNull: true}},
		Indexes: []schema.Index{{Name: "branches_pkey", Columns: []string{"bid"}, Primary: true, Unique: true, Valid: true, Constraint: "branches_pkey", ConstraintType: "p"}}}
	acc := accounts()
	acc.Columns = append(acc.Columns, schema.Column{Name: "bid", Type: "integer", NotNull: true})
	plan := func(t *testing.T, tbl *schema.Table) *ops.Change {
		m, err := spec.Parse("m.yaml", []byte("name: m\ntable: accounts\noperations:\n  - add_foreign_key: {name: fk, columns: [bid], references: {table: branches, columns: [bid]}}\n"))
		require.NoError(t, err)
		e := &ops.Env{M: m, Field: "operations[0].add_foreign_key", Table: tbl,
			Lookup: func(name string) *schema.Table { return map[string]*schema.Table{"public.branches": branches}[name] }}
		ch := m.Operations[0].Op.(ops.Operation).Plan(e)
		require.Empty(t, e.Errs)
		return ch
	}
	ch := plan(t, acc)
	assert.Equal(t, []string{"public.branches"}, ch.Touches)
	assert.Equal(t, "SHARE ROW EXCLUSIVE on public.accounts and public.branches, brief (blocks their writes while held)", ch.AfterSync[0].Lock)
	assert.Equal(t, "SHARE UPDATE EXCLUSIVE on public.accounts, ROW SHARE on public.branches (reads and writes go on)", ch.Validate[0].Lock)
	assert.Contains(t, ch.Notes, "no index of public.accounts starts with (bid): every delete or key update in public.branches scans public.accounts; consider a create_index on them first")
	assert.Contains(t, ch.Notes, "from expand on, deleting or updating a referenced key of public.branches is refused while rows of public.accounts hold it (NO ACTION)")

	acc.Indexes = append(acc.Indexes, schema.Index{Name: "accounts_bid_aid_idx", Columns: []string{"bid", "aid"}, Valid: true})
	for _, n := range plan(t, acc).Notes {
		assert.NotContains(t, n, "no index", "an index starting with bid serves the foreign key")
	}
}
