package ops_test

import (
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"

	"github.com/zdmhq/zdm/internal/ops/opstest"
)

// indexWrites are the application's writes while an index builds: old and new code are
// the same program here (an index changes no column).
func indexWrites(who string, base int64) opstest.Writer {
	cols := func(i int) []opstest.Col {
		return []opstest.Col{{Name: "email", Value: email(who, i)}, {Name: "abalance", Value: i}}
	}
	return opstest.Writes("accounts", "aid", base, opstest.Hot,
		func(i int) []opstest.Col {
			return append([]opstest.Col{{Name: "bid", Value: i % 10}, {Name: "name", Value: fmt.Sprintf("%s %d", who, i)}}, cols(i)...)
		}, cols)
}

func index(name, setup, migration string, check func(t *testing.T, pool *pgxpool.Pool)) opstest.Case {
	return opstest.Case{Name: name, Setup: setup, Migration: "table: accounts\noperations:\n  - " + migration + "\n",
		OldWrite: indexWrites("old", 1_000_000), NewWrite: indexWrites("new", 2_000_000), OldWritesAfterContract: true, Check: check}
}

func refusedIndex(name, setup, migration, want string) opstest.Case {
	c := index(name, setup, migration, nil)
	c.WantRefused = want
	return c
}

func TestCreateIndexLifecycle(t *testing.T) {
	t.Parallel()
	for _, c := range []opstest.Case{
		index("btree on a column", opstest.Accounts(), `create_index: {name: accounts_email_idx, columns: [email]}`,
			func(t *testing.T, pool *pgxpool.Pool) {
				assert.Equal(t, "CREATE INDEX accounts_email_idx ON public.accounts USING btree (email)", opstest.Index(t, pool, "accounts_email_idx"))
				opstest.ByIndex(t, pool, "accounts_email_idx", `SELECT count(*) FROM accounts WHERE email = 'user42@example.com'`)
			}),
		index("unique partial expression index", opstest.Accounts(),
			`create_index: {name: accounts_email_lower_key, columns: ["lower(email)"], unique: true, where: "email IS NOT NULL AND aid < 1000000"}`,
			func(t *testing.T, pool *pgxpool.Pool) {
				assert.Equal(t, "CREATE UNIQUE INDEX accounts_email_lower_key ON public.accounts USING btree (lower(email)) WHERE ((email IS NOT NULL) AND (aid < 1000000))",
					opstest.Index(t, pool, "accounts_email_lower_key"))
				assert.Equal(t, "23505", opstest.ExecErr(t, pool, `UPDATE accounts SET email = 'USER42@example.com' WHERE aid = 43`), "the index is unique")
			}),
		index("INCLUDE columns", opstest.Accounts(), `create_index: {name: accounts_bid_idx, columns: [bid], include: [abalance]}`,
			func(t *testing.T, pool *pgxpool.Pool) {
				assert.Equal(t, "CREATE INDEX accounts_bid_idx ON public.accounts USING btree (bid) INCLUDE (abalance)", opstest.Index(t, pool, "accounts_bid_idx"))
				opstest.ByIndex(t, pool, "accounts_bid_idx", `SELECT count(*) FROM accounts WHERE bid = 3`)
			}),
		index("hash method", opstest.Accounts(), `create_index: {name: accounts_name_hash, columns: [name], method: hash}`,
			func(t *testing.T, pool *pgxpool.Pool) {
				assert.Equal(t, "CREATE INDEX accounts_name_hash ON public.accounts USING hash (name)", opstest.Index(t, pool, "accounts_name_hash"))
				opstest.ByIndex(t, pool, "accounts_name_hash", `SELECT count(*) FROM accounts WHERE name = 'name 7'`)
			}),
		refusedIndex("an index of that name exists", opstest.Accounts()+"CREATE INDEX accounts_email_idx ON accounts (email);",
			`create_index: {name: accounts_email_idx, columns: [email]}`, "index accounts_email_idx already exists on public.accounts (fix: "),
		refusedIndex("unknown column", opstest.Accounts(), `create_index: {name: x_idx, columns: [emial]}`, `column "emial" does not exist in public.accounts (fix: use one of: `),
		refusedIndex("unknown method", opstest.Accounts(), `create_index: {name: x_idx, columns: [email], method: btreee}`, `access method "btreee" does not exist (fix: `),
		refusedIndex("a bad predicate", opstest.Accounts(), `create_index: {name: x_idx, columns: [email], where: "emial IS NULL"}`, `column "emial" does not exist`),
	} {
		t.Run(c.Name, func(t *testing.T) {
			t.Parallel()
			opstest.Run(t, c)
		})
	}
}
