package usage

import (
	"context"
	"net/url"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zdmhq/zdm/internal/plan"
	"github.com/zdmhq/zdm/internal/testenv"
	"github.com/zdmhq/zdm/internal/wire"
)

// statDB is a test database with pg_stat_statements (make up installs it in template1
// of the cluster it manages).
func statDB(t *testing.T) (string, *pgxpool.Pool) {
	t.Helper()
	dsn, pool := testenv.DB(t, "zdm_usage")
	reason, _, err := Available(context.Background(), pool)
	require.NoError(t, err)
	if reason != "" {
		testenv.Missing(t, "pg_stat_statements in the test cluster (scripts/stack.sh pg-ensure sets it up): "+reason)
	}
	return dsn, pool
}

func connectAs(t *testing.T, dsn, app string) *pgx.Conn {
	t.Helper()
	cfg, err := pgx.ParseConfig(dsn)
	require.NoError(t, err)
	cfg.RuntimeParams["application_name"] = app
	conn, err := pgx.ConnectConfig(context.Background(), cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	return conn
}

func TestCheckFindsOldCodeWhoseCallsRoseAndNamesWhereItRuns(t *testing.T) {
	ctx := context.Background()
	dsn, pool := statDB(t)
	_, err := pool.Exec(ctx, `CREATE TABLE customers (id bigint PRIMARY KEY, name text, full_name text, email text);
		INSERT INTO customers SELECT g, 'n' || g, 'n' || g, 'e' || g FROM generate_series(1, 10) g`)
	require.NoError(t, err)
	p := &plan.Plan{Schema: "public", Table: "customers",
		Ops:      []plan.Op{{Kind: "rename_column", Old: "name", New: "full_name", Final: "full_name"}},
		Contract: []plan.Statement{{ID: "c", SQL: `ALTER TABLE "public"."customers" DROP COLUMN "name"`}}}

	oldApp := connectAs(t, dsn, "billing-cron")
	newApp := connectAs(t, dsn, "web")
	worker := connectAs(t, dsn, WorkerApplication)
	oldRead := func() {
		var s string
		require.NoError(t, oldApp.QueryRow(ctx, `SELECT name FROM customers WHERE id = $1`, 3).Scan(&s))
	}
	for i := 0; i < 10; i++ {
		oldRead() // before the soak: counted, not reported
	}
	first, err := Check(ctx, pool, wire.UsageInput{Plan: p, Snapshot: true})
	require.NoError(t, err)
	assert.Empty(t, first.Unavailable)
	assert.Equal(t, []wire.Retired{{Schema: "public", Table: "customers", Column: "name", How: "column dropped", Replacement: "full_name"}}, first.Retired)
	assert.Empty(t, first.Findings, "a count finds nothing")
	require.Len(t, first.Counts, 1)

	// During the soak: old code reads and writes name; new code under dual_write
	// writes both names; zdm's backfill does too. Only the old code counts.
	// Many calls each: a full pg_stat_statements (make test's parallel databases fill
	// it) evicts the least used entries first.
	for i := 0; i < 30; i++ {
		oldRead()
	}
	for i := 0; i < 20; i++ {
		_, err = oldApp.Exec(ctx, `UPDATE customers SET name = $1 WHERE id = $2`, "x", 4)
		require.NoError(t, err)
	}
	_, err = newApp.Exec(ctx, `UPDATE customers SET name = $1, full_name = $1 WHERE id = $2`, "y", 5)
	require.NoError(t, err)
	_, err = worker.Exec(ctx, `UPDATE "public"."customers" SET "full_name" = "name" WHERE ("id") > ($1::text::bigint)`, "0")
	require.NoError(t, err)
	_, err = newApp.Exec(ctx, `SELECT full_name FROM customers WHERE id = $1`, 1)
	require.NoError(t, err)

	second, err := Check(ctx, pool, wire.UsageInput{Retired: first.Retired, Since: first.Counts})
	require.NoError(t, err)
	require.Len(t, second.Findings, 2, "%+v", second.Findings)
	byQuery := map[string]wire.UsageFinding{}
	for _, f := range second.Findings {
		byQuery[f.Query] = f
	}
	read := byQuery["SELECT name FROM customers WHERE id = $1"]
	assert.Equal(t, int64(30), read.Rose, "calls since the count, not since the server started")
	assert.Equal(t, []string{"public.customers.name (read)"}, read.Names)
	me := scalar[string](t, pool, `SELECT current_user`)
	assert.Equal(t, me, read.User)
	assert.Empty(t, read.Clients, "pg_stat_activity shows each connection's last statement only, which was the UPDATE")
	write := byQuery["UPDATE customers SET name = $1 WHERE id = $2"]
	assert.Equal(t, int64(20), write.Rose)
	assert.Equal(t, []string{"public.customers.name (write)"}, write.Names)
	assert.Equal(t, []string{"billing-cron from " + host(t, dsn) + " as " + me}, write.Clients,
		"the connection whose last statement it was")

	// Once old code stops, nothing rose.
	third, err := Check(ctx, pool, wire.UsageInput{Retired: first.Retired, Since: second.Counts})
	require.NoError(t, err)
	assert.Empty(t, third.Findings)
	assert.Empty(t, third.Unavailable)
}

// Old code that had not run when the soak started is new at the next look: all its
// calls count.
func TestCheckCountsOldCodeThatStartedDuringTheSoak(t *testing.T) {
	ctx := context.Background()
	dsn, pool := statDB(t)
	_, err := pool.Exec(ctx, `CREATE TABLE accounts (id bigint PRIMARY KEY, note text)`)
	require.NoError(t, err)
	retired := []wire.Retired{{Schema: "public", Table: "accounts", Column: "note", How: "column dropped"}}
	first, err := Check(ctx, pool, wire.UsageInput{Retired: retired, Snapshot: true})
	require.NoError(t, err)
	require.Empty(t, first.Counts, "nothing names accounts.note yet")

	job := connectAs(t, dsn, "nightly-export")
	for i := 0; i < 12; i++ {
		_, err := job.Exec(ctx, `SELECT id, note FROM accounts WHERE id > $1`, i)
		require.NoError(t, err)
	}
	second, err := Check(ctx, pool, wire.UsageInput{Retired: retired, Since: first.Counts})
	require.NoError(t, err)
	require.Len(t, second.Findings, 1)
	assert.Equal(t, "SELECT id, note FROM accounts WHERE id > $1", second.Findings[0].Query)
	assert.Equal(t, int64(12), second.Findings[0].Rose)
	assert.Equal(t, []string{"public.accounts.note (read)"}, second.Findings[0].Names)
}

func TestCheckSaysItCannotTellWithoutTheExtension(t *testing.T) {
	testenv.Need(t, "DATABASE_URL")
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, os.Getenv("DATABASE_URL"))
	require.NoError(t, err)
	name := "zdm_usage_bare_" + testenv.Suffix()
	_, err = admin.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()+" TEMPLATE template0")
	require.NoError(t, err)
	t.Cleanup(func() {
		_, err := admin.Exec(context.Background(), "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)")
		assert.NoError(t, err)
		_ = admin.Close(context.Background())
	})
	u, err := url.Parse(os.Getenv("DATABASE_URL"))
	require.NoError(t, err)
	u.Path = "/" + name
	pool, err := pgxpool.New(ctx, u.String())
	require.NoError(t, err)
	t.Cleanup(pool.Close)

	res, err := Check(ctx, pool, wire.UsageInput{Retired: []wire.Retired{{Schema: "public", Table: "customers", Column: "name"}}})
	require.NoError(t, err)
	assert.Equal(t, `cannot tell: pg_stat_statements is not available: the extension is not installed in database "`+name+`" (fix: `+FixInstall+`)`, res.Unavailable)
	assert.Empty(t, res.Findings)
	assert.Empty(t, res.Counts)
}

func scalar[T any](t *testing.T, pool *pgxpool.Pool, sql string) T {
	t.Helper()
	var v T
	require.NoError(t, pool.QueryRow(context.Background(), sql).Scan(&v))
	return v
}

// host is the client address the server sees for dsn's connections.
func host(t *testing.T, dsn string) string {
	t.Helper()
	cfg, err := pgx.ParseConfig(dsn)
	require.NoError(t, err)
	if cfg.Host == "" || cfg.Host[0] == '/' {
		return "local socket"
	}
	return cfg.Host
}
