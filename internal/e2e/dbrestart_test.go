package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zdmhq/zdm/internal/testenv"
	"github.com/zdmhq/zdm/workflows"
)

// privatePostgres is a PostgreSQL server of this test's own, which it may restart
// without disturbing the other tests.
type privatePostgres struct {
	t    *testing.T
	bin  string
	dir  string
	port int
}

func startPrivatePostgres(t *testing.T) *privatePostgres {
	t.Helper()
	testenv.Need(t)
	bin := "/usr/lib/postgresql/15/bin"
	pgUser, err := user.Lookup("postgres")
	if _, statErr := os.Stat(filepath.Join(bin, "initdb")); statErr != nil || err != nil || os.Geteuid() != 0 {
		testenv.Missing(t, "PostgreSQL 15 server binaries and root (to run them as user postgres)")
	}
	dir, err := os.MkdirTemp("", "zdm-e2e-pg-")
	require.NoError(t, err)
	uid, _ := strconv.Atoi(pgUser.Uid)
	gid, _ := strconv.Atoi(pgUser.Gid)
	require.NoError(t, os.Chown(dir, uid, gid))
	pg := &privatePostgres{t: t, bin: bin, dir: dir, port: freePort(t)}
	pg.run("initdb", "-D", filepath.Join(dir, "data"), "-A", "trust", "-U", "postgres", "--no-sync", "--locale", "C.UTF-8")
	pg.ctl("start")
	t.Cleanup(func() {
		_ = exec.Command("runuser", "-u", "postgres", "--", filepath.Join(bin, "pg_ctl"), "-D", filepath.Join(dir, "data"), "-m", "immediate", "stop").Run()
		_ = os.RemoveAll(dir)
	})
	return pg
}

func (pg *privatePostgres) run(tool string, args ...string) {
	pg.t.Helper()
	cmd := exec.Command("runuser", append([]string{"-u", "postgres", "--", filepath.Join(pg.bin, tool)}, args...)...)
	out, err := cmd.CombinedOutput()
	require.NoError(pg.t, err, "%s: %s", tool, out)
}

func (pg *privatePostgres) ctl(action string) {
	pg.t.Helper()
	pg.run("pg_ctl", "-D", filepath.Join(pg.dir, "data"), "-w", "-m", "fast", "-l", filepath.Join(pg.dir, "log"),
		"-o", fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1", pg.port, pg.dir), action)
}

func (pg *privatePostgres) dsn() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", pg.port)
}

// The database restarting in the middle of the backfill costs a retried slice, nothing
// more: the migration finishes, every row counted once.
func TestDatabaseRestartMidBackfill(t *testing.T) {
	t.Parallel()
	pg := startPrivatePostgres(t)
	pool, err := pgxpool.New(context.Background(), pg.dsn())
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	srv := startDevServer(t)
	queue := "zdm-e2e-" + randomSuffix()
	inProcessWorker(t, srv.Client, queue, pg.dsn(), false)
	const rows = 300_000
	accountsTable(t, pool, rows)

	m := migration(t, `name: e2e-db-restart
table: accounts
operations:
  - add_column: {column: email_lower, type: text, backfill: "lower(email)", not_null: true, default: "''"}
backfill: {batch_size: 2000, pause: 10ms}
gates: []
`)
	run := start(t, srv.Client, queue, m, workflows.Options{SliceBudget: time.Second})
	waitFor(t, time.Minute, "a third of the backfill", func() bool {
		var n int64
		_ = pool.QueryRow(context.Background(), `SELECT coalesce((SELECT rows_done FROM zdm.migrations WHERE name = $1), 0)`, m.Name).Scan(&n)
		return n > rows/3
	})
	pg.ctl("restart")
	t.Log("PostgreSQL restarted mid-backfill")

	res, err := result(t, run, 3*time.Minute)
	require.NoError(t, err)
	assert.Equal(t, workflows.PhaseCompleted, res.Status)
	assert.EqualValues(t, rows, res.Progress.RowsDone, "every row counted once")
	assert.Zero(t, scalar[int64](t, pool, `SELECT count(*) FROM accounts WHERE email_lower IS DISTINCT FROM lower(email)`))
	assert.Equal(t, "NO", scalar[string](t, pool, `SELECT is_nullable FROM information_schema.columns WHERE table_name = 'accounts' AND column_name = 'email_lower'`))
}
