package stackcheck

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zdmhq/zdm/internal/testenv"
)

// zdm looks at pg_stat_statements before contract: the cluster stack.sh manages loads
// it, and the databases it creates (and every test database, through template1) have
// the extension. A cluster that already loads it is not restarted again.
func TestPgEnsureGivesTheClusterPgStatStatements(t *testing.T) {
	t.Parallel()
	c := needCluster(t)
	sfx := testenv.Suffix()
	app, appDB := "zdm_stackcheck_pgss_"+sfx, "zdm_stackcheck_pgss_db_"+sfx
	c.throwaway(app, appDB)
	appURL := c.url(app, "app-"+sfx, appDB)

	code, out := pgEnsure(t, appURL, appURL)
	require.Zero(t, code, out)
	assert.Contains(t, out, "pg_stat_statements: loaded; extension in template1 and in database "+appDB)
	assert.NotContains(t, out, "restart", "the cluster already loaded it: no restart")
	assert.Contains(t, c.sql(`SHOW shared_preload_libraries`), "pg_stat_statements")

	ctx := context.Background()
	conn, err := pgx.Connect(ctx, appURL)
	require.NoError(t, err)
	defer conn.Close(ctx)
	var n int64
	require.NoError(t, conn.QueryRow(ctx, `SELECT count(*) FROM pg_stat_statements`).Scan(&n),
		"the database stack.sh created can read pg_stat_statements")
}
