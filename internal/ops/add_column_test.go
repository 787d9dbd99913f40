package ops_test

import (
	"context"
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

// finalWrites makes c's new code, after contract, write a's column in every write:
// nothing computes it for an insert that leaves it out any more.
func finalWrites(c opstest.Case, a added) opstest.Case {
	always := a
	always.derive = func(who string, i int) (any, bool) {
		v, _ := a.derive(who, i)
		return v, true
	}
	c.FinalWrite = always.writer("final", 3_000_000, true)
	return c
}

// refusedAdd is an add_column case of email_lower that must be refused at plan.
func refusedAdd(name, setup, want string) opstest.Case {
	c := add(name, setup, addEmailLower, emailLower, nil)
	c.WantRefused = want
	return c
}

// keptWrite is new code writing email_lower values of its own ('kept <aid>', not what
// lower(email) gives) into rows only it touches, an existing one (Hot+1+i) and one it
// inserts (2,000,000+i); old code then updates each row: another column, then email,
// which the expression reads. Every value new code wrote must survive.
func keptWrite(ctx context.Context, pool *pgxpool.Pool, i int) error {
	existing, inserted := int64(opstest.Hot+1+i), int64(2_000_000+i)
	if _, err := pool.Exec(ctx, `UPDATE accounts SET email_lower = $2 WHERE aid = $1`, existing, fmt.Sprintf("kept %d", existing)); err != nil {
		return fmt.Errorf("new code's UPDATE of %d: %w", existing, err)
	}
	if _, err := pool.Exec(ctx, `INSERT INTO accounts (aid, bid, name, email, email_lower) VALUES ($1, 1, 'new', $2, $3)`,
		inserted, opstest.Email("New", i), fmt.Sprintf("kept %d", inserted)); err != nil {
		return fmt.Errorf("new code's INSERT of %d: %w", inserted, err)
	}
	for _, aid := range []int64{existing, inserted} {
		for _, set := range []string{"bid = bid + 1", fmt.Sprintf("email = 'Changed%d@example.com'", aid)} {
			tag, err := pool.Exec(ctx, `UPDATE accounts SET `+set+` WHERE aid = $1`, aid)
			if err != nil {
				return fmt.Errorf("old code's UPDATE of %d: %w", aid, err)
			}
			if tag.RowsAffected() != 1 {
				return fmt.Errorf("old code's UPDATE of %d: updated %d rows", aid, tag.RowsAffected())
			}
		}
	}
	return nil
}

// countryName is country_name = the name of the row's country, from the table
// countries; new code writes it in half of its writes (the same name), leaves it out in
// the others.
var countryName = added{col: "country_name",
	src:    func(_ string, i int) []opstest.Col { return []opstest.Col{{Name: "country_id", Value: i % 10}} },
	derive: func(_ string, i int) (any, bool) { return fmt.Sprintf("Country %d", i%10), i%4 < 2 },
}

// seenAt is seen_at = now(); token is token = gen_random_uuid(). New code writes a value
// of its own in half of its writes, leaves it out in the others.
var (
	seenAt = added{col: "seen_at", src: emailLower.src,
		derive: func(_ string, i int) (any, bool) { return aMinute("", i), i%4 < 2 }}
	token = added{col: "token", src: emailLower.src,
		derive: func(_ string, i int) (any, bool) { return fmt.Sprintf("00000000-0000-4000-9000-%012d", i), i%4 < 2 }}
)

// newAndOld is latest = coalesce(new, old), over columns named new and old.
var newAndOld = added{col: "latest",
	src: func(who string, i int) []opstest.Col {
		var n any
		if i%3 != 0 {
			n = fmt.Sprintf("%s n%d", who, i)
		}
		return []opstest.Col{{Name: "new", Value: n}, {Name: "old", Value: fmt.Sprintf("%s o%d", who, i)}}
	},
	derive: func(who string, i int) (any, bool) {
		if i%3 != 0 {
			return fmt.Sprintf("%s n%d", who, i), true
		}
		return fmt.Sprintf("%s o%d", who, i), true
	},
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
		// The table.

		refusedAdd("partitioned table", partitionedAccounts(), tableRefused("partitioned table")),

		refusedAdd("inheritance child", inheritingAccounts(), tableRefused("inheritance child")),

		refusedAdd("table in a publication", opstest.Accounts()+publishedAccounts, published("accounts_pub")),

		nullable(add("unlogged table", unloggedAccounts(), addEmailLower, emailLower,
			func(t *testing.T, pool *pgxpool.Pool) {
				emailLowered(t, pool)
				unlogged(t, pool)
			})),

		// Expressions.

		finalWrites(add("backfill reads a lookup table", `CREATE TABLE countries (id int PRIMARY KEY, name text NOT NULL);
			INSERT INTO countries SELECT i, 'Country ' || i FROM generate_series(0, 9) i;
			`+opstest.Accounts("country_id int := g % 10"), `table: accounts
operations:
  - add_column: {column: country_name, type: text, backfill: "(SELECT c.name FROM countries c WHERE c.id = accounts.country_id)"}
`, countryName, func(t *testing.T, pool *pgxpool.Pool) {
			zero(t, pool, "every row has a name", `SELECT count(*) FROM accounts WHERE country_name IS NULL`)
			// Old code moves hot rows to other countries while the migration runs: their
			// name must follow, as it does for an expression verify can recompute.
			zero(t, pool, "every row has its country's name",
				`SELECT count(*) FROM accounts a WHERE country_name IS DISTINCT FROM (SELECT c.name FROM countries c WHERE c.id = a.country_id)`)
		}), countryName),

		finalWrites(add("volatile backfill now()", opstest.Accounts(), `table: accounts
operations:
  - add_column: {column: seen_at, type: timestamptz, backfill: "now()"}
`, seenAt, func(t *testing.T, pool *pgxpool.Pool) {
			zero(t, pool, "every row has a time", `SELECT count(*) FROM accounts WHERE seen_at IS NULL`)
			zero(t, pool, "untouched rows have the migration's time",
				`SELECT count(*) FROM accounts WHERE aid > $1 AND aid <= $2 AND seen_at < now() - interval '1 hour'`, opstest.Hot, opstest.AccountsRows)
		}), seenAt),

		finalWrites(add("volatile backfill gen_random_uuid()", opstest.Accounts(), `table: accounts
operations:
  - add_column: {column: token, type: uuid, backfill: "gen_random_uuid()"}
`, token, func(t *testing.T, pool *pgxpool.Pool) {
			zero(t, pool, "every row has a token", `SELECT count(*) FROM accounts WHERE token IS NULL`)
			zero(t, pool, "every row has a token of its own", `SELECT count(token) - count(DISTINCT token) FROM accounts`)
		}), token),

		add("columns named new and old in the expression", opstest.Accounts(
			"new text := CASE WHEN g % 3 = 0 THEN NULL ELSE 'n' || g END", "old text := 'o' || g"), `table: accounts
operations:
  - add_column: {column: latest, type: text, backfill: "coalesce(new, old)"}
`, newAndOld, func(t *testing.T, pool *pgxpool.Pool) {
			zero(t, pool, "every row's latest is coalesce(new, old)", `SELECT count(*) FROM accounts WHERE latest IS DISTINCT FROM coalesce(new, old)`)
			assert.NotZero(t, opstest.Scalar[int64](t, pool, `SELECT count(*) FROM accounts WHERE new IS NULL AND latest = old`))
		}),

		nullable(opstest.Case{Name: "a value new code wrote survives old code's later updates", Setup: opstest.Accounts(), Migration: addEmailLower,
			OldWrite: emailLower.writer("old", 1_000_000, false), NewWrite: keptWrite,
			Check: func(t *testing.T, pool *pgxpool.Pool) {
				// keptWrite's calls from DefaultWrites on ran after the rollback: during the
				// backfill and verify, and after contract.
				first := opstest.DefaultWrites
				zero(t, pool, "what new code wrote is kept, though old code then updated another column and email",
					`SELECT count(*) FROM accounts WHERE email LIKE 'Changed%' AND (aid > $1 AND aid < 2000000 OR aid >= $2) AND email_lower IS DISTINCT FROM 'kept ' || aid`,
					opstest.Hot+first, 2_000_000+first)
				assert.GreaterOrEqual(t, opstest.Scalar[int64](t, pool, `SELECT count(*) FROM accounts WHERE email_lower LIKE 'kept %'`), int64(2*first))
				zero(t, pool, "rows whose value went with the rollback have the expression's",
					`SELECT count(*) FROM accounts WHERE (aid > $1 AND aid <= $2 OR aid >= 2000000 AND aid < $3) AND email_lower IS DISTINCT FROM lower(email)`,
					opstest.Hot, opstest.Hot+first, 2_000_000+first)
			}}),
	}
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			t.Parallel()
			opstest.Prerequisites(t, c)
			opstest.Run(t, c)
		})
	}
}
