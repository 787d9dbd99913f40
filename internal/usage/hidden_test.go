package usage

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zdmhq/zdm/internal/testenv"
	"github.com/zdmhq/zdm/internal/wire"
)

// superSQL runs SQL as the local cluster's superuser, as scripts/stack.sh does; the
// test is skipped where it cannot (not root, no local cluster).
func superSQL(t *testing.T, port, db, sql string) {
	t.Helper()
	cmd := exec.Command("runuser", "-u", "postgres", "--", "psql", "-XAtq", "-v", "ON_ERROR_STOP=1",
		"-h", "/var/run/postgresql", "-p", port, "-d", db, "-c", sql)
	cmd.Dir = "/"
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "psql as postgres: %s", out)
}

// A role without pg_read_all_stats sees other roles' statements as "<insufficient
// privilege>": zdm then says it cannot tell, with the grant that fixes it, at plan time
// and at every look.
func TestCheckCannotTellWhenOtherRolesStatementsAreHidden(t *testing.T) {
	dsn, pool := statDB(t)
	u, err := url.Parse(dsn)
	require.NoError(t, err)
	if os.Geteuid() != 0 || (u.Hostname() != "127.0.0.1" && u.Hostname() != "localhost") {
		t.Skip("needs the local cluster's superuser (runuser -u postgres) to create roles")
	}
	if _, err := exec.LookPath("runuser"); err != nil {
		t.Skip("no runuser")
	}
	port := u.Port()
	if port == "" {
		port = "5432"
	}
	db := strings.TrimPrefix(u.Path, "/")
	sfx := testenv.Suffix()
	app, watcher := "zdm_usage_app_"+sfx, "zdm_usage_watch_"+sfx
	superSQL(t, port, "postgres", fmt.Sprintf(`CREATE ROLE %s LOGIN PASSWORD 'pw'; CREATE ROLE %s LOGIN PASSWORD 'pw'`, app, watcher))
	t.Cleanup(func() {
		pool.Close()
		// The database first: the roles hold privileges in it.
		superSQL(t, port, "postgres", fmt.Sprintf(`DROP DATABASE IF EXISTS %s WITH (FORCE)`, pgx.Identifier{db}.Sanitize()))
		superSQL(t, port, "postgres", fmt.Sprintf(`DROP ROLE IF EXISTS %s`, app))
		superSQL(t, port, "postgres", fmt.Sprintf(`DROP ROLE IF EXISTS %s`, watcher))
	})
	ctx := context.Background()
	_, err = pool.Exec(ctx, fmt.Sprintf(`CREATE TABLE customers (id bigint PRIMARY KEY, name text);
		GRANT SELECT ON customers TO %s`, app))
	require.NoError(t, err)

	as := func(role string) *pgxpool.Pool {
		v := *u
		v.User = url.UserPassword(role, "pw")
		p, err := pgxpool.New(ctx, v.String())
		require.NoError(t, err)
		t.Cleanup(p.Close)
		return p
	}
	appPool := as(app)
	for i := 0; i < 50; i++ { // often enough not to be evicted from a full pg_stat_statements
		_, err = appPool.Exec(ctx, `SELECT name FROM customers WHERE id = $1`, i)
		require.NoError(t, err)
	}

	w := as(watcher)
	what, fix, _, err := Availability(ctx, w)
	require.NoError(t, err)
	assert.Equal(t, "role "+watcher+" may not read other roles' statements in pg_stat_statements", what)
	assert.Equal(t, "GRANT pg_read_all_stats TO "+pgx.Identifier{watcher}.Sanitize(), fix)

	res, err := Check(ctx, w, wire.UsageInput{Retired: []wire.Retired{{Schema: "public", Table: "customers", Column: "name"}}})
	require.NoError(t, err)
	assert.Contains(t, res.Unavailable, "cannot tell: role "+watcher+" may not read other roles' statements")
	assert.Empty(t, res.Findings, "it cannot see the old code, and does not pretend there is none")
}
