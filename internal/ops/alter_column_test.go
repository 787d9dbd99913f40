package ops_test

import (
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"

	"github.com/zdmhq/zdm/internal/ops/opstest"
)

// altered is a lifecycle case of an alter_column of accounts.col, whose new
// nullability and default the migration sets on purpose.
func altered(name, setup, migration string, r retyped, check func(t *testing.T, pool *pgxpool.Pool)) opstest.Case {
	c := retype(name, setup, "table: accounts\noperations:\n  - "+migration+"\n", r, check)
	c.Renulls, c.Redefaults = []string{r.col}, []string{r.col}
	return c
}

func refusedAlter(name, setup, migration, want string) opstest.Case {
	c := altered(name, setup, migration, bystander("abalance"), nil)
	c.WantRefused = want
	return c
}

func TestAlterColumnLifecycle(t *testing.T) {
	t.Parallel()
	code := retyped{col: "code",
		old: func(who string, i int) any {
			if i%4 == 0 && who == "old" {
				return nil // old code still writes NULLs: up turns them into 0
			}
			return int32(i % 100000)
		},
		dual: func(_ string, i int) any { return int64(i % 100000) },
		fnew: func(_ string, i int) any { return int64(5_000_000_000) + int64(i) },
	}
	email := retyped{col: "email",
		old:  func(who string, i int) any { return opstest.Email(who, i) },
		dual: func(who string, i int) any { return opstest.Email(who, i) },
		fnew: func(who string, i int) any { return opstest.Email(who, i) },
	}
	balance := retyped{col: "abalance",
		old:  func(_ string, i int) any { return int32(i) },
		dual: func(_ string, i int) any { return int32(i) },
		fnew: func(_ string, i int) any {
			if i%2 == 0 {
				return nil
			}
			return int32(i)
		},
	}
	for _, c := range []opstest.Case{
		altered("type, NOT NULL, default and check at once", opstest.Accounts("code int := CASE WHEN g % 3 = 0 THEN NULL ELSE g END"),
			`alter_column: {column: code, type: bigint, up: "coalesce(code, 0)", not_null: true, default: "0", check: {name: accounts_code_nonneg, constraint: "code >= 0"}}`,
			code, func(t *testing.T, pool *pgxpool.Pool) {
				assert.Equal(t, "bigint", opstest.Scalar[string](t, pool, `SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = 'accounts'::regclass AND attname = 'code'`))
				assert.True(t, opstest.Scalar[bool](t, pool, `SELECT attnotnull FROM pg_attribute WHERE attrelid = 'accounts'::regclass AND attname = 'code'`))
				assert.Equal(t, "CHECK ((code >= 0)) deferrable=false deferred=false validated=true", opstest.Constraint(t, pool, "accounts", "accounts_code_nonneg"))
				assert.Zero(t, opstest.Scalar[int64](t, pool, `SELECT count(*) FROM accounts WHERE code IS NULL`))
				assert.Equal(t, int64(0), opstest.Scalar[int64](t, pool, `SELECT code FROM accounts WHERE aid = 3000`), "a NULL of old became up's 0")
				assert.Equal(t, int64(3001), opstest.Scalar[int64](t, pool, `SELECT code FROM accounts WHERE aid = 3001`))
				assert.Equal(t, "23514", opstest.ExecErr(t, pool, `UPDATE accounts SET code = -1 WHERE aid = 1`))
				assert.Equal(t, "23502", opstest.ExecErr(t, pool, `UPDATE accounts SET code = NULL WHERE aid = 1`))
				opstest.Exec(t, pool, `INSERT INTO accounts (aid, bid, name) VALUES (9000001, 1, 'defaulted')`)
				assert.Equal(t, int64(0), opstest.Scalar[int64](t, pool, `SELECT code FROM accounts WHERE aid = 9000001`), "the new default")
			}),
		altered("type and a unique constraint", opstest.Accounts(),
			`alter_column: {column: email, type: "varchar(200)", unique: {name: accounts_email_key}}`,
			email, func(t *testing.T, pool *pgxpool.Pool) {
				assert.Equal(t, "character varying(200)", opstest.Scalar[string](t, pool, `SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = 'accounts'::regclass AND attname = 'email'`))
				assert.Equal(t, "UNIQUE (email) deferrable=false deferred=false validated=true", opstest.Constraint(t, pool, "accounts", "accounts_email_key"))
				assert.Equal(t, "23505", opstest.ExecErr(t, pool, `UPDATE accounts SET email = 'user2@example.com' WHERE aid = 3`))
			}),
		altered("nullable and without its default", opstest.Accounts(),
			`alter_column: {column: abalance, not_null: false, drop_default: true}`,
			balance, func(t *testing.T, pool *pgxpool.Pool) {
				assert.False(t, opstest.Scalar[bool](t, pool, `SELECT attnotnull FROM pg_attribute WHERE attrelid = 'accounts'::regclass AND attname = 'abalance'`))
				assert.False(t, opstest.Scalar[bool](t, pool, `SELECT atthasdef FROM pg_attribute WHERE attrelid = 'accounts'::regclass AND attname = 'abalance'`))
				assert.Equal(t, int64(3001*7%100000), opstest.Scalar[int64](t, pool, `SELECT abalance FROM accounts WHERE aid = 3001`))
			}),
		refusedAlter("nothing to do", opstest.Accounts(), `alter_column: {column: abalance, not_null: true}`, `column "abalance" already is integer NOT NULL: nothing to do`),
		refusedAlter("check name taken", opstest.Accounts("CONSTRAINT accounts_bal CHECK (abalance >= 0)"),
			`alter_column: {column: abalance, type: bigint, check: {name: accounts_bal, constraint: "abalance < 10"}}`, "constraint accounts_bal already exists on public.accounts"),
		refusedAlter("a default of the wrong type", opstest.Accounts(), `alter_column: {column: abalance, default: "'abc'"}`, `invalid input syntax for type integer`),
		refusedAlter("an unknown column in the check", opstest.Accounts(),
			`alter_column: {column: abalance, check: {name: c1, constraint: "balance > 0"}}`, `column "balance" does not exist`),
	} {
		t.Run(c.Name, func(t *testing.T) {
			t.Parallel()
			opstest.Run(t, c)
		})
	}
}

func TestSetNotNullWithUpLifecycle(t *testing.T) {
	t.Parallel()
	note := retyped{col: "note",
		old: func(who string, i int) any {
			if i%3 == 0 && who == "old" {
				return nil
			}
			return fmt.Sprintf("%s %d", who, i)
		},
		dual: func(who string, i int) any { return fmt.Sprintf("%s %d", who, i) },
		fnew: func(who string, i int) any { return fmt.Sprintf("%s %d", who, i) },
	}
	c := altered("NULL rows filled by up", opstest.Accounts("note text := CASE WHEN g % 2 = 0 THEN NULL ELSE 'n' || g END"),
		`set_not_null: {column: note, up: "coalesce(note, 'none')"}`, note,
		func(t *testing.T, pool *pgxpool.Pool) {
			assert.True(t, opstest.Scalar[bool](t, pool, `SELECT attnotnull FROM pg_attribute WHERE attrelid = 'accounts'::regclass AND attname = 'note'`))
			assert.Equal(t, "none", opstest.Scalar[string](t, pool, `SELECT note FROM accounts WHERE aid = 3000`))
			assert.Equal(t, "n3001", opstest.Scalar[string](t, pool, `SELECT note FROM accounts WHERE aid = 3001`))
		})
	opstest.Run(t, c)
}

// add_check with up: rows that break the check are fixed through a shadow column, old
// code's writes that break it are fixed by the trigger, and the check holds from expand.
func TestAddCheckWithUpLifecycle(t *testing.T) {
	t.Parallel()
	balance := retyped{col: "abalance",
		old: func(who string, i int) any {
			if who == "old" && i%5 == 0 {
				return int32(-i) // old code still writes negative balances: up fixes them
			}
			return int32(i)
		},
		dual: func(_ string, i int) any { return int32(i) },
		fnew: func(_ string, i int) any { return int32(i) },
	}
	c := altered("negative balances become 0", opstest.Accounts()+"UPDATE accounts SET abalance = -abalance WHERE aid % 7 = 0 AND aid > 1000;",
		`add_check: {name: accounts_abalance_nonneg, check: "abalance >= 0", column: abalance, up: "0"}`, balance,
		func(t *testing.T, pool *pgxpool.Pool) {
			assert.True(t, opstest.Scalar[bool](t, pool, `SELECT convalidated FROM pg_constraint WHERE conname = 'accounts_abalance_nonneg'`))
			assert.Zero(t, opstest.Scalar[int64](t, pool, `SELECT count(*) FROM accounts WHERE abalance < 0`))
			assert.Equal(t, int64(0), opstest.Scalar[int64](t, pool, `SELECT abalance FROM accounts WHERE aid = 1001`), "a negative seeded row became 0")
			assert.Equal(t, int64(3001*7%100000), opstest.Scalar[int64](t, pool, `SELECT abalance FROM accounts WHERE aid = 3001`), "a valid row kept its value")
			assert.Equal(t, "23514", opstest.ExecErr(t, pool, `UPDATE accounts SET abalance = -1 WHERE aid = 2`))
		})
	c.Renulls, c.Redefaults = nil, nil
	opstest.Run(t, c)
}
