package ops_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"

	"github.com/zdmhq/zdm/internal/ops/opstest"
)

// added builds the application's writes around an add_column of accounts.col. Old code
// writes the columns src(who, i) gives (on inserts, besides bid and name); new code
// writes them and col, with the value derive(who, i) computes from them the way the
// backfill expression does (ok false: new code leaves col out of that write).
type added struct {
	col    string
	src    func(who string, i int) []opstest.Col
	derive func(who string, i int) (v any, ok bool)
}

func (a added) writer(who string, base int64, withNew bool) opstest.Writer {
	cols := func(i int) []opstest.Col {
		out := a.src(who, i)
		if withNew {
			if v, ok := a.derive(who, i); ok {
				out = append(out, opstest.Col{Name: a.col, Value: v})
			}
		}
		return out
	}
	return opstest.Writes("accounts", "aid", base, opstest.Hot,
		func(i int) []opstest.Col {
			return append([]opstest.Col{{Name: "bid", Value: i % 10}, {Name: "name", Value: fmt.Sprintf("%s %d", who, i)}}, cols(i)...)
		},
		cols)
}

// add is a lifecycle case of an add_column of accounts. New code is the same before and
// after contract: it writes the old columns and the new one.
func add(name, setup, migration string, a added, check func(t *testing.T, pool *pgxpool.Pool)) opstest.Case {
	return opstest.Case{Name: name, Setup: setup, Migration: migration,
		OldWrite: a.writer("old", 1_000_000, false), NewWrite: a.writer("new", 2_000_000, true), Check: check}
}

// email is the email a write sets: NULL every fifth time, like the seeded rows.
func email(who string, i int) *string {
	if i%10 == 4 || i%10 == 7 {
		return nil
	}
	e := opstest.Email(strings.ToUpper(who[:1])+who[1:], i)
	return &e
}

func lowerOf(e *string) *string {
	if e == nil {
		return nil
	}
	l := strings.ToLower(*e)
	return &l
}

// emailLower is email_lower = lower(email) (ok: the emails are ASCII, where Go and
// PostgreSQL lower alike).
var emailLower = added{col: "email_lower",
	src:    func(who string, i int) []opstest.Col { return []opstest.Col{{Name: "email", Value: email(who, i)}} },
	derive: func(who string, i int) (any, bool) { return lowerOf(email(who, i)), true },
}

// emailLowerNotNull is email_lower = coalesce(lower(email), the empty string).
var emailLowerNotNull = added{col: "email_lower",
	src: emailLower.src,
	derive: func(who string, i int) (any, bool) {
		if l := lowerOf(email(who, i)); l != nil {
			return *l, true
		}
		return "", true
	},
}

// foundLabel is found_label = CASE WHEN found THEN 'yes' ELSE 'no' END.
var foundLabel = added{col: "found_label",
	src: func(_ string, i int) []opstest.Col { return []opstest.Col{{Name: "found", Value: i%3 == 0}} },
	derive: func(_ string, i int) (any, bool) {
		if i%3 == 0 {
			return "yes", true
		}
		return "no", true
	},
}

const addEmailLower = `table: accounts
operations:
  - add_column: {column: email_lower, type: text, backfill: "lower(email)"}
`

// emailLowered checks email_lower = lower(email) on the rows only new code wrote since
// contract: seeded rows nobody updated, and new code's rows.
func emailLowered(t *testing.T, pool *pgxpool.Pool) {
	t.Helper()
	zero(t, pool, "untouched rows have email_lower",
		`SELECT count(*) FROM accounts WHERE aid > $1 AND aid <= $2 AND email_lower IS DISTINCT FROM lower(email)`, opstest.Hot, opstest.AccountsRows)
	zero(t, pool, "new code's rows have email_lower", `SELECT count(*) FROM accounts WHERE aid >= 2000000 AND email_lower IS DISTINCT FROM lower(email)`)
	assert.NotZero(t, opstest.Scalar[int64](t, pool, `SELECT count(*) FROM accounts WHERE email_lower LIKE 'user%@example.com'`))
}

func notNull(t *testing.T, pool *pgxpool.Pool, col string) bool {
	t.Helper()
	return opstest.Scalar[bool](t, pool, `SELECT attnotnull FROM pg_attribute WHERE attrelid = 'accounts'::regclass AND attname = $1`, col)
}

func TestAddColumnLifecycle(t *testing.T) {
	t.Parallel()
	role := opstest.Role(t)
	nullable := func(c opstest.Case) opstest.Case { c.OldWritesAfterContract = true; return c }
	cases := []opstest.Case{
		nullable(add("nullable", opstest.Accounts(), addEmailLower, emailLower,
			func(t *testing.T, pool *pgxpool.Pool) {
				emailLowered(t, pool)
				assert.Equal(t, "text", columnType(t, pool, "email_lower"))
				assert.False(t, notNull(t, pool, "email_lower"))
			})),

		add("not null", opstest.Accounts(), `table: accounts
operations:
  - add_column: {column: email_lower, type: text, backfill: "coalesce(lower(email), '')", not_null: true}
`, emailLowerNotNull,
			func(t *testing.T, pool *pgxpool.Pool) {
				assert.True(t, notNull(t, pool, "email_lower"), "email_lower is NOT NULL")
				zero(t, pool, "every row has email_lower", `SELECT count(*) FROM accounts WHERE email_lower IS DISTINCT FROM coalesce(lower(email), '')`)
				assert.Equal(t, "23502", opstest.ExecErr(t, pool, `INSERT INTO accounts (aid, bid, name, email) VALUES (9000001, 1, 'x', 'x@example.com')`),
					"NOT NULL holds after contract")
			}),

		{Name: "not null from an expression that can be null", Setup: opstest.Accounts(), Migration: `table: accounts
operations:
  - add_column: {column: email_lower, type: text, backfill: "lower(email)", not_null: true}
`, OldWrite: emailLower.writer("old", 1_000_000, false), NewWrite: emailLower.writer("new", 2_000_000, true), WantRefused: "null"},

		nullable(add("table-qualified expression", opstest.Accounts(), `table: accounts
operations:
  - add_column: {column: email_lower, type: text, backfill: "lower(accounts.email)"}
`, emailLower, emailLowered)),

		nullable(add("column named found", opstest.Accounts("found boolean NOT NULL DEFAULT false := g % 3 = 0"), `table: accounts
operations:
  - add_column: {column: found_label, type: text, backfill: "CASE WHEN found THEN 'yes' ELSE 'no' END"}
`, foundLabel, func(t *testing.T, pool *pgxpool.Pool) {
			// Old code still writes after contract, leaving the label out: look at the rows it
			// never wrote.
			zero(t, pool, "every row's label says what found says",
				`SELECT count(*) FROM accounts WHERE found_label IS DISTINCT FROM CASE WHEN found THEN 'yes' ELSE 'no' END AND (aid > $1 AND aid <= $2 OR aid >= 2000000)`,
				opstest.Hot, opstest.AccountsRows)
		})),

		add("not null from a CASE that cannot be null", opstest.Accounts("found boolean NOT NULL DEFAULT false := g % 3 = 0"), `table: accounts
operations:
  - add_column: {column: found_label, type: text, backfill: "CASE WHEN found THEN 'yes' ELSE 'no' END", not_null: true}
`, foundLabel, func(t *testing.T, pool *pgxpool.Pool) {
			assert.True(t, notNull(t, pool, "found_label"), "found_label is NOT NULL")
			zero(t, pool, "every row's label says what found says", `SELECT count(*) FROM accounts WHERE found_label <> CASE WHEN found THEN 'yes' ELSE 'no' END`)
		}),

		nullable(add("before update trigger setting updated_at", opstest.Accounts(
			"updated_at timestamptz NOT NULL DEFAULT now() := timestamptz '2020-01-01 00:00:00+00' + g * interval '1 minute'")+`
			CREATE FUNCTION touch_updated_at() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN NEW.updated_at := now(); RETURN NEW; END $$;
			CREATE TRIGGER accounts_touch BEFORE UPDATE ON accounts FOR EACH ROW EXECUTE FUNCTION touch_updated_at();`,
			addEmailLower, emailLower,
			func(t *testing.T, pool *pgxpool.Pool) {
				emailLowered(t, pool)
				zero(t, pool, "rows the application never updated keep their updated_at (the migration is not an update of theirs)",
					`SELECT count(*) FROM accounts WHERE aid > $1 AND aid <= $2 AND updated_at <> timestamptz '2020-01-01 00:00:00+00' + aid * interval '1 minute'`,
					opstest.Hot, opstest.AccountsRows)
				opstest.Exec(t, pool, `UPDATE accounts SET email = 'touched@example.com' WHERE aid = 4999`)
				assert.True(t, opstest.Scalar[bool](t, pool, `SELECT updated_at > now() - interval '1 hour' FROM accounts WHERE aid = 4999`), "the trigger still fires")
			})),

		nullable(add("row level security policy on the source column", opstest.Accounts()+`
			ALTER TABLE accounts ENABLE ROW LEVEL SECURITY;
			CREATE POLICY accounts_not_blocked ON accounts USING (email IS DISTINCT FROM 'blocked@example.com');`,
			addEmailLower, emailLower,
			func(t *testing.T, pool *pgxpool.Pool) {
				emailLowered(t, pool)
				assert.True(t, opstest.Scalar[bool](t, pool, `SELECT relrowsecurity FROM pg_class WHERE oid = 'accounts'::regclass`), "row level security is still on")
			})),

		func() opstest.Case {
			c := nullable(add("forced row level security hiding rows from the migration", opstest.Accounts()+`
			ALTER TABLE accounts ENABLE ROW LEVEL SECURITY;
			ALTER TABLE accounts FORCE ROW LEVEL SECURITY;
			CREATE POLICY accounts_archive_hidden ON accounts USING (aid <= 4000 OR aid > 5000);`,
				addEmailLower, emailLower,
				func(t *testing.T, pool *pgxpool.Pool) {
					opstest.Exec(t, pool, `ALTER TABLE accounts NO FORCE ROW LEVEL SECURITY`) // the owner sees every row again
					emailLowered(t, pool)
				}))
			// Refusing a table whose policies hide rows from the migration is right too.
			c.MayRefuse = "security"
			return c
		}(),

		nullable(add("serial column", opstest.Accounts("seq serial"), `table: accounts
operations:
  - add_column: {column: seq_label, type: text, backfill: "'#' || seq"}
`, added{col: "seq_label",
			// Inserts leave seq to its default, so new code cannot know the label either;
			// nobody updates seq.
			src:    func(_ string, i int) []opstest.Col { return []opstest.Col{{Name: "abalance", Value: i}} },
			derive: func(string, int) (any, bool) { return nil, false },
		}, func(t *testing.T, pool *pgxpool.Pool) {
			zero(t, pool, "every seeded row's label has its number", `SELECT count(*) FROM accounts WHERE aid <= $1 AND seq_label IS DISTINCT FROM '#' || seq`, opstest.AccountsRows)
			assert.Equal(t, "public.accounts_seq_seq", opstest.Scalar[string](t, pool, `SELECT coalesce(pg_get_serial_sequence('accounts', 'seq'), 'none')`))
		})),

		func() opstest.Case {
			c := nullable(add("expression over a stored generated column", opstest.Accounts(
				"abalance_cents bigint GENERATED ALWAYS AS (abalance::bigint * 100) STORED"), `table: accounts
operations:
  - add_column: {column: abalance_units, type: bigint, backfill: "abalance_cents / 100"}
`, added{col: "abalance_units",
				src:    func(_ string, i int) []opstest.Col { return []opstest.Col{{Name: "abalance", Value: i}} },
				derive: func(_ string, i int) (any, bool) { return int64(i), true },
			}, func(t *testing.T, pool *pgxpool.Pool) {
				// Old code still writes after contract, leaving the column out: look at the
				// rows it never wrote.
				zero(t, pool, "every row has its units",
					`SELECT count(*) FROM accounts WHERE abalance_units IS DISTINCT FROM abalance_cents / 100 AND (aid > $1 AND aid <= $2 OR aid >= 2000000)`,
					opstest.Hot, opstest.AccountsRows)
			}))
			// A BEFORE trigger cannot see a generated column's value: refusing is right too.
			c.MayRefuse = "generated"
			return c
		}(),

		nullable(add("table and column privileges", opstest.Accounts()+fmt.Sprintf(`
			GRANT SELECT ON accounts TO %[1]s;
			GRANT UPDATE (email) ON accounts TO %[1]s;`, role),
			addEmailLower, emailLower,
			func(t *testing.T, pool *pgxpool.Pool) {
				emailLowered(t, pool)
				assert.True(t, opstest.Scalar[bool](t, pool, `SELECT has_column_privilege($1, 'accounts', 'email_lower', 'SELECT')`, role),
					"%s reads the new column through its grant on the table", role)
				assert.True(t, opstest.Scalar[bool](t, pool, `SELECT has_column_privilege($1, 'accounts', 'email', 'UPDATE')`, role))
			})),
	}
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			t.Parallel()
			opstest.Run(t, c)
		})
	}
}
