package activities

import (
	"context"
	"net/url"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"

	"github.com/zdmhq/zdm/internal/spec"
	"github.com/zdmhq/zdm/internal/testenv"
)

// bareDB is a database made from template0: no pg_stat_statements in it.
func bareDB(t *testing.T) *pgxpool.Pool {
	t.Helper()
	testenv.Need(t, "DATABASE_URL")
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, os.Getenv("DATABASE_URL"))
	require.NoError(t, err)
	name := pgx.Identifier{"zdm_act_bare_" + testenv.Suffix()}
	_, err = admin.Exec(ctx, "CREATE DATABASE "+name.Sanitize()+" TEMPLATE template0")
	require.NoError(t, err)
	u, err := url.Parse(os.Getenv("DATABASE_URL"))
	require.NoError(t, err)
	u.Path = "/" + name[0]
	pool, err := pgxpool.New(ctx, u.String())
	require.NoError(t, err)
	t.Cleanup(func() {
		pool.Close()
		_, _ = admin.Exec(context.Background(), "DROP DATABASE IF EXISTS "+name.Sanitize()+" WITH (FORCE)")
		_ = admin.Close(context.Background())
	})
	return pool
}

// A file requiring no old usage before contract, in a database where zdm cannot see
// what runs, is refused at plan time (its gate could never open); without the field
// the same migration plans.
func TestRequiringNoOldUsageWithoutPgStatStatementsIsRefusedAtPlan(t *testing.T) {
	ctx := context.Background()
	pool := bareDB(t)
	_, err := pool.Exec(ctx, `CREATE TABLE customers (id bigint PRIMARY KEY, name text, email text)`)
	require.NoError(t, err)
	const file = "name: rename-name\ntable: customers\noperations:\n  - rename_column: {column: name, to: full_name}\n"

	m, err := spec.Parse("m.yaml", []byte(file+"contract_requires_no_old_usage: true\n"))
	require.NoError(t, err)
	_, err = Plan(ctx, &Activities{DB: pool}, m, false)
	var app *temporal.ApplicationError
	require.ErrorAs(t, err, &app)
	assert.Equal(t, ErrInvalidMigration, app.Type())
	assert.Contains(t, app.Message(), `m.yaml:5: contract_requires_no_old_usage: zdm cannot tell whether old code still uses what contract retires: pg_stat_statements is not available: the extension is not installed in database "zdm_act_bare_`)
	assert.Contains(t, app.Message(), "(fix: add pg_stat_statements to shared_preload_libraries in postgresql.conf, restart PostgreSQL, then run CREATE EXTENSION pg_stat_statements in this database as a superuser; or remove contract_requires_no_old_usage)")

	m, err = spec.Parse("m.yaml", []byte(file))
	require.NoError(t, err)
	_, err = Plan(ctx, &Activities{DB: pool}, m, false)
	require.NoError(t, err)
}
