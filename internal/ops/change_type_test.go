package ops_test

import (
	"fmt"
	"testing"

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
	return r.writer("new", 2_000_000, func(i int) []opstest.Col {
		return []opstest.Col{{Name: r.col, Value: r.old("new", i)}, {Name: "_zdm_" + r.col, Value: r.dual("new", i)}}
	})
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
	}
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			t.Parallel()
			opstest.Run(t, c)
		})
	}
}
