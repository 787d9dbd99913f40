package sqlexpr

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestStatementsSplitsAScriptAsTheParserReadsIt(t *testing.T) {
	src := `-- a view, and a function whose body holds a ;
CREATE VIEW v AS SELECT 'a;b' AS x;

CREATE FUNCTION f() RETURNS int LANGUAGE sql AS $$ SELECT 1; $$;
  ALTER TABLE accounts ADD COLUMN c int /* ; */`
	stmts, err := Statements(src)
	require.NoError(t, err)
	require.Len(t, stmts, 3)
	assert.Equal(t, "-- a view, and a function whose body holds a ;\nCREATE VIEW v AS SELECT 'a;b' AS x", stmts[0].SQL)
	assert.Equal(t, []int{1, 4, 5}, []int{stmts[0].Line, stmts[1].Line, stmts[2].Line})
	assert.Equal(t, "CREATE FUNCTION f() RETURNS int LANGUAGE sql AS $$ SELECT 1; $$", stmts[1].SQL)
	assert.Equal(t, []string{"CREATE VIEW", "CREATE FUNCTION", "ALTER TABLE"}, []string{stmts[0].Kind, stmts[1].Kind, stmts[2].Kind})
	assert.Equal(t, lockNewObject, stmts[0].Lock)
	assert.Equal(t, lockAccessExcl, stmts[2].Lock)
	for _, s := range stmts {
		assert.False(t, s.NoTransaction || s.TransactionControl, s.Kind)
	}
}

func TestStatementsTellWhatCannotRunInATransaction(t *testing.T) {
	for src, kind := range map[string]string{
		"CREATE INDEX CONCURRENTLY IF NOT EXISTS i ON app.t (a)": "CREATE INDEX CONCURRENTLY",
		"DROP INDEX CONCURRENTLY IF EXISTS i":                    "DROP INDEX CONCURRENTLY",
		"REINDEX INDEX CONCURRENTLY i":                           "REINDEX CONCURRENTLY",
		"VACUUM (ANALYZE) t":                                     "VACUUM",
		"VACUUM FULL t":                                          "VACUUM FULL",
		"CREATE DATABASE d":                                      "CREATE DATABASE",
		"ALTER TYPE mood ADD VALUE 'ok'":                         "ALTER TYPE ... ADD VALUE",
		"ALTER TABLE p DETACH PARTITION p1 CONCURRENTLY":         "ALTER TABLE ... DETACH PARTITION CONCURRENTLY",
	} {
		stmts, err := Statements(src)
		require.NoError(t, err, src)
		require.Len(t, stmts, 1, src)
		assert.Equal(t, kind, stmts[0].Kind, src)
		assert.True(t, stmts[0].NoTransaction, src)
	}
	stmts, err := Statements("CREATE INDEX CONCURRENTLY IF NOT EXISTS i ON app.t (a);")
	require.NoError(t, err)
	assert.Equal(t, `"app"."i"`, stmts[0].Index, "the index lives in its table's schema")
	assert.True(t, stmts[0].Scans, "an index build reads the whole table")
	for _, src := range []string{"CREATE INDEX i ON t (a)", "DROP INDEX i", "ANALYZE t", "ALTER TYPE mood RENAME VALUE 'a' TO 'b'"} {
		stmts, err := Statements(src)
		require.NoError(t, err, src)
		assert.False(t, stmts[0].NoTransaction, src)
	}
}

func TestStatementsFlagTransactionControlAndSettings(t *testing.T) {
	for _, src := range []string{"BEGIN", "START TRANSACTION", "COMMIT", "ROLLBACK", "SAVEPOINT s", "SET TRANSACTION ISOLATION LEVEL SERIALIZABLE"} {
		stmts, err := Statements(src)
		require.NoError(t, err, src)
		assert.True(t, stmts[0].TransactionControl, src)
	}
	stmts, err := Statements("SET LOCAL lock_timeout = 0; RESET statement_timeout")
	require.NoError(t, err)
	assert.Equal(t, "lock_timeout", stmts[0].Setting)
	assert.True(t, stmts[0].SettingLocal)
	assert.Equal(t, "statement_timeout", stmts[1].Setting)
	assert.False(t, stmts[1].SettingLocal)
}

func TestStatementsLocksFollowTheSubcommands(t *testing.T) {
	for src, lock := range map[string]string{
		"ALTER TABLE t VALIDATE CONSTRAINT c":                                   "SHARE UPDATE EXCLUSIVE (reads and writes go on), held while VALIDATE CONSTRAINT reads the whole table",
		"ALTER TABLE t ADD CONSTRAINT f FOREIGN KEY (a) REFERENCES u NOT VALID": "SHARE ROW EXCLUSIVE (blocks writes while held; on both tables for a foreign key)",
		"ALTER TABLE t ALTER COLUMN a SET STATISTICS 500, ADD COLUMN b int":     lockAccessExcl,
		"ALTER TABLE t ALTER COLUMN a SET NOT NULL":                             lockAccessExcl + ", held while SET NOT NULL reads the whole table (unless a validated CHECK proves it)",
		"ALTER TABLE t ALTER COLUMN a TYPE bigint":                              lockAccessExcl + ", held while a column type change may rewrite the whole table",
		"CREATE TABLE n (id int REFERENCES t)":                                  "SHARE ROW EXCLUSIVE on the referenced table(s), brief (blocks their writes while held)",
		"CREATE TABLE n (id int)":                                               lockNewObject,
		"CREATE TABLE n PARTITION OF t FOR VALUES IN (1)":                       "",
		"DROP TABLE t CASCADE":                                                  "",
		"DO $$ BEGIN END $$":                                                    "",
	} {
		stmts, err := Statements(src)
		require.NoError(t, err, src)
		assert.Equal(t, lock, stmts[0].Lock, src)
	}
}

func TestStatementsSayWhereTheScriptIsWrong(t *testing.T) {
	_, err := Statements("CREATE VIEW v AS SELECT 1;\nCREATE VEIW w AS SELECT 2")
	var se *ScriptError
	require.ErrorAs(t, err, &se)
	assert.Equal(t, `syntax error at or near "VEIW" (line 2, column 8)`, err.Error())

	_, err = Statements("  -- nothing\n")
	assert.EqualError(t, err, "has no SQL statement, only comments")
	_, err = Statements(" ")
	assert.EqualError(t, err, "is empty")
}

func TestStatementsSayWhatReadsOrRewritesTheTable(t *testing.T) {
	for src, want := range map[string][2]bool{
		"ALTER TABLE t VALIDATE CONSTRAINT c":      {true, false},
		"ALTER TABLE t ALTER COLUMN a TYPE bigint": {false, true},
		"ALTER TABLE t ADD COLUMN b int":           {false, false},
		"VACUUM FULL t":                            {true, true},
		"CREATE VIEW v AS SELECT 1":                {false, false},
	} {
		stmts, err := Statements(src)
		require.NoError(t, err, src)
		assert.Equal(t, want, [2]bool{stmts[0].Scans, stmts[0].Rewrites}, src)
	}
}
