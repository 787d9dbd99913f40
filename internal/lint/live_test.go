package lint

import (
	"context"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zdmhq/zdm/internal/testenv"
)

func exec(t *testing.T, pool *pgxpool.Pool, sql string) {
	t.Helper()
	_, err := pool.Exec(context.Background(), sql)
	require.NoError(t, err, sql)
}

// TestLiveTables lints against a database holding a big table (300,000 rows) and a
// small one (100 rows).
func TestLiveTables(t *testing.T) {
	_, pool := testenv.DB(t, "zdm_lint")
	exec(t, pool, `CREATE TABLE big AS SELECT g::bigint AS id, md5(g::text) AS payload, g::int AS n, 'x'::varchar(10) AS code
		FROM generate_series(1, 300000) g`)
	exec(t, pool, `ALTER TABLE big ADD PRIMARY KEY (id)`)
	exec(t, pool, `CREATE TABLE small (id bigint PRIMARY KEY, email text, code varchar(10), amount numeric(10,2),
		CONSTRAINT small_email_nn CHECK (email IS NOT NULL))`)
	exec(t, pool, `INSERT INTO small SELECT g, 'a@b', 'c', 1 FROM generate_series(1, 100) g`)
	exec(t, pool, `ANALYZE big; ANALYZE small`)

	src := `SET lock_timeout = '1s';
ALTER TABLE big ALTER COLUMN n TYPE bigint;
ALTER TABLE big ALTER COLUMN code TYPE varchar(20);
ALTER TABLE big ALTER COLUMN code TYPE varchar(5);
ALTER TABLE small ALTER COLUMN id TYPE int;
ALTER TABLE small ALTER COLUMN email SET NOT NULL;
ALTER TABLE big ALTER COLUMN payload SET NOT NULL;
CREATE INDEX IF NOT EXISTS big_n ON big (n);
CREATE INDEX IF NOT EXISTS small_code ON small (code);
ALTER TABLE small ALTER COLUMN amount TYPE numeric(12,2);
ALTER TABLE small ALTER COLUMN code TYPE text;
ALTER TABLE small RENAME COLUMN code TO kind;
`
	res, err := Lint(context.Background(), []Source{{Name: "m.sql", SQL: src}}, Options{Config: DefaultConfig(), DB: pool})
	require.NoError(t, err)
	t.Logf("throughput: %s", res.Throughput)
	assert.Contains(t, res.Throughput, "with TABLESAMPLE SYSTEM")
	assert.Contains(t, res.Throughput, "of big")

	var got []string
	for _, f := range res.Findings {
		got = append(got, fmt.Sprintf("%d %s %s", f.Line, f.Level, f.Rule))
	}
	assert.Equal(t, []string{
		"2 error alter-column-type-rewrite", // int -> bigint, from the catalog
		"3 warning prefer-text",             // but no rewrite: varchar(10) -> varchar(20)
		"4 warning prefer-text",
		"4 error alter-column-type-rewrite", // varchar(10) -> varchar(5)
		"5 info alter-column-type-rewrite",  // rewrites, but 100 rows
		"7 error set-not-null-scan",         // no check on payload
		"8 error index-not-concurrently",
		"9 info index-not-concurrently",
		"12 error rename-column", // breaks old code whatever the size
	}, got)

	big := res.Findings[0]
	require.NotNil(t, big.Live)
	assert.InDelta(t, 300000, big.Live.Rows, 1000)
	assert.Greater(t, big.Live.Bytes, int64(10<<20))
	assert.True(t, big.Live.Rewrites)
	assert.Greater(t, big.Live.LockEstimate.Nanoseconds(), int64(0))
	assert.Contains(t, big.Message, "from integer to bigint")
	t.Logf("big: %s; %s", liveText(big.Live), big.Message)

	small := res.Findings[4]
	require.NotNil(t, small.Live)
	assert.EqualValues(t, 100, small.Live.Rows)
	assert.Equal(t, "harmless here: 100 rows", small.Note)
	assert.Equal(t, "harmless here: 100 rows", res.Findings[7].Note)
	assert.Equal(t, "small_code", res.Findings[7].Statement[27:37])

	// A lower threshold makes the small table count.
	cfg := DefaultConfig()
	cfg.SmallTable.Rows = 50
	res, err = Lint(context.Background(), []Source{{Name: "m.sql", SQL: "SET lock_timeout = '1s';\nALTER TABLE small ALTER COLUMN id TYPE int;"}}, Options{Config: cfg, DB: pool})
	require.NoError(t, err)
	require.Len(t, res.Findings, 1)
	assert.Equal(t, Error, res.Findings[0].Level)
	assert.Empty(t, res.Findings[0].Note)
}

// TestRewritePremisesOnServer checks what the rules assume against the server itself:
// a statement rewrites the table exactly when its relfilenode changes.
func TestRewritePremisesOnServer(t *testing.T) {
	_, pool := testenv.DB(t, "zdm_lint")
	ctx := context.Background()
	types := []struct{ from, to string }{
		{"int", "bigint"}, {"varchar(10)", "varchar(20)"}, {"varchar(10)", "text"}, {"varchar(20)", "varchar(10)"},
		{"text", "varchar(10)"}, {"numeric(10,2)", "numeric(12,2)"}, {"numeric(10,2)", "numeric"}, {"numeric(10,2)", "numeric(12,3)"},
		{"timestamp(3)", "timestamp(6)"}, {"timestamp(6)", "timestamp(3)"}, {"cidr", "inet"}, {"int", "text"},
	}
	filenode := func(table string) int64 {
		var n int64
		require.NoError(t, pool.QueryRow(ctx, "SELECT relfilenode::bigint FROM pg_class WHERE oid = $1::regclass", table).Scan(&n))
		return n
	}
	for i, c := range types {
		table := fmt.Sprintf("t%d", i)
		exec(t, pool, fmt.Sprintf("CREATE TABLE %s (c %s)", table, c.from))
		before := filenode(table)
		exec(t, pool, fmt.Sprintf("ALTER TABLE %s ALTER COLUMN c TYPE %s", table, c.to))
		rewrote := filenode(table) != before
		assert.Equal(t, rewrote, rewrites(parseType(t, c.from), parseType(t, c.to)), "%s -> %s: server rewrote=%v", c.from, c.to, rewrote)
	}
	defaults := []struct {
		def      string
		volatile bool
	}{{"now()", false}, {"CURRENT_TIMESTAMP", false}, {"'x'", false}, {"gen_random_uuid()::text", true}, {"clock_timestamp()::text", true}, {"random()::text", true}}
	exec(t, pool, "CREATE TABLE d (id int); INSERT INTO d VALUES (1)")
	for i, d := range defaults {
		before := filenode("d")
		exec(t, pool, fmt.Sprintf("ALTER TABLE d ADD COLUMN c%d text DEFAULT %s", i, d.def))
		rewrote := filenode("d") != before
		assert.Equal(t, d.volatile, rewrote, "DEFAULT %s: server rewrote=%v", d.def, rewrote)
		fs := byRule(run(t, fmt.Sprintf("ALTER TABLE d ADD COLUMN c text DEFAULT %s;", d.def)), "add-column-volatile-default")
		assert.Equal(t, d.volatile, len(fs) == 1, "DEFAULT %s: lint", d.def)
	}
}

// A brief catalog change on the big table carries its size but no lock estimate.
func TestLiveBriefLockHasNoEstimate(t *testing.T) {
	_, pool := testenv.DB(t, "zdm_lint")
	exec(t, pool, `CREATE TABLE big AS SELECT g::bigint AS id, md5(g::text) AS payload FROM generate_series(1, 100000) g; ANALYZE big`)
	res, err := Lint(context.Background(), []Source{{Name: "m.sql", SQL: "ALTER TABLE big RENAME COLUMN payload TO body;\nCREATE INDEX IF NOT EXISTS big_body ON big (body);"}}, Options{Config: DefaultConfig(), DB: pool})
	require.NoError(t, err)
	require.Len(t, res.Findings, 4)
	for _, f := range res.Findings {
		require.NotNil(t, f.Live, f.Rule)
		assert.InDelta(t, 100000, f.Live.Rows, 1000)
		if f.Rule == "index-not-concurrently" {
			assert.Positive(t, f.Live.LockEstimate.Nanoseconds(), f.Rule)
		} else {
			assert.Zero(t, f.Live.LockEstimate, f.Rule)
		}
	}
}
