package sqlexpr

import (
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseExprGood(t *testing.T) {
	tests := []struct {
		name     string
		src      string
		sql      string
		subquery bool
		cols     [][]string
		funcs    [][]string
	}{
		{name: "function", src: "lower(email)", sql: "lower(email)",
			cols: [][]string{{"email"}}, funcs: [][]string{{"lower"}}},
		{name: "qualified column", src: "public.accounts.email", sql: "public.accounts.email",
			cols: [][]string{{"public", "accounts", "email"}}},
		{name: "constant", src: "  42  ", sql: "42"},
		{name: "cast", src: "amount::numeric(12,2)", sql: "amount::numeric(12, 2)",
			cols: [][]string{{"amount"}}},
		{name: "CAST syntax", src: "CAST(id AS text)", sql: "id::text",
			cols: [][]string{{"id"}}},
		{name: "case", src: "CASE WHEN a > 0 THEN b ELSE c END", sql: "CASE WHEN a > 0 THEN b ELSE c END",
			cols: [][]string{{"a"}, {"b"}, {"c"}}},
		{name: "scalar subquery", src: "(SELECT max(x) FROM t WHERE t.id = accounts.id)",
			sql: "(SELECT max(x) FROM t WHERE t.id = accounts.id)", subquery: true,
			cols: [][]string{{"x"}, {"t", "id"}, {"accounts", "id"}}, funcs: [][]string{{"max"}}},
		{name: "exists", src: "EXISTS (SELECT 1 FROM t)", sql: "EXISTS (SELECT 1 FROM t)", subquery: true},
		{name: "semicolon in literal", src: "';'", sql: "';'"},
		{name: "semicolon in dollar quote", src: "$$a;b$$", sql: "'a;b'"},
		{name: "semicolon in quoted identifier", src: `"weird;name"`, sql: `"weird;name"`,
			cols: [][]string{{"weird;name"}}},
		{name: "line comment", src: "a + 1 -- add one; really", sql: "a + 1", cols: [][]string{{"a"}}},
		{name: "block comment", src: "/* ; */ a /* ) */", sql: "a", cols: [][]string{{"a"}}},
		{name: "parenthesised", src: "(a)", sql: "a", cols: [][]string{{"a"}}},
		{name: "count star", src: "count(*)", sql: "count(*)", funcs: [][]string{{"count"}}},
		{name: "row with star", src: "row(t.*)", sql: "ROW(t.*)", cols: [][]string{{"t", "*"}}},
		{name: "coalesce and qualified function", src: "coalesce(public.f(a), b)", sql: "COALESCE(public.f(a), b)",
			cols: [][]string{{"a"}, {"b"}}, funcs: [][]string{{"public", "f"}}},
		{name: "sql syntax function", src: "extract(year FROM created_at)", sql: "extract ('year' FROM created_at)",
			cols: [][]string{{"created_at"}}, funcs: [][]string{{"pg_catalog", "extract"}}},
		{name: "unicode", src: "'é' || naïve", sql: `'é' || "naïve"`, cols: [][]string{{"naïve"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := ParseExpr(tt.src)
			require.NoError(t, err)
			assert.Equal(t, tt.sql, e.SQL())
			assert.Equal(t, tt.subquery, e.HasSubquery())
			assert.Equal(t, tt.cols, nilIfEmpty(e.ColumnRefs()))
			assert.Equal(t, tt.funcs, nilIfEmpty(e.FuncNames()))

			again, err := ParseExpr(e.SQL())
			require.NoError(t, err, "canonical SQL must parse again")
			assert.Equal(t, e.SQL(), again.SQL(), "canonical SQL is a fixed point")
		})
	}
}

func nilIfEmpty(v [][]string) [][]string {
	if len(v) == 0 {
		return nil
	}
	return v
}

func TestParseExprBad(t *testing.T) {
	tests := []struct {
		name string
		src  string
		err  string
	}{
		{"empty", "", "is empty"},
		{"whitespace", " \n\t", "is empty"},
		{"only a comment", "-- nothing", "has no SQL expression"},
		{"two statements", "1; SELECT 2", "is not one SQL expression: it has 2 statements"},
		{"trailing semicolon", "1;", `is not one SQL expression: it contains a ";" statement separator`},
		{"injection closing parens", "a) , b = (c", `syntax error at or near ")" (at character 2)`},
		{"injection drop table", "1); DROP TABLE x; SELECT (1", `syntax error at or near ")" (at character 2)`},
		{"injection after literal", "'a'); DROP TABLE x; --", `syntax error at or near ")" (at character 4)`},
		{"alias", "x AS y", `is not one SQL expression: it has an alias (AS "y")`},
		{"alias without AS", "x y", `is not one SQL expression: it has an alias (AS "y")`},
		{"star", "*", "is not one SQL expression: * is not allowed"},
		{"qualified star", "t.*", "is not one SQL expression: * is not allowed"},
		{"from", "1 FROM t", "is not one SQL expression: it has a FROM clause"},
		{"where", "1 WHERE true", "is not one SQL expression: it has a WHERE clause"},
		{"group by", "1 GROUP BY 1", "is not one SQL expression: it has a GROUP BY clause"},
		{"having", "1 HAVING true", "is not one SQL expression: it has a HAVING clause"},
		{"window", "1 WINDOW w AS ()", "is not one SQL expression: it has a WINDOW clause"},
		{"order by", "1 ORDER BY 1", "is not one SQL expression: it has an ORDER BY clause"},
		{"limit", "1 LIMIT 1", "is not one SQL expression: it has a LIMIT/FETCH clause"},
		{"limit all", "1 LIMIT ALL", "is not one SQL expression: it has a LIMIT/FETCH clause"},
		{"fetch", "1 FETCH FIRST 1 ROW ONLY", "is not one SQL expression: it has a LIMIT/FETCH clause"},
		{"offset", "1 OFFSET 0", "is not one SQL expression: it has an OFFSET clause"},
		{"for update", "1 FOR UPDATE", "is not one SQL expression: it has a locking clause (FOR UPDATE/SHARE)"},
		{"into", "1 INTO t", "is not one SQL expression: it has an INTO clause"},
		{"union", "1 UNION SELECT 2", "is not one SQL expression: it has a set operation (UNION/INTERSECT/EXCEPT)"},
		{"distinct", "DISTINCT x", "is not one SQL expression: it has DISTINCT"},
		{"all", "ALL x", "is not one SQL expression: unexpected ALL"},
		{"list", "x, y", "is not one SQL expression: it is a list of 2 comma-separated expressions"},
		{"trailing comma", "x,", "syntax error at end of input"},
		{"unterminated literal", "'abc", "unterminated quoted string at or near \"'abc\" (at character 1)"},
		{"statement", "DROP TABLE x", `syntax error at or near "x" (at character 12)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := ParseExpr(tt.src)
			require.Error(t, err)
			assert.Nil(t, e)
			assert.Equal(t, tt.err, err.Error())
		})
	}
}

func TestRewriteColumnRefs(t *testing.T) {
	unqualify := func(p []string) []string {
		if len(p) == 3 && p[0] == "public" {
			return p[1:]
		}
		return nil
	}
	rename := func(from, to string) func([]string) []string {
		return func(p []string) []string {
			if p[len(p)-1] == from {
				p[len(p)-1] = to
				return p
			}
			return nil
		}
	}
	tests := []struct {
		name string
		src  string
		fn   func([]string) []string
		want string
	}{
		{"qualified to unqualified", "lower(public.accounts.email)", unqualify, "lower(accounts.email)"},
		{"inside subquery", "(SELECT max(x) FROM t WHERE t.id = public.accounts.id)", unqualify,
			"(SELECT max(x) FROM t WHERE t.id = accounts.id)"},
		{"rename everywhere", "CASE WHEN email IS NULL THEN lower(t.email)::text ELSE coalesce(email, 'x') END",
			rename("email", "email_address"),
			"CASE WHEN email_address IS NULL THEN lower(t.email_address)::text ELSE COALESCE(email_address, 'x') END"},
		{"rename needs quoting", "a + 1", rename("a", "Weird Name"), `"Weird Name" + 1`},
		{"rename to keyword", "a + 1", rename("a", "select"), `"select" + 1`},
		{"inside exists and any", "EXISTS (SELECT 1 FROM t WHERE t.a = ANY (ARRAY[b, c]))", rename("b", "bb"),
			"EXISTS (SELECT 1 FROM t WHERE t.a = ANY(ARRAY[bb, c]))"},
		{"unchanged", "a + b", func(p []string) []string { return p }, "a + b"},
		{"nil leaves it", "public.t.a", func([]string) []string { return nil }, "public.t.a"},
		{"star kept", "row(public.t.*)", unqualify, "ROW(t.*)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := ParseExpr(tt.src)
			require.NoError(t, err)
			before := e.SQL()
			got, err := e.RewriteColumnRefs(tt.fn)
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
			assert.Equal(t, before, e.SQL(), "the original expression is not modified")
		})
	}
}

func TestRewriteColumnRefsCallsFnForEveryRef(t *testing.T) {
	e, err := ParseExpr("f(a, (SELECT b FROM t WHERE c > d::int)) + e")
	require.NoError(t, err)
	var seen [][]string
	_, err = e.RewriteColumnRefs(func(p []string) []string {
		seen = append(seen, slices.Clone(p))
		return nil
	})
	require.NoError(t, err)
	assert.ElementsMatch(t, e.ColumnRefs(), seen)
	assert.Len(t, seen, 5)
}

func TestRewriteColumnRefsBad(t *testing.T) {
	e, err := ParseExpr("a + 1")
	require.NoError(t, err)
	for name, parts := range map[string][]string{
		"empty slice":   {},
		"empty part":    {""},
		"too many":      {"a", "b", "c", "d", "e"},
		"star not last": {"*", "a"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := e.RewriteColumnRefs(func([]string) []string { return parts })
			require.Error(t, err)
			assert.Contains(t, err.Error(), `cannot rewrite column reference "a"`)
		})
	}
}

func TestParseTypeGood(t *testing.T) {
	tests := []struct{ src, want string }{
		{"bigint", "bigint"},
		{"int", "int"},
		{"numeric(12,2)", "numeric(12, 2)"},
		{"varchar(20)[]", "varchar(20)[]"},
		{"timestamp with time zone", "timestamp with time zone"},
		{"double precision", "double precision"},
		{`"My Type"`, `"My Type"`},
		{"public.mytype", "public.mytype"},
		{"text[][]", "text[][]"},
		{"interval day to second", "interval day to second"},
		{"  jsonb -- comment", "jsonb"},
	}
	for _, tt := range tests {
		t.Run(tt.src, func(t *testing.T) {
			got, err := ParseType(tt.src)
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestParseTypeBad(t *testing.T) {
	tests := []struct{ src, err string }{
		{"", "is empty"},
		{"int; drop table x", "is not one SQL type name: it has 2 statements"},
		{"int;", `is not one SQL type name: it contains a ";" statement separator`},
		{"int) , (select 1", `syntax error at or near ")" (at character 4)`},
		{"int default 5", `syntax error at or near "5" (at character 13)`},
		{"int not null", `syntax error at or near "null" (at character 9)`},
		{"int IS NULL", "is not one SQL type name: it is more than a type name"},
		{`text COLLATE "C"`, "is not one SQL type name: it is more than a type name"},
		{"int::text", "is not one SQL type name: it is more than a type name"},
		{"int FROM t", "is not one SQL type name: it has a FROM clause"},
		{"int AS x", `is not one SQL type name: it has an alias (AS "x")`},
		{"int, 1", "is not one SQL type name: it is a list of 2 comma-separated expressions"},
		{"1", `syntax error at or near "1" (at character 1)`},
	}
	for _, tt := range tests {
		t.Run(tt.src, func(t *testing.T) {
			got, err := ParseType(tt.src)
			require.Error(t, err)
			assert.Empty(t, got)
			assert.Equal(t, tt.err, err.Error())
		})
	}
}

func TestParseQueryGood(t *testing.T) {
	for _, src := range []string{
		"SELECT 1",
		"SELECT count(*) FROM pg_stat_activity WHERE state = 'active'",
		"SELECT 1;",
		"select max(lag) from (select now() - pg_last_xact_replay_timestamp() as lag) s",
		"WITH a AS (SELECT 1 AS x) SELECT x FROM a",
		"SELECT x FROM a UNION ALL SELECT y FROM b",
		"VALUES (1)",
		"WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 3) SELECT sum(n) FROM r",
		"SELECT t.n FROM t ORDER BY 1 LIMIT 1",
	} {
		t.Run(src, func(t *testing.T) {
			assert.NoError(t, ParseQuery(src))
		})
	}
}

func TestParseQueryBad(t *testing.T) {
	tests := []struct{ src, err string }{
		{"", "is empty"},
		{"-- nothing", "has no SQL statement"},
		{"UPDATE t SET a = 1", "is not one SELECT query: it is an UPDATE"},
		{"DELETE FROM t", "is not one SELECT query: it is a DELETE"},
		{"DROP TABLE t", "is not one SELECT query: it is a DropStmt"},
		{"SELECT a FROM t FOR UPDATE", "is not one SELECT query: locking clauses (FOR UPDATE/SHARE) are not allowed"},
		{"SELECT (SELECT a FROM t FOR SHARE)", "is not one SELECT query: locking clauses (FOR UPDATE/SHARE) are not allowed"},
		{"SELECT 1 INTO t", "is not one SELECT query: SELECT INTO is not allowed"},
		{"WITH d AS (DELETE FROM t RETURNING 1) SELECT 1",
			`is not one SELECT query: WITH query "d" is a DELETE; only SELECT is allowed`},
		{"SELECT (WITH u AS (UPDATE t SET a = 1 RETURNING a) SELECT a FROM u)",
			`is not one SELECT query: WITH query "u" is an UPDATE; only SELECT is allowed`},
		{"SELECT a FROM t FOR NO KEY UPDATE SKIP LOCKED",
			"is not one SELECT query: locking clauses (FOR UPDATE/SHARE) are not allowed"},
		{"SELECT 1, 2", "must return exactly one column, it returns 2"},
		{"SELECT", "must return exactly one column, it returns 0"},
		{"SELECT * FROM t", "is not one SELECT query returning one column: * is not allowed, name the column"},
		{"VALUES (1, 2)", "must return exactly one column, it returns 2"},
		{"SELECT 1; SELECT 2", "is not one SELECT query: it has 2 statements"},
		{"SELECT 1; DROP TABLE t", "is not one SELECT query: it has 2 statements"},
		{"SELECT (1", "syntax error at end of input"},
	}
	for _, tt := range tests {
		t.Run(tt.src, func(t *testing.T) {
			err := ParseQuery(tt.src)
			require.Error(t, err)
			assert.Equal(t, tt.err, err.Error())
		})
	}
}
