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

// renameAccounts is a lifecycle case of a rename_table of accounts to clients: old code
// inserts (leaving abalance to its default), updates and deletes with RETURNING through
// the old name, new code the same through the new one, in every phase.
func renameAccounts(name, setup, migration string, check func(t *testing.T, pool *pgxpool.Pool)) opstest.Case {
	return opstest.Case{Name: name, Setup: setup, Migration: "table: accounts\noperations:\n  - " + migration + "\n",
		OldWrite: opstest.Rows("accounts", 1_000_000), NewWrite: opstest.Rows("clients", 2_000_000),
		FinalTable: "clients", Check: check}
}

func TestRenameTableLifecycle(t *testing.T) {
	t.Parallel()
	renamedOnly := func(t *testing.T, pool *pgxpool.Pool) {
		assert.Equal(t, "42P01", opstest.ExecErr(t, pool, `SELECT 1 FROM accounts`), "the old name is gone after contract")
		assert.Equal(t, "r", opstest.Scalar[string](t, pool, `SELECT relkind::text FROM pg_class WHERE oid = 'clients'::regclass`))
		assert.Equal(t, opstest.AccountsRows, opstest.Scalar[int](t, pool, `SELECT count(*) FROM clients WHERE aid <= $1`, opstest.AccountsRows))
	}
	serial := renameAccounts("a serial key, a trigger and a view over the table",
		`CREATE TABLE accounts (aid bigserial PRIMARY KEY, bid int NOT NULL, abalance int NOT NULL DEFAULT 0, name text NOT NULL, email text, touched int NOT NULL DEFAULT 0);
		INSERT INTO accounts (bid, name) SELECT g % 10, 'name ' || g FROM generate_series(1, 5000) g;
		CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN NEW.touched := NEW.touched + 1; RETURN NEW; END $$;
		CREATE TRIGGER touch BEFORE UPDATE ON accounts FOR EACH ROW EXECUTE FUNCTION touch();
		CREATE VIEW rich AS SELECT aid, abalance FROM accounts WHERE abalance > 50000;`,
		`rename_table: {to: clients}`, func(t *testing.T, pool *pgxpool.Pool) {
			renamedOnly(t, pool)
			assert.Contains(t, opstest.Scalar[string](t, pool, `SELECT pg_get_viewdef('rich')`), "FROM clients", "the view follows the table")
			assert.Positive(t, opstest.Scalar[int](t, pool, `SELECT count(*) FROM clients WHERE touched > 0`), "the trigger fired for updates through both names")
		})
	for _, c := range []opstest.Case{
		renameAccounts("rename a table", opstest.Accounts(), `rename_table: {to: clients}`, renamedOnly),
		serial,
		func() opstest.Case {
			c := renameAccounts("a table in another schema", "CREATE SCHEMA crm;\n"+opstest.Accounts()+"ALTER TABLE accounts SET SCHEMA crm;",
				`rename_table: {to: clients}`, nil)
			c.Migration = "table: crm.accounts\noperations:\n  - rename_table: {to: clients}\n"
			c.OldWrite, c.NewWrite, c.FinalTable = opstest.Rows("crm.accounts", 1_000_000), opstest.Rows("crm.clients", 2_000_000), "crm.clients"
			return c
		}(),
		func() opstest.Case {
			c := renameAccounts("refused: to is taken", opstest.Accounts()+"CREATE VIEW clients AS SELECT 1 AS one;", `rename_table: {to: clients}`, nil)
			c.WantRefused = "relation public.clients already exists: rename_table needs a free name (fix: drop or rename it, or choose another name)"
			return c
		}(),
		func() opstest.Case {
			c := renameAccounts("refused: to is a schema-qualified name", opstest.Accounts(), `rename_table: {to: public.clients}`, nil)
			c.WantRefused = `"public.clients" is not a table name (fix: write the table's name alone`
			return c
		}(),
	} {
		t.Run(c.Name, func(t *testing.T) {
			t.Parallel()
			opstest.Run(t, c)
		})
	}
}

// Through the old name, after expand: the table's privileges, its defaults, RETURNING,
// and its row-level security policies, which the view applies to whoever uses it.
func TestRenameTableViewActsAsTheTable(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	_, pool := testenv.DB(t, "zdm_ops")
	opstest.Exec(t, pool, opstest.Accounts()+`
		GRANT SELECT, INSERT ON accounts TO PUBLIC;
		GRANT UPDATE (name) ON accounts TO PUBLIC;
		ALTER TABLE accounts ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
		CREATE POLICY low_keys ON accounts USING (aid <= 100 OR aid > 1000000);`)
	p, err := opstest.Plan(ctx, pool, "m.yaml", []byte("name: rename-accounts\ntable: accounts\noperations:\n  - rename_table: {to: clients}\n"))
	require.NoError(t, err)
	require.NoError(t, opstest.Expand(ctx, pool, p, "run-1"))

	assert.Equal(t, "v", opstest.Scalar[string](t, pool, `SELECT relkind::text FROM pg_class WHERE oid = 'accounts'::regclass`))
	assert.Equal(t, "{security_invoker=true}", opstest.Scalar[string](t, pool, `SELECT reloptions::text FROM pg_class WHERE oid = 'accounts'::regclass`))
	acl := func(rel string) string {
		return opstest.Scalar[string](t, pool, `SELECT coalesce((SELECT string_agg(x::text, ',' ORDER BY x::text) FROM unnest((SELECT relacl FROM pg_class WHERE oid = $1::regclass)) x), '-')`, rel)
	}
	assert.Equal(t, acl("clients"), acl("accounts"), "the view has the table's privileges")
	columnACL := `SELECT coalesce(attacl::text, '-') FROM pg_attribute WHERE attrelid = $1::regclass AND attname = 'name'`
	assert.Contains(t, opstest.Scalar[string](t, pool, columnACL, "accounts"), "=w/", "UPDATE (name) TO PUBLIC")
	assert.Equal(t, opstest.Scalar[string](t, pool, columnACL, "clients"), opstest.Scalar[string](t, pool, columnACL, "accounts"), "and its column privileges")
	assert.Equal(t, 100, opstest.Scalar[int](t, pool, `SELECT count(*) FROM accounts`), "the table's policy applies through the view")
	assert.Equal(t, 0, opstest.Scalar[int](t, pool, `INSERT INTO accounts (aid, bid, name) VALUES (1000001, 1, 'via view') RETURNING abalance`),
		"the table's default fills what the insert leaves out")
	assert.Equal(t, "via view", opstest.Scalar[string](t, pool, `SELECT name FROM clients WHERE aid = 1000001`))

	require.NoError(t, opstest.Expand(ctx, pool, p, "run-1"), "expand again (a retried activity) changes nothing")
	require.NoError(t, opstest.Rollback(ctx, pool, p))
	assert.Equal(t, "r", opstest.Scalar[string](t, pool, `SELECT relkind::text FROM pg_class WHERE oid = 'accounts'::regclass`))
	assert.Equal(t, "42P01", opstest.ExecErr(t, pool, `SELECT 1 FROM clients`))
}
