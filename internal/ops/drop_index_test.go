package ops_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"

	"github.com/zdmhq/zdm/internal/ops/opstest"
)

// dropped is a case that drops what (as opstest.Attached names it, or a column) on
// purpose.
func dropped(c opstest.Case, what ...string) opstest.Case {
	c.Dropped = append(c.Dropped, what...)
	return c
}

// inLedger moves an index case's table, and its writers, to ledger.accounts.
func inLedger(c opstest.Case) opstest.Case {
	c.Migration = strings.Replace(c.Migration, "table: accounts", "table: ledger.accounts", 1)
	writes := func(who string, base int64) opstest.Writer {
		cols := func(i int) []opstest.Col {
			return []opstest.Col{{Name: "email", Value: email(who, i)}, {Name: "abalance", Value: i}}
		}
		return opstest.Writes("ledger.accounts", "aid", base, opstest.Hot, func(i int) []opstest.Col {
			return append([]opstest.Col{{Name: "bid", Value: i % 10}, {Name: "name", Value: fmt.Sprintf("%s %d", who, i)}}, cols(i)...)
		}, cols)
	}
	c.OldWrite, c.NewWrite = writes("old", 1_000_000), writes("new", 2_000_000)
	return c
}

func TestDropIndexLifecycle(t *testing.T) {
	t.Parallel()
	gone := func(name string) func(t *testing.T, pool *pgxpool.Pool) {
		return func(t *testing.T, pool *pgxpool.Pool) {
			assert.Equal(t, "missing", opstest.Index(t, pool, name))
			assert.Equal(t, "CREATE UNIQUE INDEX accounts_pkey ON public.accounts USING btree (aid)", opstest.Index(t, pool, "accounts_pkey"), "the table's other indexes stay")
		}
	}
	for _, c := range []opstest.Case{
		dropped(index("a plain index", opstest.Accounts()+`CREATE INDEX accounts_email_idx ON accounts (email);`,
			`drop_index: {name: accounts_email_idx}`, gone("accounts_email_idx")), "index accounts_email_idx"),
		dropped(index("a partial unique index", opstest.Accounts()+`CREATE UNIQUE INDEX accounts_email_key ON accounts (lower(email)) WHERE aid < 1000000;`,
			`drop_index: {name: accounts_email_key}`, gone("accounts_email_key")), "index accounts_email_key"),
		dropped(inLedger(index("a quoted, mixed-case name in another schema",
			"CREATE SCHEMA ledger;\n"+opstest.Accounts()+`ALTER TABLE accounts SET SCHEMA ledger; CREATE INDEX "Accounts By Bid" ON ledger.accounts (bid);`,
			`drop_index: {name: "Accounts By Bid"}`, func(t *testing.T, pool *pgxpool.Pool) {
				assert.Equal(t, "missing", opstest.Index(t, pool, `ledger."Accounts By Bid"`))
			})), `index "Accounts By Bid"`),
		refusedIndex("no such index", opstest.Accounts()+`CREATE INDEX accounts_bid_idx ON accounts (bid);`, `drop_index: {name: accounts_email_idx}`,
			"index accounts_email_idx does not exist on public.accounts (fix: use one of: accounts_bid_idx, accounts_pkey)"),
		refusedIndex("the primary key", opstest.Accounts(), `drop_index: {name: accounts_pkey}`, "index accounts_pkey backs the primary key of public.accounts"),
		refusedIndex("a unique constraint's index", opstest.Accounts()+`ALTER TABLE accounts ADD CONSTRAINT accounts_email_key UNIQUE (email);`,
			`drop_index: {name: accounts_email_key}`, "backs the UNIQUE constraint accounts_email_key (fix: use drop_constraint"),
		refusedIndex("an exclusion constraint's index", opstest.Accounts()+`ALTER TABLE accounts ADD CONSTRAINT accounts_bid_excl EXCLUDE USING btree (aid WITH =);`,
			`drop_index: {name: accounts_bid_excl}`, "backs the EXCLUDE constraint accounts_bid_excl (fix: use drop_constraint"),
		refusedIndex("the replica identity", opstest.Accounts()+`CREATE UNIQUE INDEX accounts_aid_bid ON accounts (aid, bid); ALTER TABLE accounts REPLICA IDENTITY USING INDEX accounts_aid_bid;`,
			`drop_index: {name: accounts_aid_bid}`, "index accounts_aid_bid is the replica identity of its table"),
		refusedIndex("a foreign key's unique index", opstest.Accounts()+`CREATE UNIQUE INDEX accounts_aid_bid ON accounts (aid, bid);
			CREATE TABLE transfers (id int PRIMARY KEY, aid bigint, bid int, FOREIGN KEY (aid, bid) REFERENCES accounts (aid, bid));`,
			`drop_index: {name: accounts_aid_bid}`, "index accounts_aid_bid is needed by constraint transfers_aid_bid_fkey on table transfers"),
	} {
		t.Run(c.Name, func(t *testing.T) {
			t.Parallel()
			opstest.Run(t, c)
		})
	}
}
