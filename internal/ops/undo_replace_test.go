package ops_test

import (
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"

	"github.com/zdmhq/zdm/internal/ops/opstest"
)

// windowWrites asserts that new code wrote rows during the undo window (keys from
// 3,000,000) and that the old shape, brought back by revert, holds what it wrote.
func windowWrites(t *testing.T, pool *pgxpool.Pool, wrong string) {
	t.Helper()
	assert.Greater(t, opstest.Scalar[int64](t, pool, `SELECT count(*) FROM accounts WHERE aid >= 3000000 AND aid < 4000000`), int64(10),
		"new code inserted rows during the window")
	zero(t, pool, "rows new code inserted during the window hold, in the old shape, what it wrote",
		`SELECT count(*) FROM accounts WHERE aid >= 3000000 AND aid < 4000000 AND `+wrong)
}

func TestUndoWindowLifecycle(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("lifecycle against PostgreSQL")
	}
	// change_type whose new code stays within int during the window: down turns every
	// value it writes into the old type.
	withinInt := abalanceBigint
	withinInt.fnew = func(_ string, i int) any { return int64(2_000_000_000) + int64(i) }
	cases := []opstest.UndoCase{
		{Case: rename("rename_column", opstest.Accounts(), nameToFullName, fullNameRenamed),
			Reverted: func(t *testing.T, pool *pgxpool.Pool) {
				windowWrites(t, pool, `name IS DISTINCT FROM 'final ' || (aid - 3000000)`)
			}},
		{Case: rename("rename_column with index, unique constraint and check", opstest.Accounts()+`
			ALTER TABLE accounts ADD CONSTRAINT accounts_email_key UNIQUE (email);
			ALTER TABLE accounts ADD CONSTRAINT accounts_email_at CHECK (email LIKE '%@%');
			CREATE INDEX accounts_email_bid_idx ON accounts (email, bid);`, emailToAddress, nil),
			Reverted: func(t *testing.T, pool *pgxpool.Pool) {
				windowWrites(t, pool, `email IS DISTINCT FROM 'final' || (aid - 3000000) || '@example.com'`)
				assert.Equal(t, "23505", opstest.ExecErr(t, pool, `INSERT INTO accounts (aid, bid, name, email) VALUES (9000001, 1, 'dup', 'final0@example.com')`),
					"the unique constraint is back on email")
			}},
		{Case: rename("rename_column of a serial", opstest.Accounts("seq serial"),
			renamed{from: "seq", to: "seq_no", omit: true, val: func(string, int) any { return nil },
				updates: func(_ string, i int) []opstest.Col { return []opstest.Col{{Name: "abalance", Value: i}} }}, nil),
			Reverted: func(t *testing.T, pool *pgxpool.Pool) {
				assert.Equal(t, "public.accounts_seq_seq", opstest.Scalar[string](t, pool, `SELECT coalesce(pg_get_serial_sequence('accounts', 'seq'), 'none')`),
					"the sequence is owned by the old column again")
				zero(t, pool, "every row has its own number, those of the window too", `SELECT count(*) - count(DISTINCT seq) FROM accounts`)
			}},
		{Case: rename("rename_column under a row level security policy", opstest.Accounts()+`
			ALTER TABLE accounts ENABLE ROW LEVEL SECURITY;
			CREATE POLICY accounts_not_hidden ON accounts USING (name <> 'hidden');`, nameToFullName, nil),
			Reverted: func(t *testing.T, pool *pgxpool.Pool) {
				assert.Equal(t, "(name <> 'hidden'::text)", opstest.Scalar[string](t, pool,
					`SELECT coalesce((SELECT qual FROM pg_policies WHERE tablename = 'accounts' AND policyname = 'accounts_not_hidden'), 'missing')`))
			}},
		{Case: retype("change_type int to bigint", opstest.Accounts(), abalanceToBigint, withinInt, nil),
			Reverted: func(t *testing.T, pool *pgxpool.Pool) {
				assert.Equal(t, "integer", columnType(t, pool, "abalance"))
				windowWrites(t, pool, `abalance IS DISTINCT FROM 2000000000 + (aid - 3000000)`)
			}},
		{Case: retype("change_type with index, unique constraint and check", opstest.Accounts()+`
			ALTER TABLE accounts ADD CONSTRAINT accounts_email_key UNIQUE (email);
			ALTER TABLE accounts ADD CONSTRAINT accounts_email_at CHECK (email LIKE '%@%');
			CREATE INDEX accounts_email_bid_idx ON accounts (email, bid);`, `table: accounts
operations:
  - change_type: {column: email, type: varchar(320)}
`, retyped{col: "email",
			old:  func(who string, i int) any { return opstest.Email(who, i) },
			dual: func(who string, i int) any { return opstest.Email(who, i) },
			fnew: func(who string, i int) any { return opstest.Email(who, i) },
		}, nil),
			Reverted: func(t *testing.T, pool *pgxpool.Pool) {
				assert.Equal(t, "text", columnType(t, pool, "email"))
				windowWrites(t, pool, `email IS DISTINCT FROM 'final' || (aid - 3000000) || '@example.com'`)
			}},
	}
	runUndo(t, cases)
}
