package ops_test

import (
	"fmt"
	"testing"
	"time"

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

// renameBystander leaves the column alone, for cases plan must refuse: inserts leave it
// to its default (or NULL), updates set abalance.
func renameBystander(from, to string) renamed {
	return renamed{from: from, to: to, omit: true, updates: func(_ string, i int) []opstest.Col { return []opstest.Col{{Name: "abalance", Value: i}} }}
}

var emailToAddress = renamed{from: "email", to: "email_address", val: func(who string, i int) any { return opstest.Email(who, i) }}

// aMinute is the i-th minute from 2001 on, which the application writes into timestamps.
func aMinute(_ string, i int) any {
	return time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Minute)
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
	grantee := opstest.GrantRole(role)
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
		// What hangs off the column.

		rename("column with a non-default collation", opstest.Accounts(`code text COLLATE "C" := 'code ' || g`),
			renamed{from: "code", to: "product_code", val: func(who string, i int) any { return fmt.Sprintf("%s code %d", who, i) }},
			func(t *testing.T, pool *pgxpool.Pool) {
				zero(t, pool, "untouched rows keep their code", `SELECT count(*) FROM accounts WHERE aid > $1 AND aid <= $2 AND product_code <> 'code ' || aid`, opstest.Hot, opstest.AccountsRows)
				collatedC(t, pool, "product_code")
			}),

		rename("deferrable unique constraint on the column", opstest.Accounts()+`
			ALTER TABLE accounts ADD CONSTRAINT accounts_email_key UNIQUE (email) DEFERRABLE INITIALLY DEFERRED;`,
			emailToAddress,
			func(t *testing.T, pool *pgxpool.Pool) {
				assert.Equal(t, "UNIQUE (email_address) DEFERRABLE INITIALLY DEFERRED deferrable=true deferred=true validated=true",
					opstest.Constraint(t, pool, "accounts", "accounts_email_key"))
				deferredUnique(t, pool, "email_address")
			}),

		rename("expression and INCLUDE indexes on the column", opstest.Accounts()+`
			CREATE UNIQUE INDEX accounts_email_lower_key ON accounts (lower(email));
			CREATE INDEX accounts_bid_email_idx ON accounts (bid) INCLUDE (email);`,
			emailToAddress,
			func(t *testing.T, pool *pgxpool.Pool) {
				assert.Equal(t, "CREATE UNIQUE INDEX accounts_email_lower_key ON public.accounts USING btree (lower(email_address))",
					opstest.Index(t, pool, "accounts_email_lower_key"))
				assert.Equal(t, "CREATE INDEX accounts_bid_email_idx ON public.accounts USING btree (bid) INCLUDE (email_address)",
					opstest.Index(t, pool, "accounts_bid_email_idx"))
				assert.Equal(t, int64(1), opstest.ByIndex(t, pool, "accounts_email_lower_key", `SELECT count(*) FROM accounts WHERE lower(email_address) = 'user4001@example.com'`))
				assert.Equal(t, "23505", opstest.ExecErr(t, pool, `INSERT INTO accounts (aid, bid, name, email_address) VALUES (9000001, 1, 'dup', 'USER4001@example.com')`),
					"the unique expression index holds on the new name")
				opstest.ByIndex(t, pool, "accounts_bid_email_idx", `SELECT count(email_address) FROM accounts WHERE bid = 3`)
			}),

		rename("gin and hash indexes on the column", opstest.Accounts("tags int[] := ARRAY[g, g % 7]")+`
			CREATE INDEX accounts_tags_gin ON accounts USING gin (tags);
			CREATE INDEX accounts_tags_hash ON accounts USING hash (tags);`,
			renamed{from: "tags", to: "labels", val: func(_ string, i int) any { return []int32{int32(i), int32(i % 7)} }},
			func(t *testing.T, pool *pgxpool.Pool) {
				assert.Equal(t, "CREATE INDEX accounts_tags_gin ON public.accounts USING gin (labels)", opstest.Index(t, pool, "accounts_tags_gin"))
				assert.Equal(t, "CREATE INDEX accounts_tags_hash ON public.accounts USING hash (labels)", opstest.Index(t, pool, "accounts_tags_hash"))
				assert.Equal(t, int64(1), opstest.ByIndex(t, pool, "accounts_tags_gin", `SELECT count(*) FROM accounts WHERE labels @> ARRAY[4001]`))
				assert.Equal(t, int64(1), opstest.ByIndex(t, pool, "accounts_tags_hash", `SELECT count(*) FROM accounts WHERE labels = ARRAY[4001, 4001 % 7]`))
			}),

		refusedRename("exclusion constraint on the column", opstest.Accounts("during int4range := int4range(g * 10, g * 10 + 5)")+`
			ALTER TABLE accounts ADD CONSTRAINT accounts_during_excl EXCLUDE USING gist (during WITH &&);`,
			renameBystander("during", "period"), cannotCarry("constraint accounts_during_excl on table accounts")),

		refusedRename("foreign key from the column", `CREATE TABLE branches (bid int PRIMARY KEY);
			INSERT INTO branches SELECT generate_series(0, 9);
			`+opstest.Accounts()+`
			ALTER TABLE accounts ADD CONSTRAINT accounts_bid_fkey FOREIGN KEY (bid) REFERENCES branches;`,
			renameBystander("bid", "branch_id"), cannotCarry("constraint accounts_bid_fkey on table accounts")),

		refusedRename("foreign key to the column", opstest.Accounts()+`
			ALTER TABLE accounts ADD CONSTRAINT accounts_email_key UNIQUE (email);
			CREATE TABLE invoices (id int PRIMARY KEY, email text REFERENCES accounts (email));
			INSERT INTO invoices VALUES (1, 'user4001@example.com');`,
			renameBystander("email", "email_address"), cannotCarry("constraint invoices_email_fkey on table invoices")),

		refusedRename("trigger on update of the column", opstest.Accounts("name_changed_at timestamptz")+`
			CREATE FUNCTION name_changed() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN NEW.name_changed_at := now(); RETURN NEW; END $$;
			CREATE TRIGGER accounts_name_changed BEFORE UPDATE OF name ON accounts FOR EACH ROW EXECUTE FUNCTION name_changed();`,
			nameToFullName, cannotCarry("trigger accounts_name_changed on table accounts")),

		refusedRename("not valid check constraint on the table", opstest.Accounts()+`
			UPDATE accounts SET name = '' WHERE aid > 4990;
			ALTER TABLE accounts ADD CONSTRAINT accounts_name_nonempty CHECK (name <> '') NOT VALID;`,
			nameToFullName,
			"accounts_name_nonempty added NOT VALID and never validated: rows that break them would fail the backfill's update (fix: ALTER TABLE ... VALIDATE CONSTRAINT"),

		rename("column privileges with grant option", opstest.Accounts()+fmt.Sprintf(`
			GRANT SELECT (aid, name), UPDATE (name) ON accounts TO %s WITH GRANT OPTION;`, grantee),
			nameToFullName,
			func(t *testing.T, pool *pgxpool.Pool) {
				fullNameRenamed(t, pool)
				assert.Equal(t, "SELECT*,UPDATE*", opstest.ColumnGrants(t, pool, "accounts", "full_name", grantee),
					"%s holds SELECT and UPDATE on accounts.full_name WITH GRANT OPTION, as it did on name", grantee)
			}),

		// The table.

		refusedRename("partitioned table", partitionedAccounts(), nameToFullName, tableRefused("partitioned table")),

		refusedRename("inheritance child", inheritingAccounts(), nameToFullName, tableRefused("inheritance child")),

		refusedRename("table in a publication", opstest.Accounts()+publishedAccounts, nameToFullName, published("accounts_pub")),

		rename("unlogged table", unloggedAccounts(), nameToFullName,
			func(t *testing.T, pool *pgxpool.Pool) {
				fullNameRenamed(t, pool)
				unlogged(t, pool)
			}),

		// The trigger's own names, and defaults.

		rename("column named new", opstest.Accounts("new int NOT NULL DEFAULT 0 := g % 7", "old int := g % 5"),
			renamed{from: "new", to: "latest", val: func(_ string, i int) any { return int32(i % 7) }},
			func(t *testing.T, pool *pgxpool.Pool) {
				zero(t, pool, "untouched rows keep their value", `SELECT count(*) FROM accounts WHERE aid > $1 AND aid <= $2 AND (latest <> aid % 7 OR old <> aid % 5)`, opstest.Hot, opstest.AccountsRows)
				zero(t, pool, "rows old and new code inserted have what they wrote", `SELECT count(*) FROM accounts WHERE aid >= 1000000 AND latest <> (aid % 1000000) % 7`)
			}),

		rename("column default, new code inserting only the new name", opstest.Accounts()+`
			ALTER TABLE accounts ALTER COLUMN name SET DEFAULT 'anonymous';`,
			nameToFullName,
			func(t *testing.T, pool *pgxpool.Pool) {
				// fullNameRenamed: the rows new code inserted with full_name alone have the
				// name it wrote, not the default that filled name before the trigger ran.
				fullNameRenamed(t, pool)
				opstest.Exec(t, pool, `INSERT INTO accounts (aid, bid) VALUES (9000001, 1)`)
				assert.Equal(t, "anonymous", opstest.Scalar[string](t, pool, `SELECT full_name FROM accounts WHERE aid = 9000001`), "the default holds on the new name")
			}),

		rename("stable default now(), new code inserting only the new name", opstest.Accounts(
			"created_at timestamptz NOT NULL DEFAULT now() := timestamptz '2020-01-01 00:00:00+00' + g * interval '1 minute'"),
			renamed{from: "created_at", to: "created", val: aMinute},
			func(t *testing.T, pool *pgxpool.Pool) {
				zero(t, pool, "untouched rows keep their time",
					`SELECT count(*) FROM accounts WHERE aid > $1 AND aid <= $2 AND created <> timestamptz '2020-01-01 00:00:00+00' + aid * interval '1 minute'`, opstest.Hot, opstest.AccountsRows)
				zero(t, pool, "rows old and new code inserted have the time they wrote, not the default",
					`SELECT count(*) FROM accounts WHERE aid >= 1000000 AND created <> timestamptz '2001-01-01 00:00:00+00' + (aid % 1000000) * interval '1 minute'`)
				opstest.Exec(t, pool, `INSERT INTO accounts (aid, bid, name) VALUES (9000001, 1, 'defaulted')`)
				assert.True(t, opstest.Scalar[bool](t, pool, `SELECT created > now() - interval '1 hour' FROM accounts WHERE aid = 9000001`), "the default holds on the new name")
			}),

		rename("volatile default, new code inserting only the new name", opstest.Accounts(
			"token uuid NOT NULL DEFAULT gen_random_uuid() := ('00000000-0000-4000-8000-' || lpad(g::text, 12, '0'))::uuid"),
			renamed{from: "token", to: "public_id", val: func(_ string, i int) any { return fmt.Sprintf("00000000-0000-4000-9000-%012d", i) }},
			func(t *testing.T, pool *pgxpool.Pool) {
				zero(t, pool, "untouched rows keep their token",
					`SELECT count(*) FROM accounts WHERE aid > $1 AND aid <= $2 AND public_id <> ('00000000-0000-4000-8000-' || lpad(aid::text, 12, '0'))::uuid`, opstest.Hot, opstest.AccountsRows)
				zero(t, pool, "rows old and new code inserted have the token they wrote, not a random default",
					`SELECT count(*) FROM accounts WHERE aid >= 1000000 AND public_id <> ('00000000-0000-4000-9000-' || lpad((aid % 1000000)::text, 12, '0'))::uuid`)
			}),
	}
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			t.Parallel()
			opstest.Prerequisites(t, c)
			opstest.Run(t, c)
		})
	}
}
