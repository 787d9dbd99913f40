package rehearse

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zdmhq/zdm/internal/demoapp"
	"github.com/zdmhq/zdm/internal/pgexec"
	"github.com/zdmhq/zdm/internal/spec"
	"github.com/zdmhq/zdm/internal/testenv"
)

func TestParseLoad(t *testing.T) {
	for in, want := range map[string]Load{
		"auto": {Mode: LoadAuto}, "": {Mode: LoadAuto}, "off": {Mode: LoadOff}, "0/s": {Mode: LoadOff},
		"200/s": {Mode: LoadFixed, Rate: 200}, "2.5/s": {Mode: LoadFixed, Rate: 2.5},
	} {
		got, err := ParseLoad(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, got, in)
	}
	for _, bad := range []string{"200", "fast", "-1/s", "1e9/s"} {
		_, err := ParseLoad(bad)
		assert.Error(t, err, bad)
	}
}

func TestBatchSpreadNarrowsWithSteadyBatches(t *testing.T) {
	steady := &Phase{batches: []batchTime{{1000, 100 * time.Millisecond}, {1000, 101 * time.Millisecond}, {1000, 99 * time.Millisecond}, {1000, 100 * time.Millisecond}}}
	noisy := &Phase{batches: []batchTime{{1000, 50 * time.Millisecond}, {1000, 150 * time.Millisecond}, {1000, 80 * time.Millisecond}, {1000, 120 * time.Millisecond}}}
	s, n := batchSpread([]*Phase{steady})
	assert.Equal(t, 4, n)
	v, _ := batchSpread([]*Phase{noisy})
	assert.Less(t, s, 0.02)
	assert.Greater(t, v, 0.2)
	_, n = batchSpread([]*Phase{{batches: []batchTime{{10, time.Millisecond}}}})
	assert.Equal(t, 1, n)
}

func TestSplitDumpDropsMetaCommandsAndComments(t *testing.T) {
	out := "--\n-- PostgreSQL database dump\n--\n\\restrict abc\nSET statement_timeout = 0;\nCREATE TABLE public.t (\n    id bigint NOT NULL,\n    note text DEFAULT 'a;b'::text\n);\n\n\\unrestrict abc\n"
	assert.Equal(t, []string{"SET statement_timeout = 0;", "CREATE TABLE public.t (\n    id bigint NOT NULL,\n    note text DEFAULT 'a;b'::text\n);"}, splitDump([]byte(out)))
}

// catalog describes tables as the catalog has them, in a form comparable between two
// databases: columns with types, defaults and nullability, indexes, constraints,
// triggers, policies and row-level security.
func catalog(t *testing.T, pool *pgxpool.Pool, tables ...string) []string {
	t.Helper()
	rows, err := pool.Query(context.Background(), `
		WITH t AS (SELECT c.oid, c.relname FROM pg_class c WHERE c.oid = ANY(SELECT to_regclass(x) FROM unnest($1::text[]) x))
		SELECT t.relname || ' column ' || a.attname || ' ' || format_type(a.atttypid, a.atttypmod) || ' notnull=' || a.attnotnull
			|| ' identity=' || a.attidentity::text || ' generated=' || a.attgenerated::text || ' default=' || coalesce(pg_get_expr(d.adbin, d.adrelid), '')
		FROM t JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum > 0 AND NOT a.attisdropped
		LEFT JOIN pg_attrdef d ON d.adrelid = t.oid AND d.adnum = a.attnum
		UNION ALL SELECT t.relname || ' index ' || pg_get_indexdef(i.indexrelid) FROM t JOIN pg_index i ON i.indrelid = t.oid
		UNION ALL SELECT t.relname || ' constraint ' || c.conname || ' ' || pg_get_constraintdef(c.oid) || ' valid=' || c.convalidated
			FROM t JOIN pg_constraint c ON c.conrelid = t.oid
		UNION ALL SELECT t.relname || ' trigger ' || pg_get_triggerdef(g.oid) FROM t JOIN pg_trigger g ON g.tgrelid = t.oid AND NOT g.tgisinternal
		UNION ALL SELECT t.relname || ' policy ' || p.polname || ' ' || coalesce(pg_get_expr(p.polqual, p.polrelid), '') FROM t JOIN pg_policy p ON p.polrelid = t.oid
		UNION ALL SELECT t.relname || ' rls=' || c.relrowsecurity FROM t JOIN pg_class c ON c.oid = t.oid
		ORDER BY 1`, tables)
	require.NoError(t, err)
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		require.NoError(t, rows.Scan(&s))
		out = append(out, s)
	}
	require.NoError(t, rows.Err())
	return out
}

// snapshot is the source's tables and rows, to show that a rehearsal changes nothing
// there: the catalog above and a digest of every row.
func snapshot(t *testing.T, pool *pgxpool.Pool, tables ...string) []string {
	t.Helper()
	out := catalog(t, pool, tables...)
	for _, tb := range tables {
		var digest string
		require.NoError(t, pool.QueryRow(context.Background(),
			`SELECT count(*) || ':' || coalesce(md5(string_agg(x::text, ',' ORDER BY x::text)), '') FROM `+quoteTable(tb)+` x`).Scan(&digest))
		out = append(out, tb+" rows "+digest)
	}
	var zdmTables []string
	rows, err := pool.Query(context.Background(), `SELECT relname FROM pg_class WHERE relnamespace = to_regnamespace('zdm') ORDER BY 1`)
	require.NoError(t, err)
	for rows.Next() {
		var s string
		require.NoError(t, rows.Scan(&s))
		zdmTables = append(zdmTables, s)
	}
	return append(out, "zdm schema: "+strings.Join(zdmTables, ","))
}

const richSchema = `
CREATE TYPE tier AS ENUM ('free', 'pro', 'team');
CREATE DOMAIN positive_cents AS bigint CHECK (VALUE >= 0);
CREATE TABLE accounts (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, name text NOT NULL);
CREATE TABLE orders (
	id bigserial PRIMARY KEY,
	account_id bigint NOT NULL REFERENCES accounts (id),
	tier tier NOT NULL DEFAULT 'free',
	total positive_cents NOT NULL DEFAULT 0,
	code text NOT NULL,
	note text,
	created_at timestamptz NOT NULL DEFAULT now(),
	doubled bigint GENERATED ALWAYS AS (total * 2) STORED,
	CONSTRAINT code_short CHECK (length(code) < 40)
);
CREATE UNIQUE INDEX orders_code ON orders (code);
CREATE INDEX orders_account ON orders (account_id, created_at DESC);
CREATE INDEX orders_pro ON orders (total) WHERE tier = 'pro';
ALTER TABLE orders ENABLE ROW LEVEL SECURITY;
CREATE POLICY own_orders ON orders USING (account_id > 0);
INSERT INTO accounts (name) SELECT 'a' || n FROM generate_series(1, 50) n;
INSERT INTO orders (account_id, tier, total, code, note)
	SELECT 1 + n % 50, (ARRAY['free', 'pro', 'team']::tier[])[1 + n % 3], n, 'c' || n, CASE WHEN n % 2 = 0 THEN 'x' END
	FROM generate_series(1, 20000) n;
ANALYZE orders;
`

// The copy has the source's columns (types from enums and domains, defaults, identity,
// generated columns), indexes, constraints, policies and row-level security; its
// sequences run past the copied keys; a sample copies about its share of the rows; and
// the source is left as it was.
func TestCopyMatchesTheSource(t *testing.T) {
	srcDSN, src := testenv.DB(t, "zdm_rehearse_src")
	_, dst := testenv.DB(t, "zdm_rehearse_scratch")
	ctx := context.Background()
	_, err := src.Exec(ctx, richSchema)
	require.NoError(t, err)
	before := snapshot(t, src, "public.accounts", "public.orders")

	m, err := spec.Parse("orders.yaml", []byte(`name: orders-note
table: public.orders
operations:
  - add_column: {column: note_upper, type: text, backfill: "upper(note)"}
`))
	require.NoError(t, err)
	r := &rehearsal{src: src, dst: dst, m: m, opts: Options{SourceDSN: srcDSN, Sample: 20}, rep: &Report{}}
	require.NoError(t, r.copy(ctx))

	// The foreign key to accounts, a table the migration does not name and which is
	// not copied, is left out, and said so; everything else is the source's.
	var want []string
	for _, line := range catalog(t, src, "public.orders") {
		if !strings.Contains(line, "orders_account_id_fkey") {
			want = append(want, line)
		}
	}
	assert.Equal(t, want, catalog(t, dst, "public.orders"), "the copy's schema is the source's")
	require.Len(t, r.rep.Copied, 1)
	c := r.rep.Copied[0]
	assert.True(t, c.Sampled)
	assert.Equal(t, int64(20000), c.SourceRows)
	assert.InDelta(t, 4000, c.CopiedRows, 2500, "about a fifth of the rows")
	var copied int64
	require.NoError(t, dst.QueryRow(ctx, `SELECT count(*) FROM orders`).Scan(&copied))
	assert.Equal(t, c.CopiedRows, copied)

	assert.Contains(t, strings.Join(r.rep.Notes, "\n"), "orders_account_id_fkey")

	// New rows get keys past every copied one.
	var next, maxID int64
	require.NoError(t, dst.QueryRow(ctx, `SELECT nextval('orders_id_seq'), (SELECT max(id) FROM orders)`).Scan(&next, &maxID))
	assert.Greater(t, next, maxID)
	assert.Greater(t, next, int64(20000), "past the source's sequence too")

	assert.Equal(t, before, snapshot(t, src, "public.accounts", "public.orders"), "the source is untouched")
}

// A rehearsal runs the whole migration on the copy under a write load, and reports every
// phase with a prediction for the whole table; the source is untouched.
func TestRehearsalRunsTheMigrationOnTheCopy(t *testing.T) {
	srcDSN, src := testenv.DB(t, "zdm_rehearse_src")
	_, dst := testenv.DB(t, "zdm_rehearse_scratch")
	ctx := context.Background()
	require.NoError(t, demoapp.Seed(ctx, src, "public.customers", 50000))
	before := snapshot(t, src, "public.customers")

	m, err := spec.ParseFile(demoMigration(t))
	require.NoError(t, err)
	rep, err := Run(ctx, src, dst, m, Options{SourceDSN: srcDSN, Sample: 20, Load: Load{Mode: LoadFixed, Rate: 500}, LoadWindow: time.Second, Keep: true})
	require.NoError(t, err)
	require.True(t, rep.Success, rep.Error)

	var names []string
	for _, ph := range rep.Phases {
		names = append(names, ph.Name)
		assert.Greater(t, ph.Seconds, 0.0, ph.Name)
	}
	assert.Equal(t, []string{"prepare", "expand", "backfill", "verify", "validate", "contract"}, names)
	bf := rep.Phases[2]
	// The load may insert rows too (the seed's inserts can fall in the sampled window).
	assert.GreaterOrEqual(t, bf.Rows, rep.Copied[0].CopiedRows, "the backfill filled every copied row")
	assert.Greater(t, bf.RowsPerSecond, 0.0)
	assert.Greater(t, bf.WALBytes, int64(0))
	assert.Greater(t, bf.TableBytesAfter, bf.TableBytesBefore, "the backfill writes new row versions")
	assert.InDelta(t, 50000/float64(rep.Copied[0].CopiedRows), rep.RowRatio, 0.01)
	assert.Greater(t, rep.PredictedSeconds, rep.MeasuredSeconds, "a fifth of the rows: the whole table takes longer")
	assert.Greater(t, rep.MarginSeconds, 0.0)
	var writes int
	for _, ph := range rep.Phases {
		if ph.Load != nil {
			writes += ph.Load.Writes
			assert.Zero(t, ph.Load.Errors, "%s: %s", ph.Name, ph.Load.LastError)
		}
	}
	assert.Greater(t, writes, 0, "the load wrote during the migration")
	// The source's rate is replayed on the share of rows copied: each row is written as
	// often as on the source.
	require.Len(t, rep.Load, 1)
	share := float64(rep.Copied[0].CopiedRows) / float64(rep.Copied[0].SourceRows)
	assert.InDelta(t, 500*share, rep.Load[0].Inserts+rep.Load[0].Updates+rep.Load[0].Deletes, 0.5)
	assert.Contains(t, strings.Join(rep.Notes, "\n"), "so each row is written as often as on the source")

	// The migration is applied on the copy: renamed, the new column filled and NOT NULL.
	var hasName, hasFull bool
	var nullable string
	require.NoError(t, dst.QueryRow(ctx, `SELECT
		EXISTS (SELECT FROM information_schema.columns WHERE table_name = 'customers' AND column_name = 'name'),
		EXISTS (SELECT FROM information_schema.columns WHERE table_name = 'customers' AND column_name = 'full_name'),
		(SELECT is_nullable FROM information_schema.columns WHERE table_name = 'customers' AND column_name = 'email_lower')`).Scan(&hasName, &hasFull, &nullable))
	assert.False(t, hasName)
	assert.True(t, hasFull)
	assert.Equal(t, "NO", nullable)
	var wrong int64
	require.NoError(t, dst.QueryRow(ctx, `SELECT count(*) FROM customers WHERE email_lower IS DISTINCT FROM lower(email)`).Scan(&wrong))
	assert.Zero(t, wrong)

	assert.Equal(t, before, snapshot(t, src, "public.customers"), "the source is untouched")
}

func TestRehearsalRefusesTheSourceAsScratch(t *testing.T) {
	dsn, src := testenv.DB(t, "zdm_rehearse_src")
	require.NoError(t, demoapp.Seed(context.Background(), src, "public.customers", 100))
	m, err := spec.ParseFile(demoMigration(t))
	require.NoError(t, err)
	other, err := pgxpool.New(context.Background(), dsn)
	require.NoError(t, err)
	defer other.Close()
	_, err = Run(context.Background(), src, other, m, Options{SourceDSN: dsn, Sample: 10})
	require.ErrorIs(t, err, ErrSameDatabase)
	assert.Contains(t, err.Error(), "fix:")
}

func demoMigration(t testing.TB) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	p := filepath.Join(filepath.Dir(file), "..", "..", "examples", "customers-full-name.yaml")
	_, err := os.Stat(p)
	require.NoError(t, err)
	return p
}

func TestPredictionAndSummaryRead(t *testing.T) {
	assert.Equal(t, "31 s ± 4 s", Prediction(31.2, 3.7))
	assert.Equal(t, "1.28 s ± 0.42 s", Prediction(1.28, 0.42))
	assert.Equal(t, "19 s", Prediction(19.1, 0))
	assert.Equal(t, "never rehearsed (zdm rehearse -f FILE tries it on a copy and predicts its duration)", Summary(nil, 0))
	p, mg := 31.2, 3.7
	assert.Equal(t, "rehearsed 2h00m ago on a 10% sample: predicted 31 s ± 4 s",
		Summary(&pgexec.Rehearsal{Sample: 10, Success: true, PredictedSeconds: &p, MarginSeconds: &mg}, 2*time.Hour))
	assert.Equal(t, "rehearsed 5m00s ago on the whole table: FAILED: verification found 3 row(s)",
		Summary(&pgexec.Rehearsal{Sample: 100, Error: "verification found 3 row(s)"}, 5*time.Minute))
}

func TestWhatTheCopyMayLeaveOut(t *testing.T) {
	for stmt, may := range map[string]bool{
		"GRANT SELECT ON TABLE public.t TO reporting;":                                                    true,
		"CREATE TRIGGER audit AFTER UPDATE ON public.t FOR EACH ROW EXECUTE FUNCTION public.audit();":     true,
		"CREATE POLICY own ON public.t USING ((owner = CURRENT_USER));":                                   true,
		"ALTER TABLE ONLY public.t\n    ADD CONSTRAINT t_a_fkey FOREIGN KEY (a) REFERENCES public.p(id);": true,
		"ALTER TABLE ONLY public.t\n    ADD CONSTRAINT t_pkey PRIMARY KEY (id);":                          false,
		"CREATE TABLE public.t (\n    id bigint NOT NULL\n);":                                             false,
		"CREATE UNIQUE INDEX t_code ON public.t USING btree (code);":                                      false,
		"ALTER TABLE ONLY public.t\n    ADD CONSTRAINT t_check CHECK ((a > 0)) NOT VALID;":                false,
	} {
		assert.Equal(t, may, optional(stmt), stmt)
	}
}

func TestSSLModeOfBothForms(t *testing.T) {
	assert.Equal(t, "require", sslMode("postgres://u:p@h:5432/db?sslmode=require"))
	assert.Equal(t, "disable", sslMode("host=h user=u sslmode=disable dbname=db"))
	assert.Equal(t, "", sslMode("postgres://u@h/db"))
	env, err := dumpEnv("postgres://u:secret@h:6543/db?sslmode=verify-full")
	require.NoError(t, err)
	assert.Contains(t, env, "PGPASSWORD=secret")
	assert.Contains(t, env, "PGPORT=6543")
	assert.Contains(t, env, "PGSSLMODE=verify-full")
}
