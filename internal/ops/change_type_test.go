package ops_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"

	"github.com/zdmhq/zdm/internal/ops/opstest"
)

// retyped builds the application's writes around a change_type of accounts.col. Old
// code writes old(who, i) into col; dual-write code writes the same value into col and,
// in the new type, into the shadow column _zdm_col; new code after contract writes
// final(who, i), a value of the new type, into col.
type retyped struct {
	col             string
	old, dual, fnew func(who string, i int) any
	// omit: inserts leave col out, its default fills it.
	omit bool
	// updates, when set, is what updates set instead of col (nobody updates a serial).
	updates func(who string, i int) []opstest.Col
	// shadowOnly: new code's writes alternate between dual-writes and writes of the
	// shadow column alone, which down turns into the old column's value.
	shadowOnly bool
}

func (r retyped) base(who string, i int) []opstest.Col {
	cols := []opstest.Col{{Name: "bid", Value: i % 10}, {Name: "name", Value: fmt.Sprintf("%s %d", who, i)}}
	if r.col != "email" {
		cols = append(cols, opstest.Col{Name: "email", Value: opstest.Email(who, i)})
	}
	return cols
}

func (r retyped) writer(who string, base int64, set func(i int) []opstest.Col) opstest.Writer {
	return opstest.Writes("accounts", "aid", base, opstest.Hot,
		func(i int) []opstest.Col {
			cols := r.base(who, i)
			if !r.omit {
				cols = append(cols, set(i)...)
			}
			return cols
		},
		func(i int) []opstest.Col {
			if r.updates != nil {
				return r.updates(who, i)
			}
			return set(i)
		})
}

func (r retyped) oldWrite() opstest.Writer {
	return r.writer("old", 1_000_000, func(i int) []opstest.Col {
		return []opstest.Col{{Name: r.col, Value: r.old("old", i)}}
	})
}

func (r retyped) newWrite() opstest.Writer {
	dual := r.writer("new", 2_000_000, func(i int) []opstest.Col {
		return []opstest.Col{{Name: r.col, Value: r.old("new", i)}, {Name: "_zdm_" + r.col, Value: r.dual("new", i)}}
	})
	if !r.shadowOnly {
		return dual
	}
	return opstest.Alternate(dual, r.writer("new", 2_000_000, func(i int) []opstest.Col {
		return []opstest.Col{{Name: "_zdm_" + r.col, Value: r.dual("new", i)}}
	}))
}

func (r retyped) finalWrite() opstest.Writer {
	return r.writer("final", 3_000_000, func(i int) []opstest.Col {
		return []opstest.Col{{Name: r.col, Value: r.fnew("final", i)}}
	})
}

// retype is a lifecycle case of a change_type of accounts.col.
func retype(name, setup, migration string, r retyped, check func(t *testing.T, pool *pgxpool.Pool)) opstest.Case {
	return opstest.Case{Name: name, Setup: setup, Migration: migration,
		OldWrite: r.oldWrite(), NewWrite: r.newWrite(), FinalWrite: r.finalWrite(), Check: check}
}

// refusedRetype is a change_type case that must be refused at plan.
func refusedRetype(name, setup, migration string, r retyped, want string) opstest.Case {
	c := retype(name, setup, migration, r, nil)
	c.WantRefused = want
	return c
}

// mayRefuse lets planning refuse c with an error containing fragment: for what hangs
// off a column that zdm may either carry to the new column or leave to the user, both
// are right. When c completes, its Check verifies the carried object.
func mayRefuse(fragment string, c opstest.Case) opstest.Case {
	c.MayRefuse = fragment
	return c
}

// bystander leaves col alone, for cases plan must refuse: inserts leave it to its
// default (or NULL), updates set abalance.
func bystander(col string) retyped {
	return retyped{col: col, omit: true, updates: func(_ string, i int) []opstest.Col { return []opstest.Col{{Name: "abalance", Value: i}} }}
}

// cannotCarry is plan's refusal of a replaced column that object (as PostgreSQL describes
// it) uses, up to the start of the fix.
func cannotCarry(object string) string {
	return object + ", which zdm cannot carry to the new column (fix: "
}

// tableRefused is plan's refusal of accounts because it is a kind of table zdm does not
// migrate, up to the start of the fix.
func tableRefused(kind string) string {
	article := "a "
	if strings.ContainsAny(kind[:1], "aeiou") {
		article = "an "
	}
	return "accounts is " + article + kind + ": zdm cannot yet migrate it online (fix: "
}

// published is plan's refusal of a table in publication pub, up to the start of the fix.
func published(pub string) string {
	return "published for logical replication (" + pub + "): subscribers would receive columns they do not have (fix: "
}

// Tables of other kinds, for every operation.
func partitionedAccounts() string {
	return opstest.Reshape(opstest.Accounts(), "", "PARTITION BY RANGE (aid)", `CREATE TABLE accounts_low PARTITION OF accounts FOR VALUES FROM (MINVALUE) TO (1000000);
CREATE TABLE accounts_high PARTITION OF accounts FOR VALUES FROM (1000000) TO (MAXVALUE);`)
}

// inheritingAccounts: accounts inherits every column from ledger.
func inheritingAccounts() string {
	return "CREATE TABLE ledger (aid bigint, bid int, abalance int, name text, email text);\n" +
		opstest.Reshape(opstest.Accounts(), "", "INHERITS (ledger)", "")
}

func unloggedAccounts() string { return opstest.Reshape(opstest.Accounts(), "UNLOGGED", "", "") }

const publishedAccounts = "CREATE PUBLICATION accounts_pub FOR TABLE accounts;"

func unlogged(t *testing.T, pool *pgxpool.Pool) {
	t.Helper()
	assert.Equal(t, "u", opstest.Scalar[string](t, pool, `SELECT relpersistence::text FROM pg_class WHERE oid = 'accounts'::regclass`), "the table is still unlogged")
}

// deferredUnique checks that the UNIQUE constraint on accounts.col is still checked at
// commit: a duplicate gone by then is fine, one still there is not.
func deferredUnique(t *testing.T, pool *pgxpool.Pool, col string) {
	t.Helper()
	dup := func(aid int) string {
		return fmt.Sprintf(`INSERT INTO accounts (aid, bid, name, %s) VALUES (%d, 1, 'dup', 'user4001@example.com')`, col, aid)
	}
	assert.Empty(t, opstest.TxErr(t, pool, dup(9000001), fmt.Sprintf(`UPDATE accounts SET %s = 'moved@example.com' WHERE aid = 9000001`, col)),
		"a duplicate gone by commit is accepted: the constraint is still deferred")
	assert.Equal(t, "23505 at commit", opstest.TxErr(t, pool, dup(9000002)), "a duplicate still there at commit is refused")
}

// collatedC checks that accounts.col has the collation C, and uses it: upper() in C
// changes ASCII letters only.
func collatedC(t *testing.T, pool *pgxpool.Pool, col string) {
	t.Helper()
	assert.Equal(t, "C", opstest.Collation(t, pool, "accounts", col))
	opstest.Exec(t, pool, fmt.Sprintf(`UPDATE accounts SET %s = 'café' WHERE aid = 4000`, col))
	assert.Equal(t, "CAFé", opstest.Scalar[string](t, pool, fmt.Sprintf(`SELECT upper(%s) FROM accounts WHERE aid = 4000`, col)),
		"upper() follows the column's collation C, not the database's")
}

var emailVarchar = retyped{col: "email",
	old:  func(who string, i int) any { return opstest.Email(who, i) },
	dual: func(who string, i int) any { return opstest.Email(who, i) },
	fnew: func(who string, i int) any { return opstest.Email(who, i) },
}

const emailToVarchar = `table: accounts
operations:
  - change_type: {column: email, type: varchar(320)}
`

// abalanceBigint is abalance int -> bigint; after contract new code writes balances
// that only a bigint holds.
var abalanceBigint = retyped{col: "abalance",
	old:  func(_ string, i int) any { return int32(i) },
	dual: func(_ string, i int) any { return int64(i) },
	fnew: func(_ string, i int) any { return int64(3_000_000_000) + int64(i) },
}

const abalanceToBigint = `table: accounts
operations:
  - change_type: {column: abalance, type: bigint}
`

// zero asserts that a count query finds nothing.
func zero(t *testing.T, pool *pgxpool.Pool, what, sql string, args ...any) {
	t.Helper()
	assert.Zero(t, opstest.Scalar[int64](t, pool, sql, args...), what)
}

func columnType(t *testing.T, pool *pgxpool.Pool, col string) string {
	t.Helper()
	return opstest.Scalar[string](t, pool, `SELECT format_type(atttypid, atttypmod) FROM pg_attribute
		WHERE attrelid = 'accounts'::regclass AND attname = $1 AND NOT attisdropped`, col)
}

// abalanceRetyped checks abalance after int -> bigint: its type, its untouched rows, and
// the balances past int's range that new code wrote.
func abalanceRetyped(t *testing.T, pool *pgxpool.Pool) {
	t.Helper()
	assert.Equal(t, "bigint", columnType(t, pool, "abalance"))
	zero(t, pool, "untouched rows keep their balance",
		`SELECT count(*) FROM accounts WHERE aid > $1 AND aid <= $2 AND abalance <> (aid * 7) % 100000`, opstest.Hot, opstest.AccountsRows)
	assert.GreaterOrEqual(t, opstest.Scalar[int64](t, pool, `SELECT count(*) FROM accounts WHERE abalance > 2147483647`), int64(10),
		"new code wrote balances past int's range")
}

func TestChangeTypeLifecycle(t *testing.T) {
	t.Parallel()
	role := opstest.Role(t)
	grantee := opstest.GrantRole(role)
	cases := []opstest.Case{
		retype("int to bigint", opstest.Accounts(), abalanceToBigint, abalanceBigint,
			func(t *testing.T, pool *pgxpool.Pool) {
				abalanceRetyped(t, pool)
				assert.Equal(t, "0", opstest.Scalar[string](t, pool, `SELECT pg_get_expr(adbin, adrelid) FROM pg_attrdef
					WHERE adrelid = 'accounts'::regclass AND adnum = (SELECT attnum FROM pg_attribute WHERE attrelid = 'accounts'::regclass AND attname = 'abalance')`))
				assert.True(t, opstest.Scalar[bool](t, pool, `SELECT attnotnull FROM pg_attribute WHERE attrelid = 'accounts'::regclass AND attname = 'abalance'`))
			}),

		retype("index and unique constraint on the column", opstest.Accounts()+`
			ALTER TABLE accounts ADD CONSTRAINT accounts_email_key UNIQUE (email);
			CREATE INDEX accounts_email_bid_idx ON accounts (email, bid);`,
			`table: accounts
operations:
  - change_type: {column: email, type: varchar(320)}
`, retyped{col: "email",
				old:  func(who string, i int) any { return opstest.Email(who, i) },
				dual: func(who string, i int) any { return opstest.Email(who, i) },
				fnew: func(who string, i int) any { return opstest.Email(who, i) },
			},
			func(t *testing.T, pool *pgxpool.Pool) {
				assert.Equal(t, "character varying(320)", columnType(t, pool, "email"))
				assert.Equal(t, "UNIQUE (email)", opstest.Scalar[string](t, pool,
					`SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = 'accounts'::regclass AND conname = 'accounts_email_key'`))
				assert.Equal(t, "CREATE INDEX accounts_email_bid_idx ON public.accounts USING btree (email, bid)", opstest.Scalar[string](t, pool,
					`SELECT pg_get_indexdef('accounts_email_bid_idx'::regclass)`))
				assert.Equal(t, "23505", opstest.ExecErr(t, pool, `INSERT INTO accounts (aid, bid, name, email) VALUES (9000001, 1, 'dup', 'user1@example.com')`),
					"the unique constraint holds on the new column")
				zero(t, pool, "untouched rows keep their email",
					`SELECT count(*) FROM accounts WHERE aid > $1 AND aid <= $2 AND email IS DISTINCT FROM CASE WHEN aid % 5 = 0 THEN NULL ELSE 'user' || aid || '@example.com' END`,
					opstest.Hot, opstest.AccountsRows)
			}),

		retype("check constraint on the column", opstest.Accounts()+`
			ALTER TABLE accounts ADD CONSTRAINT accounts_abalance_nonneg CHECK (abalance >= 0);`,
			abalanceToBigint, abalanceBigint,
			func(t *testing.T, pool *pgxpool.Pool) {
				abalanceRetyped(t, pool)
				assert.Equal(t, "CHECK ((abalance >= 0))", opstest.Scalar[string](t, pool,
					`SELECT coalesce((SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = 'accounts'::regclass AND conname = 'accounts_abalance_nonneg'), 'missing')`))
				assert.Equal(t, "23514", opstest.ExecErr(t, pool, `UPDATE accounts SET abalance = -1 WHERE aid = 4000`), "the check holds on the new column")
			}),

		retype("column default", opstest.Accounts(`status varchar(16) NOT NULL DEFAULT 'active' := CASE WHEN g % 3 = 0 THEN 'closed' ELSE 'active' END`),
			`table: accounts
operations:
  - change_type: {column: status, type: text}
`, retyped{col: "status", omit: true,
				old:  func(string, int) any { return "frozen" },
				dual: func(string, int) any { return "frozen" },
				fnew: func(string, int) any { return "suspended by the fraud team" }, // longer than varchar(16)
			},
			func(t *testing.T, pool *pgxpool.Pool) {
				assert.Equal(t, "text", columnType(t, pool, "status"))
				opstest.Exec(t, pool, `INSERT INTO accounts (aid, bid, name) VALUES (9000001, 1, 'defaulted')`)
				assert.Equal(t, "active", opstest.Scalar[string](t, pool, `SELECT status FROM accounts WHERE aid = 9000001`), "the default holds on the new column")
				zero(t, pool, "rows inserted without a status got the default",
					`SELECT count(*) FROM accounts WHERE aid > 1000000 AND status IS DISTINCT FROM 'active' AND status <> 'frozen' AND status <> 'suspended by the fraud team'`)
				zero(t, pool, "untouched rows keep their status",
					`SELECT count(*) FROM accounts WHERE aid > $1 AND aid <= $2 AND status <> CASE WHEN aid % 3 = 0 THEN 'closed' ELSE 'active' END`, opstest.Hot, opstest.AccountsRows)
			}),

		retype("json to jsonb", opstest.Accounts(`payload json := format('{"n": %s,  "tags" : ["a", "b"]}', g)::json`),
			`table: accounts
operations:
  - change_type: {column: payload, type: jsonb, up: "payload::jsonb", down: "payload::json"}
`, retyped{col: "payload",
				old:  func(who string, i int) any { return fmt.Sprintf(`{"n": %d, "who": %q}`, -i, who) },
				dual: func(who string, i int) any { return fmt.Sprintf(`{"n": %d, "who": %q}`, -i, who) },
				fnew: func(who string, i int) any { return fmt.Sprintf(`{"n": %d, "who": %q}`, -i, who) },
			},
			func(t *testing.T, pool *pgxpool.Pool) {
				assert.Equal(t, "jsonb", columnType(t, pool, "payload"))
				zero(t, pool, "untouched rows keep their document",
					`SELECT count(*) FROM accounts WHERE aid > $1 AND aid <= $2 AND payload <> jsonb_build_object('n', aid, 'tags', jsonb_build_array('a', 'b'))`,
					opstest.Hot, opstest.AccountsRows)
				assert.Equal(t, "old", opstest.Scalar[string](t, pool, `SELECT payload->>'who' FROM accounts WHERE aid = 1000000`))
			}),

		retype("serial column", opstest.Accounts("seq serial"),
			`table: accounts
operations:
  - change_type: {column: seq, type: bigint}
`, retyped{col: "seq", omit: true,
				old:     func(string, int) any { return nil },
				dual:    func(string, int) any { return nil },
				fnew:    func(string, int) any { return nil },
				updates: func(_ string, i int) []opstest.Col { return []opstest.Col{{Name: "abalance", Value: i}} },
			},
			func(t *testing.T, pool *pgxpool.Pool) {
				assert.Equal(t, "bigint", columnType(t, pool, "seq"))
				assert.Equal(t, "public.accounts_seq_seq", opstest.Scalar[string](t, pool, `SELECT coalesce(pg_get_serial_sequence('accounts', 'seq'), 'none')`),
					"the sequence is still owned by the column")
				max := opstest.Scalar[int64](t, pool, `SELECT max(seq) FROM accounts`)
				opstest.Exec(t, pool, `INSERT INTO accounts (aid, bid, name) VALUES (9000001, 1, 'numbered')`)
				assert.Greater(t, opstest.Scalar[int64](t, pool, `SELECT seq FROM accounts WHERE aid = 9000001`), max, "the default still numbers new rows")
				zero(t, pool, "every row has its own number", `SELECT count(*) - count(DISTINCT seq) FROM accounts`)
				zero(t, pool, "untouched rows keep their number", `SELECT count(*) FROM accounts WHERE aid > $1 AND aid <= $2 AND seq <> aid`, opstest.Hot, opstest.AccountsRows)
			}),

		retype("column privileges", opstest.Accounts()+fmt.Sprintf(`
			GRANT SELECT (aid, abalance), UPDATE (abalance) ON accounts TO %s;`, role),
			abalanceToBigint, abalanceBigint,
			func(t *testing.T, pool *pgxpool.Pool) {
				abalanceRetyped(t, pool)
				for _, priv := range []string{"SELECT", "UPDATE"} {
					assert.True(t, opstest.Scalar[bool](t, pool, `SELECT has_column_privilege($1, 'accounts', 'abalance', $2)`, role, priv),
						"%s still has %s on accounts.abalance", role, priv)
				}
			}),

		retype("column comment and statistics target", opstest.Accounts()+`
			COMMENT ON COLUMN accounts.abalance IS 'balance in cents';
			ALTER TABLE accounts ALTER COLUMN abalance SET STATISTICS 500;`,
			abalanceToBigint, abalanceBigint,
			func(t *testing.T, pool *pgxpool.Pool) {
				abalanceRetyped(t, pool)
				assert.Equal(t, "balance in cents", opstest.Scalar[string](t, pool,
					`SELECT coalesce(col_description('accounts'::regclass, (SELECT attnum FROM pg_attribute WHERE attrelid = 'accounts'::regclass AND attname = 'abalance')), 'none')`))
			}),

		mayRefuse("statistics", retype("extended statistics on the column", opstest.Accounts()+`
			CREATE STATISTICS accounts_bid_abalance (dependencies, ndistinct) ON bid, abalance FROM accounts;`,
			abalanceToBigint, abalanceBigint,
			func(t *testing.T, pool *pgxpool.Pool) {
				abalanceRetyped(t, pool)
				assert.Equal(t, "CREATE STATISTICS public.accounts_bid_abalance (ndistinct, dependencies) ON bid, abalance FROM accounts",
					opstest.Scalar[string](t, pool, `SELECT coalesce((SELECT pg_get_statisticsobjdef(oid) FROM pg_statistic_ext WHERE stxname = 'accounts_bid_abalance'), 'missing')`))
			})),

		retype("table-qualified expression", opstest.Accounts(),
			`table: accounts
operations:
  - change_type: {column: abalance, type: bigint, up: "accounts.abalance::bigint"}
`, abalanceBigint, abalanceRetyped),

		retype("column named found", opstest.Accounts("found int NOT NULL DEFAULT 0 := g % 7"),
			`table: accounts
operations:
  - change_type: {column: found, type: bigint}
`, retyped{col: "found",
				old:  func(_ string, i int) any { return int32(i % 7) },
				dual: func(_ string, i int) any { return int64(i % 7) },
				fnew: func(_ string, i int) any { return int64(5_000_000_000) + int64(i) },
			},
			func(t *testing.T, pool *pgxpool.Pool) {
				assert.Equal(t, "bigint", columnType(t, pool, "found"))
				zero(t, pool, "untouched rows keep their value", `SELECT count(*) FROM accounts WHERE aid > $1 AND aid <= $2 AND found <> aid % 7`, opstest.Hot, opstest.AccountsRows)
				zero(t, pool, "old code's rows have what it wrote", `SELECT count(*) FROM accounts WHERE aid >= 1000000 AND aid < 2000000 AND found <> (aid - 1000000) % 7`)
			}),

		retype("before update trigger setting updated_at", opstest.Accounts(
			"updated_at timestamptz NOT NULL DEFAULT now() := timestamptz '2020-01-01 00:00:00+00' + g * interval '1 minute'")+`
			CREATE FUNCTION touch_updated_at() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN NEW.updated_at := now(); RETURN NEW; END $$;
			CREATE TRIGGER accounts_touch BEFORE UPDATE ON accounts FOR EACH ROW EXECUTE FUNCTION touch_updated_at();`,
			abalanceToBigint, abalanceBigint,
			func(t *testing.T, pool *pgxpool.Pool) {
				abalanceRetyped(t, pool)
				zero(t, pool, "rows the application never updated keep their updated_at (the migration is not an update of theirs)",
					`SELECT count(*) FROM accounts WHERE aid > $1 AND aid <= $2 AND updated_at <> timestamptz '2020-01-01 00:00:00+00' + aid * interval '1 minute'`,
					opstest.Hot, opstest.AccountsRows)
				opstest.Exec(t, pool, `UPDATE accounts SET abalance = abalance + 1 WHERE aid = 4999`)
				assert.True(t, opstest.Scalar[bool](t, pool, `SELECT updated_at > now() - interval '1 hour' FROM accounts WHERE aid = 4999`), "the trigger still fires")
			}),

		mayRefuse("partial", retype("partial index on the column", opstest.Accounts()+`
			CREATE INDEX accounts_rich_idx ON accounts (abalance) WHERE abalance > 50000;`,
			abalanceToBigint, abalanceBigint,
			func(t *testing.T, pool *pgxpool.Pool) {
				abalanceRetyped(t, pool)
				assert.Equal(t, "CREATE INDEX accounts_rich_idx ON public.accounts USING btree (abalance) WHERE (abalance > 50000)", opstest.Scalar[string](t, pool,
					`SELECT coalesce((SELECT pg_get_indexdef(to_regclass('accounts_rich_idx'))), 'missing')`))
			})),

		mayRefuse("policy", retype("row level security policy on the column", opstest.Accounts()+`
			ALTER TABLE accounts ENABLE ROW LEVEL SECURITY;
			CREATE POLICY accounts_nonneg ON accounts USING (abalance >= 0);`,
			abalanceToBigint, abalanceBigint,
			func(t *testing.T, pool *pgxpool.Pool) {
				abalanceRetyped(t, pool)
				assert.Equal(t, "(abalance >= 0)", opstest.Scalar[string](t, pool,
					`SELECT coalesce((SELECT qual FROM pg_policies WHERE tablename = 'accounts' AND policyname = 'accounts_nonneg'), 'missing')`))
				assert.True(t, opstest.Scalar[bool](t, pool, `SELECT relrowsecurity FROM pg_class WHERE oid = 'accounts'::regclass`), "row level security is still on")
			})),

		mayRefuse("view", retype("view on the column", opstest.Accounts()+`
			CREATE VIEW rich_accounts AS SELECT aid, abalance FROM accounts WHERE abalance > 90000;`,
			abalanceToBigint, abalanceBigint,
			func(t *testing.T, pool *pgxpool.Pool) {
				abalanceRetyped(t, pool)
				assert.Equal(t, opstest.Scalar[int64](t, pool, `SELECT count(*) FROM accounts WHERE abalance > 90000`),
					opstest.Scalar[int64](t, pool, `SELECT count(*) FROM rich_accounts`), "the view reads the new column")
			})),

		refusedRetype("stored generated column depending on the column", opstest.Accounts(
			"abalance_cents bigint GENERATED ALWAYS AS (abalance::bigint * 100) STORED"),
			abalanceToBigint, abalanceBigint, "generated"),
		// What hangs off the column.

		retype("column with a non-default collation", opstest.Accounts(`code text COLLATE "C" := 'code ' || g`),
			`table: accounts
operations:
  - change_type: {column: code, type: varchar(64)}
`, retyped{col: "code",
				old:  func(who string, i int) any { return fmt.Sprintf("%s code %d", who, i) },
				dual: func(who string, i int) any { return fmt.Sprintf("%s code %d", who, i) },
				fnew: func(who string, i int) any { return fmt.Sprintf("%s code %d", who, i) },
			},
			func(t *testing.T, pool *pgxpool.Pool) {
				assert.Equal(t, "character varying(64)", columnType(t, pool, "code"))
				zero(t, pool, "untouched rows keep their code", `SELECT count(*) FROM accounts WHERE aid > $1 AND aid <= $2 AND code <> 'code ' || aid`, opstest.Hot, opstest.AccountsRows)
				collatedC(t, pool, "code")
			}),

		retype("deferrable unique constraint on the column", opstest.Accounts()+`
			ALTER TABLE accounts ADD CONSTRAINT accounts_email_key UNIQUE (email) DEFERRABLE INITIALLY DEFERRED;`,
			emailToVarchar, emailVarchar,
			func(t *testing.T, pool *pgxpool.Pool) {
				assert.Equal(t, "character varying(320)", columnType(t, pool, "email"))
				assert.Equal(t, "UNIQUE (email) DEFERRABLE INITIALLY DEFERRED deferrable=true deferred=true validated=true",
					opstest.Constraint(t, pool, "accounts", "accounts_email_key"))
				deferredUnique(t, pool, "email")
			}),

		retype("expression and INCLUDE indexes on the column", opstest.Accounts()+`
			CREATE UNIQUE INDEX accounts_email_lower_key ON accounts (lower(email));
			CREATE INDEX accounts_bid_email_idx ON accounts (bid) INCLUDE (email);`,
			emailToVarchar, emailVarchar,
			func(t *testing.T, pool *pgxpool.Pool) {
				assert.Equal(t, "CREATE UNIQUE INDEX accounts_email_lower_key ON public.accounts USING btree (lower((email)::text))",
					opstest.Index(t, pool, "accounts_email_lower_key"))
				assert.Equal(t, "CREATE INDEX accounts_bid_email_idx ON public.accounts USING btree (bid) INCLUDE (email)",
					opstest.Index(t, pool, "accounts_bid_email_idx"))
				assert.Equal(t, int64(1), opstest.ByIndex(t, pool, "accounts_email_lower_key", `SELECT count(*) FROM accounts WHERE lower(email) = 'user4001@example.com'`))
				assert.Equal(t, "23505", opstest.ExecErr(t, pool, `INSERT INTO accounts (aid, bid, name, email) VALUES (9000001, 1, 'dup', 'USER4001@example.com')`),
					"the unique expression index holds on the new column")
				opstest.ByIndex(t, pool, "accounts_bid_email_idx", `SELECT count(email) FROM accounts WHERE bid = 3`)
			}),

		retype("gin and hash indexes on the column", opstest.Accounts("tags int[] := ARRAY[g, g % 7]")+`
			CREATE INDEX accounts_tags_gin ON accounts USING gin (tags);
			CREATE INDEX accounts_tags_hash ON accounts USING hash (tags);`,
			`table: accounts
operations:
  - change_type: {column: tags, type: "bigint[]"}
`, retyped{col: "tags",
				old:  func(_ string, i int) any { return []int32{int32(i), int32(i % 7)} },
				dual: func(_ string, i int) any { return []int64{int64(i), int64(i % 7)} },
				fnew: func(_ string, i int) any { return []int64{5_000_000_000 + int64(i)} },
			},
			func(t *testing.T, pool *pgxpool.Pool) {
				assert.Equal(t, "bigint[]", columnType(t, pool, "tags"))
				assert.Equal(t, "CREATE INDEX accounts_tags_gin ON public.accounts USING gin (tags)", opstest.Index(t, pool, "accounts_tags_gin"))
				assert.Equal(t, "CREATE INDEX accounts_tags_hash ON public.accounts USING hash (tags)", opstest.Index(t, pool, "accounts_tags_hash"))
				assert.Equal(t, int64(1), opstest.ByIndex(t, pool, "accounts_tags_gin", `SELECT count(*) FROM accounts WHERE tags @> ARRAY[4001::bigint]`))
				assert.Equal(t, int64(1), opstest.ByIndex(t, pool, "accounts_tags_hash", `SELECT count(*) FROM accounts WHERE tags = ARRAY[4001, 4001 % 7]::bigint[]`))
				assert.NotZero(t, opstest.ByIndex(t, pool, "accounts_tags_gin", `SELECT count(*) FROM accounts WHERE tags && ARRAY[5000000000, 5000000001]::bigint[]`),
					"the index finds what new code wrote after contract")
			}),

		refusedRetype("exclusion constraint on the column", opstest.Accounts("during int4range := int4range(g * 10, g * 10 + 5)")+`
			ALTER TABLE accounts ADD CONSTRAINT accounts_during_excl EXCLUDE USING gist (during WITH &&);`,
			`table: accounts
operations:
  - change_type: {column: during, type: int8range, up: "int8range(lower(during), upper(during))", down: "int4range(lower(during)::int, upper(during)::int)"}
`, bystander("during"), cannotCarry("constraint accounts_during_excl on table accounts")),

		refusedRetype("foreign key from the column", `CREATE TABLE branches (bid int PRIMARY KEY);
			INSERT INTO branches SELECT generate_series(0, 9);
			`+opstest.Accounts()+`
			ALTER TABLE accounts ADD CONSTRAINT accounts_bid_fkey FOREIGN KEY (bid) REFERENCES branches;`,
			`table: accounts
operations:
  - change_type: {column: bid, type: bigint}
`, bystander("bid"), cannotCarry("constraint accounts_bid_fkey on table accounts")),

		refusedRetype("foreign key to the column", opstest.Accounts()+`
			ALTER TABLE accounts ADD CONSTRAINT accounts_email_key UNIQUE (email);
			CREATE TABLE invoices (id int PRIMARY KEY, email text REFERENCES accounts (email));
			INSERT INTO invoices VALUES (1, 'user4001@example.com');`,
			emailToVarchar, bystander("email"), cannotCarry("constraint invoices_email_fkey on table invoices")),

		refusedRetype("trigger on update of the column", opstest.Accounts("balance_changed_at timestamptz")+`
			CREATE FUNCTION balance_changed() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN NEW.balance_changed_at := now(); RETURN NEW; END $$;
			CREATE TRIGGER accounts_balance_changed BEFORE UPDATE OF abalance ON accounts FOR EACH ROW EXECUTE FUNCTION balance_changed();`,
			abalanceToBigint, abalanceBigint, cannotCarry("trigger accounts_balance_changed on table accounts")),

		// Every UPDATE of a row that breaks a NOT VALID check fails, the backfill's too:
		// refused at plan, with the fix, rather than failing half-way through.
		refusedRetype("not valid check constraint on the table", opstest.Accounts()+`
			UPDATE accounts SET abalance = -abalance WHERE aid > 4990;
			ALTER TABLE accounts ADD CONSTRAINT accounts_abalance_nonneg CHECK (abalance >= 0) NOT VALID;`,
			abalanceToBigint, abalanceBigint,
			"accounts_abalance_nonneg added NOT VALID and never validated: rows that break them would fail the backfill's update (fix: ALTER TABLE ... VALIDATE CONSTRAINT"),

		retype("column privileges with grant option", opstest.Accounts()+fmt.Sprintf(`
			GRANT SELECT (aid, abalance), UPDATE (abalance) ON accounts TO %s WITH GRANT OPTION;`, grantee),
			abalanceToBigint, abalanceBigint,
			func(t *testing.T, pool *pgxpool.Pool) {
				abalanceRetyped(t, pool)
				assert.Equal(t, "SELECT*,UPDATE*", opstest.ColumnGrants(t, pool, "accounts", "abalance", grantee),
					"%s holds SELECT and UPDATE on accounts.abalance WITH GRANT OPTION", grantee)
			}),

		// The table.

		refusedRetype("partitioned table", partitionedAccounts(), abalanceToBigint, abalanceBigint, tableRefused("partitioned table")),

		// The default lands on the new type at contract: refused at plan when it
		// does not fit, never found at contract.
		refusedRetype("default that does not fit the new type", opstest.Accounts(`code text DEFAULT 'n/a' := (g % 100)::text`), `table: accounts
operations:
  - change_type: {column: code, type: integer, up: "nullif(code, 'n/a')::int"}
`, retyped{col: "code", old: func(string, int) any { return "1" }, dual: func(string, int) any { return 1 }, fnew: func(string, int) any { return 1 }},
			"the default of code, 'n/a'::text, does not fit integer: invalid input syntax for type integer"),

		refusedRetype("inheritance child", inheritingAccounts(), abalanceToBigint, abalanceBigint, tableRefused("inheritance child")),

		refusedRetype("table in a publication", opstest.Accounts()+publishedAccounts, abalanceToBigint, abalanceBigint, published("accounts_pub")),

		retype("unlogged table", unloggedAccounts(), abalanceToBigint, abalanceBigint,
			func(t *testing.T, pool *pgxpool.Pool) {
				abalanceRetyped(t, pool)
				unlogged(t, pool)
			}),

		// Expressions.

		retype("up and down read a lookup table", `CREATE TABLE countries (id int PRIMARY KEY, code text NOT NULL UNIQUE);
			INSERT INTO countries SELECT i, 'C' || i FROM generate_series(0, 9) i;
			`+opstest.Accounts("country text := 'C' || (g % 10)"),
			`table: accounts
operations:
  - change_type: {column: country, type: int, up: "(SELECT c.id FROM countries c WHERE c.code = accounts.country)", down: "(SELECT c.code FROM countries c WHERE c.id = accounts.country)"}
`, retyped{col: "country", shadowOnly: true,
				old:  func(_ string, i int) any { return fmt.Sprintf("C%d", i%10) },
				dual: func(_ string, i int) any { return int32(i % 10) },
				fnew: func(_ string, i int) any { return int32(i % 10) },
			},
			func(t *testing.T, pool *pgxpool.Pool) {
				assert.Equal(t, "integer", columnType(t, pool, "country"))
				zero(t, pool, "every row has its country", `SELECT count(*) FROM accounts WHERE country IS NULL`)
				// Every write but the updates of hot rows wrote country i % 10 into row base + i.
				zero(t, pool, "every row not updated by the application has its country's id", `SELECT count(*) FROM accounts WHERE aid > $1 AND country <> aid % 10`, opstest.Hot)
			}),

		retype("point to text", opstest.Accounts("loc point := point(g, -g)"),
			`table: accounts
operations:
  - change_type: {column: loc, type: text}
`, retyped{col: "loc",
				old: func(_ string, i int) any {
					return pgtype.Point{P: pgtype.Vec2{X: float64(i), Y: float64(-i)}, Valid: true}
				},
				dual: func(_ string, i int) any { return fmt.Sprintf("(%d,%d)", i, -i) },
				fnew: func(_ string, i int) any { return fmt.Sprintf("near (%d,%d)", i, -i) },
			},
			func(t *testing.T, pool *pgxpool.Pool) {
				assert.Equal(t, "text", columnType(t, pool, "loc"))
				zero(t, pool, "untouched rows keep their point", `SELECT count(*) FROM accounts WHERE aid > $1 AND aid <= $2 AND loc <> format('(%s,%s)', aid, -aid)`, opstest.Hot, opstest.AccountsRows)
				zero(t, pool, "rows old and new code inserted have what they wrote",
					`SELECT count(*) FROM accounts WHERE aid >= 1000000 AND aid < 3000000 AND loc <> format('(%s,%s)', aid % 1000000, -(aid % 1000000))`)
			}),

		retype("xml to text", opstest.Accounts(`doc xml := ('<a n="' || g || '"/>')::xml`),
			`table: accounts
operations:
  - change_type: {column: doc, type: text}
`, retyped{col: "doc",
				old:  func(_ string, i int) any { return fmt.Sprintf(`<a n="%d"/>`, i) },
				dual: func(_ string, i int) any { return fmt.Sprintf(`<a n="%d"/>`, i) },
				fnew: func(_ string, i int) any { return fmt.Sprintf("no longer xml: <%d", i) },
			},
			func(t *testing.T, pool *pgxpool.Pool) {
				assert.Equal(t, "text", columnType(t, pool, "doc"))
				zero(t, pool, "untouched rows keep their document", `SELECT count(*) FROM accounts WHERE aid > $1 AND aid <= $2 AND doc <> '<a n="' || aid || '"/>'`, opstest.Hot, opstest.AccountsRows)
				zero(t, pool, "rows old and new code inserted have what they wrote",
					`SELECT count(*) FROM accounts WHERE aid >= 1000000 AND aid < 3000000 AND doc <> '<a n="' || aid % 1000000 || '"/>'`)
			}),

		retype("int to text with down over the new type", opstest.Accounts("ref int NOT NULL DEFAULT 0 := g"),
			`table: accounts
operations:
  - change_type: {column: ref, type: text, up: "'R' || lpad(ref::text, 6, '0')", down: "substr(ref, 2)::int"}
`, retyped{col: "ref", shadowOnly: true,
				old:  func(_ string, i int) any { return int32(i) },
				dual: func(_ string, i int) any { return fmt.Sprintf("R%06d", i) },
				fnew: func(_ string, i int) any { return fmt.Sprintf("R%06d", 900_000+i) },
			},
			func(t *testing.T, pool *pgxpool.Pool) {
				assert.Equal(t, "text", columnType(t, pool, "ref"))
				zero(t, pool, "untouched rows have their reference", `SELECT count(*) FROM accounts WHERE aid > $1 AND aid <= $2 AND ref <> 'R' || lpad(aid::text, 6, '0')`, opstest.Hot, opstest.AccountsRows)
				zero(t, pool, "rows old and new code inserted have the reference of what they wrote",
					`SELECT count(*) FROM accounts WHERE aid >= 1000000 AND aid < 3000000 AND ref <> 'R' || lpad((aid % 1000000)::text, 6, '0')`)
			}),

		retype("column named old in up and down", opstest.Accounts("old int NOT NULL DEFAULT 0 := g % 7", "new int := g % 5"),
			`table: accounts
operations:
  - change_type: {column: old, type: bigint, up: "old::bigint", down: "old::int"}
`, retyped{col: "old",
				old:  func(_ string, i int) any { return int32(i % 7) },
				dual: func(_ string, i int) any { return int64(i % 7) },
				fnew: func(_ string, i int) any { return int64(5_000_000_000) + int64(i) },
			},
			func(t *testing.T, pool *pgxpool.Pool) {
				assert.Equal(t, "bigint", columnType(t, pool, "old"))
				zero(t, pool, "untouched rows keep their value", `SELECT count(*) FROM accounts WHERE aid > $1 AND aid <= $2 AND (old <> aid % 7 OR new <> aid % 5)`, opstest.Hot, opstest.AccountsRows)
				zero(t, pool, "old and new code's rows have what they wrote", `SELECT count(*) FROM accounts WHERE aid >= 1000000 AND aid < 3000000 AND old <> (aid % 1000000) % 7`)
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
