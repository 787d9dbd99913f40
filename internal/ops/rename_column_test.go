package ops_test

import (
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"

	"github.com/zdmhq/zdm/internal/ops/opstest"
)

// renamed builds the application's writes around a rename_column of accounts.from to
// to. Old code writes val(who, i) into from; new code, while the migration runs, either
// writes both names (dual-write) or only the new one, by turns; after contract it writes
// only the new name.
type renamed struct {
	from, to string
	val      func(who string, i int) any
	// omit: inserts leave the column out, its default fills it.
	omit bool
	// updates, when set, is what updates set instead of the column (nobody updates a
	// serial).
	updates func(who string, i int) []opstest.Col
}

func (r renamed) writer(who string, base int64, cols ...string) opstest.Writer {
	set := func(i int) []opstest.Col {
		var out []opstest.Col
		for _, c := range cols {
			out = append(out, opstest.Col{Name: c, Value: r.val(who, i)})
		}
		return out
	}
	return opstest.Writes("accounts", "aid", base, opstest.Hot,
		func(i int) []opstest.Col {
			out := []opstest.Col{{Name: "bid", Value: i % 10}}
			if r.from != "name" {
				out = append(out, opstest.Col{Name: "name", Value: fmt.Sprintf("%s %d", who, i)})
			}
			if r.from != "email" {
				out = append(out, opstest.Col{Name: "email", Value: opstest.Email(who, i)})
			}
			if !r.omit {
				out = append(out, set(i)...)
			}
			return out
		},
		func(i int) []opstest.Col {
			if r.updates != nil {
				return r.updates(who, i)
			}
			return set(i)
		})
}

// rename is a lifecycle case of a rename_column of accounts.
func rename(name, setup string, r renamed, check func(t *testing.T, pool *pgxpool.Pool)) opstest.Case {
	return opstest.Case{Name: name, Setup: setup,
		Migration:  fmt.Sprintf("table: accounts\noperations:\n  - rename_column: {column: %s, to: %s}\n", r.from, r.to),
		OldWrite:   r.writer("old", 1_000_000, r.from),
		NewWrite:   opstest.Alternate(r.writer("new", 2_000_000, r.from, r.to), r.writer("new", 2_000_000, r.to)),
		FinalWrite: r.writer("final", 3_000_000, r.to),
		Check:      check}
}

// refusedRename is a rename_column case that must be refused at plan.
func refusedRename(name, setup string, r renamed, want string) opstest.Case {
	c := rename(name, setup, r, nil)
	c.WantRefused = want
	return c
}

var nameToFullName = renamed{from: "name", to: "full_name", val: func(who string, i int) any { return fmt.Sprintf("%s %d", who, i) }}

// fullNameRenamed checks name -> full_name: name is gone, full_name holds every row's
// name, seeded or written by old code.
func fullNameRenamed(t *testing.T, pool *pgxpool.Pool) {
	t.Helper()
	assert.Empty(t, opstest.Scalar[string](t, pool, `SELECT coalesce((SELECT attname FROM pg_attribute WHERE attrelid = 'accounts'::regclass AND attname = 'name' AND NOT attisdropped), '')`), "name is gone")
	assert.Equal(t, "text", columnType(t, pool, "full_name"))
	assert.True(t, opstest.Scalar[bool](t, pool, `SELECT attnotnull FROM pg_attribute WHERE attrelid = 'accounts'::regclass AND attname = 'full_name'`), "full_name is NOT NULL like name")
	zero(t, pool, "untouched rows keep their name", `SELECT count(*) FROM accounts WHERE aid > $1 AND aid <= $2 AND full_name <> 'name ' || aid`, opstest.Hot, opstest.AccountsRows)
	zero(t, pool, "rows old code inserted have the name it wrote", `SELECT count(*) FROM accounts WHERE aid >= 1000000 AND aid < 2000000 AND full_name <> 'old ' || (aid - 1000000)`)
	zero(t, pool, "rows new code inserted have the name it wrote", `SELECT count(*) FROM accounts WHERE aid >= 2000000 AND aid < 3000000 AND full_name <> 'new ' || (aid - 2000000)`)
}

func TestRenameColumnLifecycle(t *testing.T) {
	t.Parallel()
	role := opstest.Role(t)
	cases := []opstest.Case{
		rename("plain", opstest.Accounts(), nameToFullName, fullNameRenamed),

		rename("index and unique constraint on the column", opstest.Accounts()+`
			ALTER TABLE accounts ADD CONSTRAINT accounts_email_key UNIQUE (email);
			CREATE INDEX accounts_email_bid_idx ON accounts (email, bid);`,
			renamed{from: "email", to: "email_address", val: func(who string, i int) any { return opstest.Email(who, i) }},
			func(t *testing.T, pool *pgxpool.Pool) {
				assert.Equal(t, "UNIQUE (email_address)", opstest.Scalar[string](t, pool,
					`SELECT coalesce((SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = 'accounts'::regclass AND conname = 'accounts_email_key'), 'missing')`))
				assert.Equal(t, "CREATE INDEX accounts_email_bid_idx ON public.accounts USING btree (email_address, bid)", opstest.Scalar[string](t, pool,
					`SELECT coalesce((SELECT pg_get_indexdef(to_regclass('accounts_email_bid_idx'))), 'missing')`))
				assert.Equal(t, "23505", opstest.ExecErr(t, pool, `INSERT INTO accounts (aid, bid, name, email_address) VALUES (9000001, 1, 'dup', 'user1@example.com')`),
					"the unique constraint holds on the new name")
				zero(t, pool, "untouched rows keep their email",
					`SELECT count(*) FROM accounts WHERE aid > $1 AND aid <= $2 AND email_address IS DISTINCT FROM CASE WHEN aid % 5 = 0 THEN NULL ELSE 'user' || aid || '@example.com' END`,
					opstest.Hot, opstest.AccountsRows)
			}),

		rename("check constraint on the column", opstest.Accounts()+`
			ALTER TABLE accounts ADD CONSTRAINT accounts_name_nonempty CHECK (name <> '');`,
			nameToFullName,
			func(t *testing.T, pool *pgxpool.Pool) {
				fullNameRenamed(t, pool)
				assert.Equal(t, "CHECK ((full_name <> ''::text))", opstest.Scalar[string](t, pool,
					`SELECT coalesce((SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = 'accounts'::regclass AND conname = 'accounts_name_nonempty'), 'missing')`))
				assert.Equal(t, "23514", opstest.ExecErr(t, pool, `UPDATE accounts SET full_name = '' WHERE aid = 4000`), "the check holds on the new name")
			}),

		rename("column default", opstest.Accounts()+`
			ALTER TABLE accounts ALTER COLUMN name SET DEFAULT 'anonymous';`,
			renamed{from: "name", to: "full_name", omit: true, val: func(who string, i int) any { return fmt.Sprintf("%s %d", who, i) }},
			func(t *testing.T, pool *pgxpool.Pool) {
				opstest.Exec(t, pool, `INSERT INTO accounts (aid, bid) VALUES (9000001, 1)`)
				assert.Equal(t, "anonymous", opstest.Scalar[string](t, pool, `SELECT full_name FROM accounts WHERE aid = 9000001`), "the default holds on the new name")
				zero(t, pool, "rows inserted without a name got the default",
					`SELECT count(*) FROM accounts WHERE aid >= 1000000 AND full_name <> 'anonymous' AND full_name NOT LIKE 'old %' AND full_name NOT LIKE 'new %' AND full_name NOT LIKE 'final %'`)
				zero(t, pool, "untouched rows keep their name", `SELECT count(*) FROM accounts WHERE aid > $1 AND aid <= $2 AND full_name <> 'name ' || aid`, opstest.Hot, opstest.AccountsRows)
			}),

		rename("serial column", opstest.Accounts("seq serial"),
			renamed{from: "seq", to: "seq_no", omit: true, val: func(string, int) any { return nil },
				updates: func(_ string, i int) []opstest.Col { return []opstest.Col{{Name: "abalance", Value: i}} }},
			func(t *testing.T, pool *pgxpool.Pool) {
				assert.Equal(t, "public.accounts_seq_seq", opstest.Scalar[string](t, pool, `SELECT coalesce(pg_get_serial_sequence('accounts', 'seq_no'), 'none')`),
					"the sequence is owned by the new name")
				max := opstest.Scalar[int64](t, pool, `SELECT max(seq_no) FROM accounts`)
				opstest.Exec(t, pool, `INSERT INTO accounts (aid, bid, name) VALUES (9000001, 1, 'numbered')`)
				assert.Greater(t, opstest.Scalar[int64](t, pool, `SELECT seq_no FROM accounts WHERE aid = 9000001`), max, "the default still numbers new rows")
				zero(t, pool, "every row has its own number", `SELECT count(*) - count(DISTINCT seq_no) FROM accounts`)
				zero(t, pool, "untouched rows keep their number", `SELECT count(*) FROM accounts WHERE aid > $1 AND aid <= $2 AND seq_no <> aid`, opstest.Hot, opstest.AccountsRows)
			}),

		rename("column privileges", opstest.Accounts()+fmt.Sprintf(`
			GRANT SELECT (aid, name), UPDATE (name) ON accounts TO %s;`, role),
			nameToFullName,
			func(t *testing.T, pool *pgxpool.Pool) {
				fullNameRenamed(t, pool)
				for _, priv := range []string{"SELECT", "UPDATE"} {
					assert.True(t, opstest.Scalar[bool](t, pool, `SELECT has_column_privilege($1, 'accounts', 'full_name', $2)`, role, priv),
						"%s has %s on accounts.full_name as it had on name", role, priv)
				}
			}),

		rename("column comment and statistics target", opstest.Accounts()+`
			COMMENT ON COLUMN accounts.name IS 'the name on the card';
			ALTER TABLE accounts ALTER COLUMN name SET STATISTICS 500;`,
			nameToFullName,
			func(t *testing.T, pool *pgxpool.Pool) {
				fullNameRenamed(t, pool)
				assert.Equal(t, "the name on the card", opstest.Scalar[string](t, pool,
					`SELECT coalesce(col_description('accounts'::regclass, (SELECT attnum FROM pg_attribute WHERE attrelid = 'accounts'::regclass AND attname = 'full_name')), 'none')`))
			}),

		mayRefuse("statistics", rename("extended statistics on the column", opstest.Accounts()+`
			CREATE STATISTICS accounts_bid_name (dependencies, ndistinct) ON bid, name FROM accounts;`,
			nameToFullName,
			func(t *testing.T, pool *pgxpool.Pool) {
				fullNameRenamed(t, pool)
				assert.Equal(t, "CREATE STATISTICS public.accounts_bid_name (ndistinct, dependencies) ON bid, full_name FROM accounts",
					opstest.Scalar[string](t, pool, `SELECT coalesce((SELECT pg_get_statisticsobjdef(oid) FROM pg_statistic_ext WHERE stxname = 'accounts_bid_name'), 'missing')`))
			})),

		rename("column named found", opstest.Accounts("found boolean NOT NULL DEFAULT false := g % 3 = 0"),
			renamed{from: "found", to: "was_found", val: func(_ string, i int) any { return i%3 == 0 }},
			func(t *testing.T, pool *pgxpool.Pool) {
				zero(t, pool, "untouched rows keep their value", `SELECT count(*) FROM accounts WHERE aid > $1 AND aid <= $2 AND was_found <> (aid % 3 = 0)`, opstest.Hot, opstest.AccountsRows)
				zero(t, pool, "rows old code inserted have what it wrote", `SELECT count(*) FROM accounts WHERE aid >= 1000000 AND aid < 2000000 AND was_found <> ((aid - 1000000) % 3 = 0)`)
				zero(t, pool, "rows new code inserted have what it wrote", `SELECT count(*) FROM accounts WHERE aid >= 2000000 AND aid < 3000000 AND was_found <> ((aid - 2000000) % 3 = 0)`)
			}),

		rename("before update trigger setting updated_at", opstest.Accounts(
			"updated_at timestamptz NOT NULL DEFAULT now() := timestamptz '2020-01-01 00:00:00+00' + g * interval '1 minute'")+`
			CREATE FUNCTION touch_updated_at() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN NEW.updated_at := now(); RETURN NEW; END $$;
			CREATE TRIGGER accounts_touch BEFORE UPDATE ON accounts FOR EACH ROW EXECUTE FUNCTION touch_updated_at();`,
			nameToFullName,
			func(t *testing.T, pool *pgxpool.Pool) {
				fullNameRenamed(t, pool)
				zero(t, pool, "rows the application never updated keep their updated_at (the migration is not an update of theirs)",
					`SELECT count(*) FROM accounts WHERE aid > $1 AND aid <= $2 AND updated_at <> timestamptz '2020-01-01 00:00:00+00' + aid * interval '1 minute'`,
					opstest.Hot, opstest.AccountsRows)
				opstest.Exec(t, pool, `UPDATE accounts SET full_name = 'renamed' WHERE aid = 4999`)
				assert.True(t, opstest.Scalar[bool](t, pool, `SELECT updated_at > now() - interval '1 hour' FROM accounts WHERE aid = 4999`), "the trigger still fires")
			}),

		mayRefuse("partial", rename("partial index on the column", opstest.Accounts()+`
			CREATE INDEX accounts_name_with_email_idx ON accounts (name) WHERE email IS NOT NULL;`,
			nameToFullName,
			func(t *testing.T, pool *pgxpool.Pool) {
				fullNameRenamed(t, pool)
				assert.Equal(t, "CREATE INDEX accounts_name_with_email_idx ON public.accounts USING btree (full_name) WHERE (email IS NOT NULL)", opstest.Scalar[string](t, pool,
					`SELECT coalesce((SELECT pg_get_indexdef(to_regclass('accounts_name_with_email_idx'))), 'missing')`))
			})),

		mayRefuse("policy", rename("row level security policy on the column", opstest.Accounts()+`
			ALTER TABLE accounts ENABLE ROW LEVEL SECURITY;
			CREATE POLICY accounts_not_hidden ON accounts USING (name <> 'hidden');`,
			nameToFullName,
			func(t *testing.T, pool *pgxpool.Pool) {
				fullNameRenamed(t, pool)
				assert.Equal(t, "(full_name <> 'hidden'::text)", opstest.Scalar[string](t, pool,
					`SELECT coalesce((SELECT qual FROM pg_policies WHERE tablename = 'accounts' AND policyname = 'accounts_not_hidden'), 'missing')`))
				assert.True(t, opstest.Scalar[bool](t, pool, `SELECT relrowsecurity FROM pg_class WHERE oid = 'accounts'::regclass`), "row level security is still on")
			})),

		refusedRename("stored generated column depending on the column", opstest.Accounts(
			"name_length int GENERATED ALWAYS AS (length(name)) STORED"),
			nameToFullName, "generated"),

		mayRefuse("view", rename("view on the column", opstest.Accounts()+`
			CREATE VIEW account_names AS SELECT aid, name FROM accounts;`,
			nameToFullName,
			func(t *testing.T, pool *pgxpool.Pool) {
				fullNameRenamed(t, pool)
				// Like ALTER TABLE ... RENAME COLUMN: the view keeps its own column names.
				zero(t, pool, "the view reads the new column under its own name",
					`SELECT count(*) FROM accounts a LEFT JOIN account_names v USING (aid) WHERE v.name IS DISTINCT FROM a.full_name`)
			})),
	}
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			t.Parallel()
			opstest.Run(t, c)
		})
	}
}
