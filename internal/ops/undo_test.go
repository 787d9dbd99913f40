package ops_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zdmhq/zdm/internal/ops/opstest"
	"github.com/zdmhq/zdm/internal/testenv"
)

func runUndo(t *testing.T, cases []opstest.UndoCase) {
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			t.Parallel()
			opstest.RunUndo(t, c)
		})
	}
}

// The operations that set nothing aside, or whole objects: revert leaves the catalog
// exactly as before the migration, finalize leaves nothing of zdm's.
func TestUndoWindowOtherOperations(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("lifecycle against PostgreSQL")
	}
	notNull := dropNote("drop_column NOT NULL with down", opstest.Accounts("note text NOT NULL := 'n' || g")+"CREATE INDEX accounts_note_idx ON accounts (note);",
		`drop_column: {column: note, down: "'n/a: ' || name"}`, noColumn, "index accounts_note_idx")
	notNull.NewWrite = noteWrites("new", 2_000_000, false)
	runUndo(t, []opstest.UndoCase{
		{Case: dropNote("drop_column nullable", opstest.Accounts("note text := 'n' || g"), `drop_column: {column: note}`, noColumn),
			Reverted: func(t *testing.T, pool *pgxpool.Pool) {
				zero(t, pool, "seeded rows keep their note", `SELECT count(*) FROM accounts WHERE aid > $1 AND aid <= $2 AND note IS DISTINCT FROM 'n' || aid`, opstest.Hot, opstest.AccountsRows)
			}},
		{Case: notNull,
			Reverted: func(t *testing.T, pool *pgxpool.Pool) {
				zero(t, pool, "rows new code inserted during the window got down", `SELECT count(*) FROM accounts WHERE aid >= 2000000 AND aid < 3000000 AND note IS DISTINCT FROM 'n/a: ' || name`)
				assert.Greater(t, opstest.Scalar[int64](t, pool, `SELECT count(*) FROM accounts WHERE aid >= 2000000 AND aid < 3000000`), int64(10))
			}},
		{Case: index("create_index", opstest.Accounts(), `create_index: {name: accounts_email_idx, columns: [email]}`, nil)},
		{Case: dropped(index("drop_index", opstest.Accounts()+`CREATE INDEX accounts_email_idx ON accounts (email);`,
			`drop_index: {name: accounts_email_idx}`, nil), "index accounts_email_idx")},
		{Case: constraintCase("add_unique", opstest.Accounts(), `add_unique: {name: accounts_email_key, columns: [email]}`, nil)},
		{Case: dropping(constraintCase("drop_constraint check", opstest.Accounts("note text")+"ALTER TABLE accounts ADD CONSTRAINT accounts_note_check CHECK (note <> '');",
			`drop_constraint: {name: accounts_note_check}`, nil), "constraint accounts_note_check"),
			Reverted: func(t *testing.T, pool *pgxpool.Pool) {
				assert.Equal(t, "23514", opstest.ExecErr(t, pool, `UPDATE accounts SET note = '' WHERE aid = 7`), "the check is enforced again")
			}},
		{Case: add("add_column", opstest.Accounts(), addEmailLower, emailLower, nil)},
		{Case: add("add_column NOT NULL", opstest.Accounts(), `table: accounts
operations:
  - add_column: {column: email_lower, type: text, backfill: "coalesce(lower(email), '')", not_null: true}
`, emailLowerNotNull, nil)},
		{Case: nullable("note", index("set_not_null", opstest.Accounts("note text DEFAULT 'none' := 'n' || g"), `set_not_null: {column: note}`, nil)),
			Reverted: func(t *testing.T, pool *pgxpool.Pool) {
				assert.Equal(t, "", opstest.ExecErr(t, pool, `UPDATE accounts SET note = NULL WHERE aid = 1`), "note is nullable again")
				opstest.Exec(t, pool, `UPDATE accounts SET note = 'n1' WHERE aid = 1`) // for the run to finalize
			}},
		{Case: redefault("note", index("drop_default", opstest.Accounts("note text DEFAULT 'none'"), `drop_default: {column: note}`, nil)),
			Reverted: func(t *testing.T, pool *pgxpool.Pool) {
				opstest.Exec(t, pool, `INSERT INTO accounts (aid, bid, name) VALUES (9000001, 1, 'default back')`)
				assert.Equal(t, "none", opstest.Scalar[string](t, pool, `SELECT note FROM accounts WHERE aid = 9000001`))
			}},
		{Case: constraintCase("add_check", opstest.Accounts(), `add_check: {name: accounts_balance_positive, check: "abalance >= 0"}`, nil)},
		{Case: fkCase("add_foreign_key", opstest.Branches(20)+opstest.Accounts(),
			`add_foreign_key: {name: accounts_bid_fk, columns: [bid], references: {table: branches, columns: [bid]}}`, nil)},
		{Case: createPayments("create_table", opstest.Accounts(), "payments", paymentsColumns, nil),
			Reverted: func(t *testing.T, pool *pgxpool.Pool) {
				assert.False(t, opstest.Scalar[bool](t, pool, `SELECT to_regclass('payments') IS NOT NULL`), "revert drops the table it created, with its rows")
			}},
		{Case: redefault("abalance", index("set_default", opstest.Accounts(), `set_default: {column: abalance, default: "100"}`, nil))},
		{Case: altered("alter_column type and a new unique constraint", opstest.Accounts(),
			`alter_column: {column: email, type: "varchar(200)", unique: {name: accounts_email_key}}`,
			retyped{col: "email",
				old:  func(who string, i int) any { return opstest.Email(who, i) },
				dual: func(who string, i int) any { return opstest.Email(who, i) },
				fnew: func(who string, i int) any { return opstest.Email(who, i) },
			}, nil),
			Reverted: func(t *testing.T, pool *pgxpool.Pool) {
				assert.Equal(t, "missing", opstest.Constraint(t, pool, "accounts", "accounts_email_key"), "the unique constraint the migration added is gone")
				windowWrites(t, pool, `email IS DISTINCT FROM 'final' || (aid - 3000000) || '@example.com'`)
			}},
		{Case: altered("alter_column type, NOT NULL, default and check at once", opstest.Accounts("code int := CASE WHEN g % 3 = 0 THEN NULL ELSE g END"),
			`alter_column: {column: code, type: bigint, up: "coalesce(code, 0)", not_null: true, default: "0", check: {name: accounts_code_nonneg, constraint: "code >= 0"}}`,
			retyped{col: "code",
				old:  func(who string, i int) any { return int32(i % 100000) },
				dual: func(_ string, i int) any { return int64(i % 100000) },
				fnew: func(_ string, i int) any { return int64(2_000_000_000) + int64(i) },
			}, nil),
			Reverted: func(t *testing.T, pool *pgxpool.Pool) {
				assert.Equal(t, "integer", columnType(t, pool, "code"))
				assert.Equal(t, "missing", opstest.Constraint(t, pool, "accounts", "accounts_code_nonneg"))
				windowWrites(t, pool, `code IS DISTINCT FROM 2000000000 + (aid - 3000000)`)
			}},
		{Case: typeCase("create_enum", opstest.Accounts(), `create_enum: {name: mood, values: [happy, sad]}`, nil),
			Reverted: func(t *testing.T, pool *pgxpool.Pool) {
				assert.Empty(t, opstest.EnumLabels(t, pool, "mood"), "revert drops the type")
			}},
		{Case: onAccounts(rawSQL("sql with down", opstest.Accounts(), `      table: accounts
      up: CREATE OR REPLACE VIEW rich AS SELECT aid, abalance FROM accounts WHERE abalance > 50000
      down: DROP VIEW IF EXISTS rich
`, nil))},
		{Case: renameAccounts("rename_table", opstest.Accounts(), `rename_table: {to: clients}`, nil)},
		{Case: dropAudit("drop_table", opstest.Accounts()+auditOld, `drop_table: {}`, tableGone("audit_old")),
			Reverted: func(t *testing.T, pool *pgxpool.Pool) {
				assert.Equal(t, 300, opstest.Scalar[int](t, pool, `SELECT count(*) FROM audit_old`))
			}},
	})
}

// An operation that cannot be undone is refused at plan time when the migration has an
// undo window, naming the file, line and fix, and nothing is changed.
func TestUndoWindowRefusesWhatCannotBeUndone(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("plans against PostgreSQL")
	}
	_, pool := testenv.DB(t, "zdm_undo")
	ctx := context.Background()
	_, err := pool.Exec(ctx, `CREATE TYPE mood AS ENUM ('sad', 'ok'); CREATE TABLE t (id int PRIMARY KEY, n int NOT NULL CONSTRAINT t_n_key UNIQUE);`)
	require.NoError(t, err)
	for _, c := range []struct{ file, want string }{
		{"name: e\noperations:\n  - add_enum_value: {enum: mood, value: happy}\nundo_window: 24h\n",
			"migration.yaml:3: operations[0].add_enum_value: undo_window is set, but this operation cannot be undone after contract: PostgreSQL cannot remove a value from an enum type (fix: move add_enum_value to a migration without undo_window)"},
		{"name: d\ntable: t\noperations:\n  - drop_not_null: {column: n}\nundo_window: 24h\n",
			"migration.yaml:4: operations[0].drop_not_null: undo_window is set, but this operation cannot be undone after contract"},
		{"name: u\ntable: t\noperations:\n  - drop_constraint: {name: t_n_key}\nundo_window: 24h\n",
			"migration.yaml:4: operations[0].drop_constraint: undo_window is set, but this operation cannot be undone after contract: UNIQUE t_n_key needs its index built again"},
	} {
		_, err := opstest.Plan(ctx, pool, "migration.yaml", []byte(c.file))
		require.Error(t, err, c.file)
		assert.Contains(t, err.Error(), c.want)
	}
	assert.False(t, opstest.Scalar[bool](t, pool, `SELECT to_regnamespace('zdm') IS NOT NULL`), "a refused migration changes nothing")
	assert.Equal(t, []string{"sad", "ok"}, opstest.EnumLabels(t, pool, "mood"))
}
