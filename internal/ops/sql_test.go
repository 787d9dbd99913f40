package ops_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zdmhq/zdm/internal/ops/opstest"
	"github.com/zdmhq/zdm/internal/pgexec"
	"github.com/zdmhq/zdm/internal/plan"
	"github.com/zdmhq/zdm/internal/testenv"
)

// rawSQL is a case of the sql operation (migration: its fields, indented under
// `- sql:`): the application writes accounts meanwhile, as before.
func rawSQL(name, setup, fields string, check func(t *testing.T, pool *pgxpool.Pool)) opstest.Case {
	c := typeCase(name, setup, "", check)
	c.Migration = "operations:\n  - sql:\n" + fields
	return c
}

func refusedSQL(name, fields, want string) opstest.Case {
	c := rawSQL(name, opstest.Accounts(), fields, nil)
	c.WantRefused = want
	return c
}

func onAccounts(c opstest.Case) opstest.Case {
	c.Table = "accounts"
	return c
}

func TestSQLLifecycle(t *testing.T) {
	t.Parallel()
	for _, c := range []opstest.Case{
		onAccounts(rawSQL("a view and its comment", opstest.Accounts(), `      table: accounts
      up: |
        CREATE OR REPLACE VIEW rich AS SELECT aid, abalance FROM accounts WHERE abalance > 50000;
        COMMENT ON VIEW rich IS 'accounts over 50000; the rich ones';
      down: DROP VIEW IF EXISTS rich
      transaction: true
`, func(t *testing.T, pool *pgxpool.Pool) {
			assert.Equal(t, opstest.Scalar[int64](t, pool, `SELECT count(*) FROM accounts WHERE abalance > 50000`), opstest.Scalar[int64](t, pool, `SELECT count(*) FROM rich`))
			assert.Equal(t, "accounts over 50000; the rich ones", opstest.Scalar[string](t, pool, `SELECT obj_description('rich'::regclass, 'pg_class')`))
		})),
		onAccounts(rawSQL("CREATE INDEX CONCURRENTLY alone", opstest.Accounts(), `      table: accounts
      up: CREATE INDEX CONCURRENTLY IF NOT EXISTS accounts_bid_idx ON accounts (bid);
      down: DROP INDEX CONCURRENTLY IF EXISTS accounts_bid_idx
`, func(t *testing.T, pool *pgxpool.Pool) {
			assert.Equal(t, "CREATE INDEX accounts_bid_idx ON public.accounts USING btree (bid)", opstest.Index(t, pool, "accounts_bid_idx"))
			opstest.ByIndex(t, pool, "accounts_bid_idx", `SELECT count(*) FROM accounts WHERE bid = 3`)
		})),
		rawSQL("on no table, in a mixed-case schema", `CREATE SCHEMA "App";`+"\n"+opstest.Accounts(), `      up: |
        CREATE TABLE IF NOT EXISTS "App"."Audit" (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, note text NOT NULL);
        CREATE INDEX IF NOT EXISTS audit_note_idx ON "App"."Audit" (note);
      down: DROP TABLE IF EXISTS "App"."Audit"
`, func(t *testing.T, pool *pgxpool.Pool) {
			opstest.Exec(t, pool, `INSERT INTO "App"."Audit" (note) VALUES ('hello')`)
			assert.Equal(t, "CREATE INDEX audit_note_idx ON \"App\".\"Audit\" USING btree (note)", opstest.Index(t, pool, `"App".audit_note_idx`))
		}),
		refusedSQL("a script the parser refuses", `      up: |
        CREATE VIEW v AS SELECT 1;
        CREATE VEIW w AS SELECT 2;
      down: DROP VIEW IF EXISTS v
`, `sql.up: syntax error at or near "VEIW" (line 2, column 8) (fix: write SQL that PostgreSQL's parser accepts)`),
		refusedSQL("no down", `      up: CREATE VIEW v AS SELECT 1
`, "sql.down: is required (fix: write the SQL that undoes up"),
		refusedSQL("irreversible", `      up: CREATE VIEW v AS SELECT 1
      irreversible: true
`, "sql.irreversible: zdm's rollback must leave the schema as it began: an irreversible sql operation is not supported"),
		refusedSQL("CONCURRENTLY among other statements", `      up: CREATE INDEX CONCURRENTLY i ON accounts (bid); CREATE VIEW v AS SELECT 1
      down: DROP VIEW IF EXISTS v; DROP INDEX IF EXISTS i
`, "sql.up: statement 1 (line 1), CREATE INDEX CONCURRENTLY, cannot run in a transaction, so it must be alone in up: zdm runs the rest of a script in one transaction (fix: split the script into two sql operations"),
		refusedSQL("BEGIN in the script", `      up: |
        BEGIN;
        CREATE VIEW v AS SELECT 1;
        COMMIT;
      down: DROP VIEW IF EXISTS v
`, "sql.up: statement 1 (line 1), BEGIN, controls the transaction: zdm runs the script in one transaction and retries it whole (fix: remove it"),
		refusedSQL("transaction: true around CONCURRENTLY", `      up: CREATE INDEX CONCURRENTLY i ON accounts (bid)
      down: DROP INDEX CONCURRENTLY IF EXISTS i
      transaction: true
`, "sql.transaction: CREATE INDEX CONCURRENTLY in up cannot run in a transaction (fix: remove `transaction: true`"),
		refusedSQL("transaction: false for what runs in one", `      up: CREATE VIEW v AS SELECT 1
      down: DROP VIEW IF EXISTS v
      transaction: false
`, "sql.transaction: no statement here needs to run outside a transaction"),
		refusedSQL("an enum value", `      up: ALTER TYPE mood ADD VALUE 'ok'
      down: SELECT 1
`, "sql.up: ALTER TYPE ... ADD VALUE cannot be undone (PostgreSQL cannot remove an enum value), so a rollback could not restore the type (fix: use the add_enum_value operation"),
		refusedSQL("a session setting", `      up: SET lock_timeout = 0; CREATE VIEW v AS SELECT 1
      down: DROP VIEW IF EXISTS v
`, "sql.up: statement 1 (line 1), SET, would stay on zdm's pooled connection after the script (fix: write SET LOCAL"),
		refusedSQL("its own lock_timeout", `      up: SET LOCAL lock_timeout = 0; CREATE VIEW v AS SELECT 1
      down: DROP VIEW IF EXISTS v
`, "sql.up: statement 1 (line 1), SET, would change how long the script may queue behind the application"),
		refusedSQL("a table that does not exist", `      table: acounts
      up: CREATE VIEW v AS SELECT 1
      down: DROP VIEW IF EXISTS v
`, "sql.table: table public.acounts does not exist"),
	} {
		t.Run(c.Name, func(t *testing.T) {
			t.Parallel()
			opstest.Run(t, c)
		})
	}
}

func TestSQLPlanSaysHowEachScriptRuns(t *testing.T) {
	ch, errs := planOp(t, `sql: {up: "CREATE INDEX CONCURRENTLY IF NOT EXISTS i ON app.accounts (bid)", down: "DROP INDEX CONCURRENTLY IF EXISTS app.i"}`, accounts())
	require.Empty(t, errs)
	assert.True(t, ch.Raw)
	require.Len(t, ch.Expand, 1)
	assert.Equal(t, plan.Statement{ID: "expand/sql", SQL: "CREATE INDEX CONCURRENTLY IF NOT EXISTS i ON app.accounts (bid)",
		Lock: plan.LockShareUpdExcl, Scans: true, Concurrent: true, Index: `"app"."i"`,
		Note: "written by hand; an invalid index of that name left by a failed try is dropped first"}, ch.Expand[0])
	require.Len(t, ch.Rollback, 1)
	assert.True(t, ch.Rollback[0].Concurrent)
	assert.Empty(t, ch.Contract)

	ch, errs = planOp(t, `sql: {up: "CREATE VIEW v AS SELECT 1; DO $$ BEGIN END $$;", down: "DROP VIEW IF EXISTS v"}`, accounts())
	require.Empty(t, errs)
	assert.False(t, ch.Expand[0].Concurrent)
	assert.Equal(t, "CREATE VIEW v AS SELECT 1; DO $$ BEGIN END $$", ch.Expand[0].SQL, "run as written (zdm plan adds the last ;)")
	assert.False(t, ch.Expand[0].Scans)
	assert.Equal(t, "CREATE VIEW: none on existing tables (a new object); DO: unknown: written by hand (each held until the script's transaction ends)", ch.Expand[0].Lock)
	assert.Equal(t, "ACCESS EXCLUSIVE on the view, brief (not on its tables)", ch.Rollback[0].Lock)
}

// A script of several statements is one plan statement: pgx sends a statement without
// arguments by the simple protocol, one message, which PostgreSQL runs in one implicit
// transaction when no explicit one is open (and in the step's own transaction when
// pgexec opened one): it is all or nothing. That is also why a statement that cannot run
// in a transaction must be alone in its script.
func TestAScriptRunsAsOneTransaction(t *testing.T) {
	_, pool := testenv.DB(t, "zdm_ops")
	ctx := context.Background()
	exists := func(rel string) bool {
		return opstest.Scalar[bool](t, pool, `SELECT to_regclass($1) IS NOT NULL`, rel)
	}

	_, err := pgexec.Exec(ctx, pool, []plan.Statement{{ID: "expand/sql", SQL: "CREATE VIEW v1 AS SELECT 1 AS x; CREATE VIEW v2 AS SELECT 2 AS y; SELECT 1/0"}},
		time.Second, pgexec.DefaultRetry)
	require.ErrorContains(t, err, "division by zero")
	assert.False(t, exists("v1"), "the script's first statement was undone with the rest")

	_, err = pool.Exec(ctx, "CREATE VIEW v1 AS SELECT 1 AS x; SELECT 1/0")
	require.ErrorContains(t, err, "division by zero")
	assert.False(t, exists("v1"), "outside any transaction too, the simple protocol runs the script in one")

	_, err = pool.Exec(ctx, "CREATE TABLE t (a int); CREATE INDEX CONCURRENTLY t_a ON t (a)")
	var pe *pgconn.PgError
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, "25001", pe.Code, "CREATE INDEX CONCURRENTLY refuses to run within a script: %s", pe.Message)
	assert.False(t, exists("t"))

	_, err = pgexec.Exec(ctx, pool, []plan.Statement{{ID: "expand/sql", SQL: "CREATE VIEW v1 AS SELECT 1 AS x; COMMENT ON VIEW v1 IS 'one'"}}, time.Second, pgexec.DefaultRetry)
	require.NoError(t, err)
	assert.True(t, exists("v1"))
}
