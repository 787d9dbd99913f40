package lint

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	_ "github.com/zdmhq/zdm/internal/ops" // registers the operations spec parses
	"github.com/zdmhq/zdm/internal/spec"
)

func run(t *testing.T, sql string) []Finding {
	t.Helper()
	fs, err := LintSQL(context.Background(), "m.sql", sql, Options{Config: DefaultConfig()})
	require.NoError(t, err)
	return fs
}

// lines are the lines where rule fires on sql.
func lines(t *testing.T, sql, rule string) []int {
	t.Helper()
	var out []int
	for _, f := range run(t, sql) {
		if f.Rule == rule {
			out = append(out, f.Line)
		}
	}
	return out
}

// ruleCase is one script and the lines a rule must fire on (none: the script is safe
// for that rule).
type ruleCase struct {
	name string
	sql  string
	want []int
}

func checkRule(t *testing.T, rule string, cases []ruleCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			assert.Equal(t, c.want, lines(t, c.sql, rule), "rule %s on:\n%s", rule, c.sql)
		})
	}
}

func TestMissingLockTimeout(t *testing.T) {
	checkRule(t, "missing-lock-timeout", []ruleCase{
		{"alter without timeout", "ALTER TABLE t ADD COLUMN c int;", []int{1}},
		{"session timeout before", "SET lock_timeout = '2s';\nALTER TABLE t ADD COLUMN c int;", nil},
		{"timeout after does not count", "ALTER TABLE t ADD COLUMN c int;\nSET lock_timeout = '2s';", []int{1}},
		{"zero timeout is none", "SET lock_timeout = 0;\nALTER TABLE t ADD COLUMN c int;", []int{2}},
		{"'0' string is none", "SET lock_timeout TO '0';\nDROP TABLE t;", []int{2}},
		{"reset clears it", "SET lock_timeout = '1s';\nRESET lock_timeout;\nCREATE INDEX i ON t (c);", []int{3}},
		{"local inside the transaction", "BEGIN;\nSET LOCAL lock_timeout = '1s';\nALTER TABLE t DROP COLUMN c;\nCOMMIT;", nil},
		{"local ends at commit", "BEGIN;\nSET LOCAL lock_timeout = '1s';\nCOMMIT;\nALTER TABLE t DROP COLUMN c;", []int{4}},
		{"set inside the transaction lasts", "BEGIN;\nSET lock_timeout = '1s';\nCOMMIT;\nALTER TABLE t DROP COLUMN c;", nil},
		{"concurrent index waits without blocking", "CREATE INDEX CONCURRENTLY i ON t (c);", nil},
		{"new table", "CREATE TABLE t (id bigint);\nALTER TABLE t ADD COLUMN c int;\nCREATE INDEX i ON t (c);", nil},
		{"plain writes are not DDL", "UPDATE t SET c = 1 WHERE id = 1;\nSELECT 1;", nil},
		{"rename and drop index", "ALTER TABLE t RENAME COLUMN a TO b;\nDROP INDEX i;", []int{1, 2}},
		{"new table referencing an existing one", "CREATE TABLE n (id bigint, t_id bigint REFERENCES t (id));", []int{1}},
		{"foreign key from a new table", "CREATE TABLE n (id bigint, t_id bigint);\nALTER TABLE n ADD CONSTRAINT f FOREIGN KEY (t_id) REFERENCES t (id);", []int{2}},
		{"new table referencing a new one", "CREATE TABLE a (id bigint PRIMARY KEY);\nCREATE TABLE b (a_id bigint REFERENCES a (id));", nil},
	})
	// statement_timeout bounds the wait too: a warning, not an error.
	fs := byRule(run(t, "SET statement_timeout = '5s';\nALTER TABLE t ADD COLUMN c int;"), "missing-lock-timeout")
	require.Len(t, fs, 1)
	assert.Equal(t, Warning, fs[0].Level)
	assert.Contains(t, fs[0].Message, "statement_timeout 5s bounds the wait")
	fs = byRule(run(t, "BEGIN;\nSET LOCAL statement_timeout = 0;\nALTER TABLE t ADD COLUMN c int;\nCOMMIT;"), "missing-lock-timeout")
	require.Len(t, fs, 1)
	assert.Equal(t, Error, fs[0].Level)
}

func TestAlterColumnTypeRewrite(t *testing.T) {
	checkRule(t, "alter-column-type-rewrite", []ruleCase{
		{"int to bigint", "ALTER TABLE t ALTER COLUMN c TYPE bigint;", []int{1}},
		{"using", "ALTER TABLE t ALTER COLUMN c TYPE varchar(20) USING c::varchar(20);", []int{1}},
		{"new table", "CREATE TABLE t (c int);\nALTER TABLE t ALTER COLUMN c TYPE bigint;", nil},
	})
	// Without the old type, a change that may be a widening is only a warning.
	fs := run(t, "ALTER TABLE t ALTER COLUMN c TYPE text;\nALTER TABLE t ALTER COLUMN d TYPE bigint;")
	require.Len(t, byRule(fs, "alter-column-type-rewrite"), 2)
	assert.Equal(t, Warning, byRule(fs, "alter-column-type-rewrite")[0].Level)
	assert.Equal(t, Error, byRule(fs, "alter-column-type-rewrite")[1].Level)
	assert.Contains(t, byRule(fs, "alter-column-type-rewrite")[1].Safe, "change_type: {column: d, type: bigint}")
	assert.Contains(t, byRule(fs, "alter-column-type-rewrite")[1].Safe, "table: public.t")
}

func TestRewritesFromTypes(t *testing.T) {
	for _, c := range []struct {
		old, new string
		want     bool
	}{
		{"varchar(10)", "varchar(20)", false},
		{"varchar(10)", "varchar(10)", false},
		{"varchar(20)", "varchar(10)", true},
		{"varchar(10)", "text", false},
		{"varchar(10)", "varchar", false},
		{"text", "varchar", false},
		{"text", "varchar(10)", true},
		{"numeric(10,2)", "numeric(12,2)", false},
		{"numeric(10,2)", "numeric", false},
		{"numeric(10,2)", "numeric(12,3)", true},
		{"numeric(10,2)", "numeric(8,2)", true},
		{"numeric", "numeric(10,2)", true},
		{"timestamp(3)", "timestamp(6)", false},
		{"timestamp(3)", "timestamp", false},
		{"timestamp(6)", "timestamp(3)", true},
		{"timestamp", "timestamptz", true},
		{"int", "bigint", true},
		{"bigint", "int", true},
		{"int", "int4", false},
		{"int", "text", true},
		{"cidr", "inet", false},
		{"int[]", "bigint[]", true},
		{"char(10)", "text", true},
	} {
		t.Run(c.old+"->"+c.new, func(t *testing.T) {
			assert.Equal(t, c.want, rewrites(parseType(t, c.old), parseType(t, c.new)))
		})
	}
}

// parseType reads a type name the way a column definition does.
func parseType(t *testing.T, typ string) colType {
	t.Helper()
	sc, err := parseScript("x", "CREATE TABLE x (c "+typ+")")
	require.NoError(t, err)
	return typeOf(sc.stmts[0].node.GetCreateStmt().GetTableElts()[0].GetColumnDef().GetTypeName())
}

func TestCatalogTypeMatchesParsedType(t *testing.T) {
	// atttypmod as PostgreSQL stores it: varchar(20) is 24, numeric(12,2) is (12<<16|2)+4.
	assert.Equal(t, parseType(t, "varchar(20)"), catalogType("varchar", 24, 0))
	assert.Equal(t, parseType(t, "numeric(12,2)"), catalogType("numeric", 12<<16|2+4, 0))
	assert.Equal(t, parseType(t, "timestamptz(3)"), catalogType("timestamptz", 3, 0))
	assert.Equal(t, parseType(t, "bigint"), catalogType("int8", -1, 0))
	assert.Equal(t, parseType(t, "int[]"), catalogType("_int4", -1, 1))
}

func TestAddColumnVolatileDefault(t *testing.T) {
	checkRule(t, "add-column-volatile-default", []ruleCase{
		{"gen_random_uuid", "ALTER TABLE t ADD COLUMN u uuid DEFAULT gen_random_uuid();", []int{1}},
		{"random nested", "ALTER TABLE t ADD COLUMN r int DEFAULT (random() * 100)::int;", []int{1}},
		{"clock_timestamp", "ALTER TABLE t ADD COLUMN at timestamptz DEFAULT clock_timestamp();", []int{1}},
		{"nextval", "ALTER TABLE t ADD COLUMN n bigint DEFAULT nextval('s');", []int{1}},
		{"serial", "ALTER TABLE t ADD COLUMN n bigserial;", []int{1}},
		{"identity", "ALTER TABLE t ADD COLUMN n bigint GENERATED ALWAYS AS IDENTITY;", []int{1}},
		{"constant", "ALTER TABLE t ADD COLUMN s text NOT NULL DEFAULT 'new';", nil},
		{"now is stable, computed once", "ALTER TABLE t ADD COLUMN at timestamptz DEFAULT now();", nil},
		{"current_timestamp", "ALTER TABLE t ADD COLUMN at timestamptz DEFAULT CURRENT_TIMESTAMP;", nil},
		{"set default later is fine", "ALTER TABLE t ADD COLUMN u uuid;\nALTER TABLE t ALTER COLUMN u SET DEFAULT gen_random_uuid();", nil},
		{"new table", "CREATE TABLE t (id int);\nALTER TABLE t ADD COLUMN u uuid DEFAULT gen_random_uuid();", nil},
		{"random in a string is text", "ALTER TABLE t ADD COLUMN s text DEFAULT 'random()';", nil},
	})
	fs := byRule(run(t, "ALTER TABLE app.t ADD COLUMN u uuid DEFAULT gen_random_uuid();"), "add-column-volatile-default")
	require.Len(t, fs, 1)
	assert.Contains(t, fs[0].Safe, "add_column: {column: u, type: uuid, backfill: gen_random_uuid(), default: gen_random_uuid()}")
	assert.Contains(t, fs[0].Safe, "table: app.t")
}

func TestAddColumnGeneratedStored(t *testing.T) {
	checkRule(t, "add-column-generated-stored", []ruleCase{
		{"generated", "ALTER TABLE t ADD COLUMN total int GENERATED ALWAYS AS (a + b) STORED;", []int{1}},
		{"plain column", "ALTER TABLE t ADD COLUMN total int;", nil},
		{"in a new table", "CREATE TABLE t (a int, b int, total int GENERATED ALWAYS AS (a + b) STORED);", nil},
	})
}

func TestSetNotNullScan(t *testing.T) {
	checkRule(t, "set-not-null-scan", []ruleCase{
		{"bare", "ALTER TABLE t ALTER COLUMN c SET NOT NULL;", []int{1}},
		{"check not yet validated", "ALTER TABLE t ADD CONSTRAINT k CHECK (c IS NOT NULL) NOT VALID;\nALTER TABLE t ALTER COLUMN c SET NOT NULL;", []int{2}},
		{"check on another column", "ALTER TABLE t ADD CONSTRAINT k CHECK (d IS NOT NULL) NOT VALID;\nALTER TABLE t VALIDATE CONSTRAINT k;\nALTER TABLE t ALTER COLUMN c SET NOT NULL;", []int{3}},
		{"validated check", "ALTER TABLE t ADD CONSTRAINT k CHECK (c IS NOT NULL) NOT VALID;\nALTER TABLE t VALIDATE CONSTRAINT k;\nALTER TABLE t ALTER COLUMN c SET NOT NULL;", nil},
		{"check added valid", "ALTER TABLE t ADD CONSTRAINT k CHECK (c IS NOT NULL);\nALTER TABLE t ALTER COLUMN c SET NOT NULL;", nil},
		{"drop not null", "ALTER TABLE t ALTER COLUMN c DROP NOT NULL;", nil},
		{"new table", "CREATE TABLE t (c int);\nALTER TABLE t ALTER COLUMN c SET NOT NULL;", nil},
	})
	fs := byRule(run(t, "ALTER TABLE t ALTER COLUMN c SET NOT NULL;"), "set-not-null-scan")
	assert.Contains(t, fs[0].Safe, "set_not_null: {column: c}")
}

func TestAddConstraints(t *testing.T) {
	checkRule(t, "add-check-not-valid", []ruleCase{
		{"check", "ALTER TABLE t ADD CONSTRAINT k CHECK (n > 0);", []int{1}},
		{"not valid", "ALTER TABLE t ADD CONSTRAINT k CHECK (n > 0) NOT VALID;\nALTER TABLE t VALIDATE CONSTRAINT k;", nil},
		{"new table", "CREATE TABLE t (n int);\nALTER TABLE t ADD CONSTRAINT k CHECK (n > 0);", nil},
	})
	checkRule(t, "add-foreign-key-not-valid", []ruleCase{
		{"fk", "ALTER TABLE o ADD CONSTRAINT fk FOREIGN KEY (c) REFERENCES c (id);", []int{1}},
		{"not valid", "ALTER TABLE o ADD CONSTRAINT fk FOREIGN KEY (c) REFERENCES c (id) NOT VALID;", nil},
		{"new table", "CREATE TABLE o (c bigint);\nALTER TABLE o ADD CONSTRAINT fk FOREIGN KEY (c) REFERENCES c (id);", nil},
	})
	checkRule(t, "add-unique-without-index", []ruleCase{
		{"unique", "ALTER TABLE t ADD CONSTRAINT u UNIQUE (email);", []int{1}},
		{"primary key", "ALTER TABLE t ADD PRIMARY KEY (id);", []int{1}},
		{"using index", "CREATE UNIQUE INDEX CONCURRENTLY u ON t (email);\nALTER TABLE t ADD CONSTRAINT u UNIQUE USING INDEX u;", nil},
		{"new table", "CREATE TABLE t (email text);\nALTER TABLE t ADD CONSTRAINT u UNIQUE (email);", nil},
	})
	fs := run(t, "ALTER TABLE o ADD CONSTRAINT fk FOREIGN KEY (c) REFERENCES c (id);\nALTER TABLE t ADD CONSTRAINT u UNIQUE (email);\nALTER TABLE t ADD CONSTRAINT k CHECK (n > 0);")
	assert.Contains(t, byRule(fs, "add-foreign-key-not-valid")[0].Safe, "add_foreign_key: {name: fk, columns: [c], references: {table: public.c, columns: [id]}}")
	assert.Contains(t, byRule(fs, "add-unique-without-index")[0].Safe, "add_unique: {name: u, columns: [email]}")
	assert.Contains(t, byRule(fs, "add-check-not-valid")[0].Safe, `add_check: {name: k, check: "n > 0"}`)
}

func TestIndexes(t *testing.T) {
	checkRule(t, "index-not-concurrently", []ruleCase{
		{"create", "CREATE INDEX i ON t (c);", []int{1}},
		{"create unique", "CREATE UNIQUE INDEX i ON t (lower(email)) WHERE deleted_at IS NULL;", []int{1}},
		{"drop", "DROP INDEX i;", []int{1}},
		{"reindex", "REINDEX TABLE t;", []int{1}},
		{"concurrently", "CREATE INDEX CONCURRENTLY i ON t (c);\nDROP INDEX CONCURRENTLY j;\nREINDEX INDEX CONCURRENTLY k;", nil},
		{"new table", "CREATE TABLE t (c int);\nCREATE INDEX i ON t (c);\nREINDEX TABLE t;", nil},
		{"index created here", "CREATE INDEX CONCURRENTLY i ON t (c);\nDROP INDEX i;", nil},
	})
	fs := byRule(run(t, "CREATE UNIQUE INDEX i ON t (lower(email)) WHERE deleted_at IS NULL;"), "index-not-concurrently")
	assert.Contains(t, fs[0].Safe, `create_index: {name: i, columns: [lower(email)], unique: true, where: deleted_at IS NULL}`)
	checkRule(t, "concurrently-in-transaction", []ruleCase{
		{"create", "BEGIN;\nCREATE INDEX CONCURRENTLY i ON t (c);\nCOMMIT;", []int{2}},
		{"drop", "BEGIN;\nDROP INDEX CONCURRENTLY i;\nCOMMIT;", []int{2}},
		{"reindex", "START TRANSACTION;\nREINDEX INDEX CONCURRENTLY i;\nCOMMIT;", []int{2}},
		{"vacuum", "BEGIN;\nVACUUM t;\nCOMMIT;", []int{2}},
		{"after commit", "BEGIN;\nALTER TABLE t ADD COLUMN c int;\nCOMMIT;\nCREATE INDEX CONCURRENTLY i ON t (c);", nil},
		{"after rollback", "BEGIN;\nROLLBACK;\nCREATE INDEX CONCURRENTLY i ON t (c);", nil},
	})
}

func TestRenamesAndDrops(t *testing.T) {
	checkRule(t, "rename-column", []ruleCase{
		{"rename", "ALTER TABLE t RENAME COLUMN a TO b;", []int{1}},
		{"rename constraint", "ALTER TABLE t RENAME CONSTRAINT a TO b;", nil},
		{"new table", "CREATE TABLE t (a int);\nALTER TABLE t RENAME COLUMN a TO b;", nil},
	})
	checkRule(t, "rename-table", []ruleCase{
		{"rename", "ALTER TABLE t RENAME TO u;", []int{1}},
		{"rename index", "ALTER INDEX i RENAME TO j;", nil},
	})
	checkRule(t, "drop-column", []ruleCase{
		{"drop", "ALTER TABLE t DROP COLUMN c;", []int{1}},
		{"drop default", "ALTER TABLE t ALTER COLUMN c DROP DEFAULT;", nil},
		{"new table", "CREATE TABLE t (c int);\nALTER TABLE t DROP COLUMN c;", nil},
	})
	checkRule(t, "drop-table", []ruleCase{
		{"drop", "DROP TABLE IF EXISTS t;", []int{1}},
		{"two", "DROP TABLE a, b;", []int{1, 1}},
		{"drop view", "DROP VIEW v;", nil},
		{"scratch table", "CREATE TABLE tmp (id int);\nDROP TABLE tmp;", nil},
	})
	fs := run(t, "ALTER TABLE t RENAME COLUMN a TO b;\nALTER TABLE t RENAME TO u;\nALTER TABLE t DROP COLUMN c;\nDROP TABLE old;")
	assert.Contains(t, byRule(fs, "rename-column")[0].Safe, "rename_column: {column: a, to: b}")
	assert.Contains(t, byRule(fs, "rename-table")[0].Safe, "rename_table: {to: u}")
	assert.Contains(t, byRule(fs, "drop-column")[0].Safe, "drop_column: {column: c}")
	assert.Contains(t, byRule(fs, "drop-table")[0].Safe, "drop_table: {table: public.old}")
}

func TestRewritingMaintenance(t *testing.T) {
	checkRule(t, "vacuum-full", []ruleCase{
		{"full", "VACUUM FULL t;", []int{1}},
		{"full with options", "VACUUM (FULL, ANALYZE) t;", []int{1}},
		{"plain", "VACUUM ANALYZE t;", nil},
	})
	checkRule(t, "cluster", []ruleCase{
		{"cluster", "CLUSTER t USING t_pkey;", []int{1}},
		{"new table", "CREATE TABLE t (id int);\nCLUSTER t USING t_pkey;", nil},
	})
}

func TestEnumValueInTransaction(t *testing.T) {
	checkRule(t, "enum-value-in-transaction", []ruleCase{
		{"in transaction", "BEGIN;\nALTER TYPE mood ADD VALUE 'meh';\nCOMMIT;", []int{2}},
		{"outside", "ALTER TYPE mood ADD VALUE IF NOT EXISTS 'meh' BEFORE 'ok';", nil},
		{"rename value in transaction", "BEGIN;\nALTER TYPE mood RENAME VALUE 'a' TO 'b';\nCOMMIT;", nil},
	})
	fs := byRule(run(t, "BEGIN;\nALTER TYPE mood ADD VALUE 'meh' BEFORE 'ok';\nCOMMIT;"), "enum-value-in-transaction")
	assert.Contains(t, fs[0].Safe, "add_enum_value: {enum: mood, value: meh, before: ok}")
}

func TestSeveralExclusiveLocks(t *testing.T) {
	checkRule(t, "several-exclusive-locks-in-transaction", []ruleCase{
		{"two tables", "BEGIN;\nALTER TABLE a ADD COLUMN x int;\nALTER TABLE b ADD COLUMN y int;\nALTER TABLE c ADD COLUMN z int;\nCOMMIT;", []int{3}},
		{"one table twice", "BEGIN;\nALTER TABLE a ADD COLUMN x int;\nALTER TABLE a ADD COLUMN y int;\nCOMMIT;", nil},
		{"separate transactions", "BEGIN;\nALTER TABLE a ADD COLUMN x int;\nCOMMIT;\nBEGIN;\nALTER TABLE b ADD COLUMN y int;\nCOMMIT;", nil},
		{"no transaction", "ALTER TABLE a ADD COLUMN x int;\nALTER TABLE b ADD COLUMN y int;", nil},
		{"two indexes, whose tables are unknown", "BEGIN;\nDROP INDEX i;\nDROP INDEX j;\nCOMMIT;", nil},
		{"weaker lock", "BEGIN;\nALTER TABLE a ADD COLUMN x int;\nALTER TABLE b VALIDATE CONSTRAINT k;\nCOMMIT;", nil},
		{"new table", "BEGIN;\nCREATE TABLE b (id int);\nALTER TABLE a ADD COLUMN x int;\nALTER TABLE b ADD COLUMN y int;\nCOMMIT;", nil},
	})
}

func TestUnboundedBackfill(t *testing.T) {
	checkRule(t, "unbounded-backfill", []ruleCase{
		{"update all", "ALTER TABLE t ADD COLUMN c int;\nUPDATE t SET c = 0;", []int{2}},
		{"where null", "ALTER TABLE t ADD COLUMN c int;\nUPDATE t SET c = 0 WHERE c IS NULL;", []int{2}},
		{"delete all", "ALTER TABLE t ADD COLUMN c int;\nDELETE FROM t;", []int{2}},
		{"bounded batch", "ALTER TABLE t ADD COLUMN c int;\nUPDATE t SET c = 0 WHERE id BETWEEN 1 AND 1000;", nil},
		{"no DDL", "UPDATE t SET c = 0;", nil},
		{"framework bookkeeping", "ALTER TABLE t ADD COLUMN c int;\nUPDATE alembic_version SET version_num = 'x';", nil},
		{"new table", "CREATE TABLE t (c int);\nUPDATE t SET c = 0;", nil},
	})
	// Filling a column the file added is zdm's add_column with a backfill.
	fs := byRule(run(t, "ALTER TABLE t ADD COLUMN d text;\nUPDATE t SET d = lower(email);"), "unbounded-backfill")
	require.Len(t, fs, 1)
	assert.True(t, fs[0].SafeZDM)
	assert.Contains(t, fs[0].Safe, "add_column: {column: d, type: text, backfill: lower(email)}")
	fs = byRule(run(t, "ALTER TABLE t ADD COLUMN d text;\nUPDATE t SET e = 1 WHERE d IS NULL;"), "unbounded-backfill")
	require.Empty(t, fs, "IS NULL on a column the UPDATE does not set is an ordinary filter")
	fs = byRule(run(t, "ALTER TABLE t ADD COLUMN d text;\nUPDATE t SET e = 1 WHERE e IS NULL;"), "unbounded-backfill")
	require.Len(t, fs, 1)
	assert.Contains(t, fs[0].Safe, "UPDATE t SET e = 1\n  WHERE id IN (SELECT id FROM t WHERE e IS NULL ORDER BY id LIMIT 10000);")
}

func TestNotIdempotent(t *testing.T) {
	checkRule(t, "not-idempotent", []ruleCase{
		{"create table", "CREATE TABLE t (id bigint);", []int{1}},
		{"create table if not exists", "CREATE TABLE IF NOT EXISTS t (id bigint);", nil},
		{"create index", "SET lock_timeout = '1s';\nCREATE INDEX CONCURRENTLY i ON t (c);", []int{2}},
		{"create index if not exists", "CREATE INDEX CONCURRENTLY IF NOT EXISTS i ON t (c);", nil},
		{"an unnamed index gets a fresh name each time", "CREATE INDEX CONCURRENTLY ON t (c);", nil},
		{"drop", "DROP TABLE t;\nDROP INDEX CONCURRENTLY IF EXISTS i;", []int{1}},
		{"add column", "ALTER TABLE t ADD COLUMN c int;\nALTER TABLE t ADD COLUMN IF NOT EXISTS d int;", []int{1}},
		{"drop column", "ALTER TABLE t DROP COLUMN IF EXISTS c, DROP COLUMN d;", []int{1}},
		{"set default runs again fine", "ALTER TABLE t ALTER COLUMN c SET DEFAULT 0;", nil},
	})
}

func TestConventions(t *testing.T) {
	checkRule(t, "prefer-jsonb", []ruleCase{
		{"json", "CREATE TABLE t (d json);", []int{1}},
		{"added", "ALTER TABLE t ADD COLUMN d json;", []int{1}},
		{"jsonb", "CREATE TABLE t (d jsonb);", nil},
	})
	checkRule(t, "prefer-bigint-primary-key", []ruleCase{
		{"serial", "CREATE TABLE t (id serial PRIMARY KEY);", []int{1}},
		{"int table constraint", "CREATE TABLE t (id integer, CONSTRAINT t_pkey PRIMARY KEY (id));", []int{1}},
		{"bigint identity", "CREATE TABLE t (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY);", nil},
		{"uuid", "CREATE TABLE t (id uuid PRIMARY KEY);", nil},
		{"int not the key", "CREATE TABLE t (id bigint PRIMARY KEY, n int);", nil},
	})
	checkRule(t, "prefer-timestamptz", []ruleCase{
		{"timestamp", "CREATE TABLE t (at timestamp);", []int{1}},
		{"timestamp(6)", "ALTER TABLE t ADD COLUMN at timestamp(6) without time zone;", []int{1}},
		{"timestamptz", "CREATE TABLE t (at timestamp with time zone);", nil},
	})
	checkRule(t, "prefer-text", []ruleCase{
		{"varchar(n)", "CREATE TABLE t (s varchar(50));", []int{1}},
		{"varchar", "CREATE TABLE t (s varchar, u text);", nil},
		{"bookkeeping", "CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL);", nil},
	})
}

func TestScriptParsing(t *testing.T) {
	t.Run("dollar quotes and comments hide semicolons and statements", func(t *testing.T) {
		fs := run(t, "-- DROP TABLE t;\n/* ALTER TABLE t DROP COLUMN c; */\nCREATE FUNCTION f() RETURNS void LANGUAGE sql AS $$ DROP TABLE t; $$;\nSELECT 'DROP TABLE t;';")
		assert.Empty(t, fs)
	})
	t.Run("position is that of the first token", func(t *testing.T) {
		fs := run(t, "SELECT 1; -- x\n\n  /* y */\n   DROP TABLE t;")
		require.Len(t, byRule(fs, "drop-table"), 1)
		f := byRule(fs, "drop-table")[0]
		assert.Equal(t, 4, f.Line)
		assert.Equal(t, 4, f.Column)
		assert.Equal(t, "DROP TABLE t", f.Statement)
		assert.Equal(t, f.Statement, "SELECT 1; -- x\n\n  /* y */\n   DROP TABLE t;"[f.Offset:f.End])
	})
	t.Run("psql meta-commands", func(t *testing.T) {
		src := "\\set ON_ERROR_STOP on\nSET lock_timeout = '1s';\n  \\connect app\nDO $$\nBEGIN\n\\ this line is text\nEND $$;\n"
		fs := run(t, src)
		var got []string
		for _, f := range fs {
			got = append(got, fmt.Sprintf("%d:%d %s", f.Line, f.Column, f.Rule))
		}
		assert.Equal(t, []string{"1:1 psql-meta-command", "3:3 psql-meta-command"}, got)
		assert.Equal(t, Info, fs[0].Level)
	})
	t.Run("parse error has file, line and column", func(t *testing.T) {
		_, err := LintSQL(context.Background(), "bad.sql", "SELECT 1;\nALTER TABLE t ADD COLUMN;\n", Options{Config: DefaultConfig()})
		var pe *ParseError
		require.ErrorAs(t, err, &pe)
		assert.Equal(t, "bad.sql:2:25: syntax error at or near \";\"", pe.Error())
	})
}

func TestSuppression(t *testing.T) {
	src := `-- zdm-lint: disable-file=prefer-text,not-idempotent
-- zdm-lint: disable=drop-column
ALTER TABLE t DROP COLUMN a;
ALTER TABLE t DROP COLUMN b; -- zdm-lint: disable=drop-column,missing-lock-timeout because nobody reads it
ALTER TABLE t DROP COLUMN c;
CREATE TABLE u (s varchar(10));
`
	var got []string
	for _, f := range run(t, src) {
		got = append(got, fmt.Sprintf("%d %s", f.Line, f.Rule))
	}
	assert.Equal(t, []string{"3 missing-lock-timeout", "5 missing-lock-timeout", "5 drop-column"}, got)
}

func TestConfig(t *testing.T) {
	dir := t.TempDir()
	write := func(body string) string {
		p := filepath.Join(dir, "c.yaml")
		require.NoError(t, os.WriteFile(p, []byte(body), 0o600))
		return p
	}
	cfg, err := LoadConfig(write("disable: [missing-lock-timeout]\nlevels: {drop-column: warning}\nsmall_table: {rows: 500, lock: 250ms}\n"))
	require.NoError(t, err)
	assert.EqualValues(t, 500, cfg.SmallTable.Rows)
	fs, err := LintSQL(context.Background(), "m.sql", "ALTER TABLE t DROP COLUMN IF EXISTS c;", Options{Config: cfg})
	require.NoError(t, err)
	require.Len(t, fs, 1)
	assert.Equal(t, "drop-column", fs[0].Rule)
	assert.Equal(t, Warning, fs[0].Level)

	for _, bad := range []string{"disable: [no-such-rule]\n", "levels: {drop-column: fatal}\n", "colour: red\n", "small_table: {rows: -1}\n"} {
		_, err := LoadConfig(write(bad))
		assert.Error(t, err, bad)
	}
}

func TestEveryRuleHasCases(t *testing.T) {
	// Every rule fires somewhere in this file's cases: a rule nobody can trigger is a stub.
	src, err := os.ReadFile("lint_test.go")
	require.NoError(t, err)
	for _, r := range Rules {
		assert.True(t, strings.Contains(string(src), " "+r.ID+`"`) || strings.Contains(string(src), `"`+r.ID+`"`), "rule %s has no test", r.ID)
	}
}

// TestExamples runs lint over examples/lint and expects exactly these findings.
func TestExamples(t *testing.T) {
	dir := filepath.Join("..", "..", "examples", "lint")
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	var srcs []Source
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		require.NoError(t, err)
		srcs = append(srcs, Source{Name: e.Name(), SQL: string(b)})
	}
	res, err := Lint(context.Background(), srcs, Options{Config: DefaultConfig()})
	require.NoError(t, err)
	var got []string
	for _, f := range res.Findings {
		got = append(got, fmt.Sprintf("%s:%d %s %s", f.File, f.Line, f.Level, f.Rule))
	}
	sort.Strings(got)
	want := []string{
		"alembic_upgrade_7c1e9a04b2d3.sql:12 info not-idempotent",
		"alembic_upgrade_7c1e9a04b2d3.sql:3 info not-idempotent",
		"django_0014_order_status.sql:14 info not-idempotent",
		"django_0014_order_status.sql:18 info not-idempotent",
		"django_0014_order_status.sql:20 info not-idempotent",
		"django_0014_order_status.sql:21 info not-idempotent",
		"django_0014_order_status.sql:22 info not-idempotent",
		"django_0014_order_status.sql:5 info not-idempotent",
		"rails_20260412093011_add_archived_to_projects.sql:16 info not-idempotent",
		"rails_20260412093011_add_archived_to_projects.sql:17 info not-idempotent",
		"rails_20260412093011_add_archived_to_projects.sql:18 info not-idempotent",
		"rails_20260412093011_add_archived_to_projects.sql:19 info not-idempotent",
		"rails_20260412093011_add_archived_to_projects.sql:20 info not-idempotent",
		"alembic_upgrade_7c1e9a04b2d3.sql:10 error alter-column-type-rewrite",
		"alembic_upgrade_7c1e9a04b2d3.sql:10 error missing-lock-timeout",
		"alembic_upgrade_7c1e9a04b2d3.sql:12 error missing-lock-timeout",
		"alembic_upgrade_7c1e9a04b2d3.sql:12 warning prefer-jsonb",
		"alembic_upgrade_7c1e9a04b2d3.sql:14 error unbounded-backfill",
		"alembic_upgrade_7c1e9a04b2d3.sql:16 error missing-lock-timeout",
		"alembic_upgrade_7c1e9a04b2d3.sql:16 error set-not-null-scan",
		"alembic_upgrade_7c1e9a04b2d3.sql:18 error missing-lock-timeout",
		"alembic_upgrade_7c1e9a04b2d3.sql:18 error rename-column",
		"django_0014_order_status.sql:10 error alter-column-type-rewrite",
		"django_0014_order_status.sql:10 error missing-lock-timeout",
		"django_0014_order_status.sql:14 error missing-lock-timeout",
		"django_0014_order_status.sql:19 error missing-lock-timeout", // the new table's foreign key locks shop_order
		"django_0014_order_status.sql:20 error index-not-concurrently",
		"django_0014_order_status.sql:20 error missing-lock-timeout",
		"django_0014_order_status.sql:21 error index-not-concurrently",
		"django_0014_order_status.sql:21 error missing-lock-timeout",
		"django_0014_order_status.sql:5 error missing-lock-timeout",
		"django_0014_order_status.sql:5 warning prefer-text",
		"django_0014_order_status.sql:6 error missing-lock-timeout",
		"rails_20260412093011_add_archived_to_projects.sql:16 error missing-lock-timeout",
		"rails_20260412093011_add_archived_to_projects.sql:16 warning prefer-timestamptz",
		"rails_20260412093011_add_archived_to_projects.sql:17 error add-column-volatile-default",
		"rails_20260412093011_add_archived_to_projects.sql:17 error missing-lock-timeout",
		"rails_20260412093011_add_archived_to_projects.sql:18 error index-not-concurrently",
		"rails_20260412093011_add_archived_to_projects.sql:18 error missing-lock-timeout",
		"rails_20260412093011_add_archived_to_projects.sql:19 error missing-lock-timeout",
		"rails_20260412093011_add_archived_to_projects.sql:20 error index-not-concurrently",
		"rails_20260412093011_add_archived_to_projects.sql:20 error missing-lock-timeout",
		"rails_20260412093011_add_archived_to_projects.sql:21 error add-foreign-key-not-valid",
		"rails_20260412093011_add_archived_to_projects.sql:21 error missing-lock-timeout",
	}
	sort.Strings(want)
	assert.Equal(t, want, got)
}

func byRule(fs []Finding, rule string) []Finding {
	var out []Finding
	for _, f := range fs {
		if f.Rule == rule {
			out = append(out, f)
		}
	}
	return out
}

// TestSafeMigrationsParse feeds every zdm migration a finding proposes to zdm's own
// migration parser: the safe way must be a file zdm accepts.
func TestSafeMigrationsParse(t *testing.T) {
	src := `ALTER TABLE t ALTER COLUMN c TYPE bigint;
ALTER TABLE t ALTER COLUMN n TYPE numeric(12,2);
ALTER TABLE t ADD COLUMN u uuid DEFAULT gen_random_uuid();
ALTER TABLE t ADD COLUMN total int GENERATED ALWAYS AS (a + b) STORED;
ALTER TABLE t ALTER COLUMN c SET NOT NULL;
ALTER TABLE t ADD CONSTRAINT k CHECK (n > 0 AND n < 100);
ALTER TABLE o ADD CONSTRAINT fk FOREIGN KEY (c) REFERENCES app.c (id);
ALTER TABLE t ADD CONSTRAINT u UNIQUE (email);
CREATE UNIQUE INDEX i ON t (lower(email), created_at) WHERE deleted_at IS NULL;
ALTER TABLE t RENAME COLUMN a TO b;
ALTER TABLE t RENAME TO u;
ALTER TABLE t DROP COLUMN c;
DROP TABLE old;
ALTER TABLE t ADD COLUMN d text;
UPDATE t SET d = lower(email);
BEGIN;
ALTER TYPE mood ADD VALUE 'meh' AFTER 'ok';
COMMIT;
`
	n := 0
	for _, f := range run(t, src) {
		if !f.SafeZDM {
			continue
		}
		n++
		_, err := spec.Parse(f.Rule+".yaml", []byte(f.Safe))
		assert.NoError(t, err, "%s:\n%s", f.Rule, f.Safe)
	}
	assert.Equal(t, 15, n)
}

func TestIndexWithOperatorClassKeepsIt(t *testing.T) {
	fs := byRule(run(t, `CREATE INDEX "o_status_like" ON "o" ("status" varchar_pattern_ops);`), "index-not-concurrently")
	require.Len(t, fs, 1)
	assert.False(t, fs[0].SafeZDM)
	assert.True(t, strings.HasPrefix(fs[0].Safe, "CREATE INDEX CONCURRENTLY o_status_like ON o USING btree (status varchar_pattern_ops);"), fs[0].Safe)
}
