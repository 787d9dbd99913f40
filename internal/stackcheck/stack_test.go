package stackcheck

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zdmhq/zdm/internal/testenv"
)

// cluster is the local PostgreSQL that stack.sh manages, reached as its superuser the way
// the script reaches it (runuser -u postgres -- psql), for setting up and checking roles.
type cluster struct {
	t    *testing.T
	host string
	port string
}

// needCluster skips the test unless DATABASE_URL names a local server and this process
// can do what stack.sh does to manage roles: run psql as the postgres OS user.
func needCluster(t *testing.T) *cluster {
	t.Helper()
	testenv.Need(t, "DATABASE_URL")
	u, err := url.Parse(os.Getenv("DATABASE_URL"))
	require.NoError(t, err)
	host, port := u.Hostname(), u.Port()
	if port == "" {
		port = "5432"
	}
	if host != "127.0.0.1" && host != "localhost" && host != "::1" {
		t.Skipf("DATABASE_URL names %s, not a local cluster that stack.sh manages", host)
	}
	if os.Geteuid() != 0 {
		t.Skip("stack.sh manages roles as root (runuser -u postgres); run as root to test it")
	}
	for _, bin := range []string{"runuser", "psql", "pg_isready", "pg_lsclusters"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Skipf("%s is not installed: no local Debian cluster for stack.sh to manage", bin)
		}
	}
	return &cluster{t: t, host: host, port: port}
}

// sql runs one statement as the cluster's superuser and returns its unaligned output.
func (c *cluster) sql(query string, args ...any) string {
	c.t.Helper()
	cmd := exec.Command("runuser", "-u", "postgres", "--", "psql", "-XAtq", "-v", "ON_ERROR_STOP=1",
		"-h", "/var/run/postgresql", "-p", c.port, "-d", "postgres", "-c", fmt.Sprintf(query, args...))
	cmd.Dir = "/"
	out, err := cmd.CombinedOutput()
	require.NoError(c.t, err, "psql as postgres: %s", out)
	return strings.TrimSpace(string(out))
}

// protected are roles of the cluster and of the stack that no test may touch.
var protected = []string{"postgres", "zdm", "unleash"}

// throwaway marks a role of the test's own and its databases for dropping when the test
// ends, whether the test or stack.sh created them.
func (c *cluster) throwaway(role string, dbs ...string) {
	c.t.Helper()
	require.False(c.t, slices.Contains(protected, role), "never touch role %s", role)
	require.True(c.t, strings.HasPrefix(role, "zdm_stackcheck_"), role)
	c.t.Cleanup(func() {
		for _, db := range dbs {
			c.sql(`DROP DATABASE IF EXISTS %s WITH (FORCE)`, db)
		}
		// What stack.sh granted it (pg_checkpoint, SET on session_replication_role).
		c.sql(`DO $$ BEGIN IF EXISTS (SELECT FROM pg_roles WHERE rolname = '%s') THEN EXECUTE 'DROP OWNED BY %s'; END IF; END $$`, role, role)
		c.sql(`DROP ROLE IF EXISTS %s`, role)
	})
}

// authid is everything PostgreSQL keeps of a role, password hash included.
func (c *cluster) authid(role string) string {
	c.t.Helper()
	return c.sql(`SELECT row(a.*)::text FROM pg_authid a WHERE rolname = '%s'`, role)
}

func (c *cluster) url(user, password, db string) string {
	u := url.URL{Scheme: "postgres", User: url.UserPassword(user, password),
		Host: c.host + ":" + c.port, Path: "/" + db, RawQuery: "sslmode=disable"}
	return u.String()
}

// pgEnsure runs `scripts/stack.sh pg-ensure` with the two URLs; it returns the exit code
// and everything the script wrote.
func pgEnsure(t *testing.T, databaseURL, unleashURL string) (int, string) {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	script := filepath.Join(filepath.Dir(file), "..", "..", "scripts", "stack.sh")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, script, "pg-ensure")
	cmd.Env = append(os.Environ(), "DATABASE_URL="+databaseURL, "UNLEASH_DATABASE_URL="+unleashURL)
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return 0, string(out)
	case errors.As(err, &exit):
		return exit.ExitCode(), string(out)
	}
	require.NoError(t, err, "run %s: %s", script, out)
	return -1, ""
}

// login connects with u and returns the role's is_superuser setting.
func login(u string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, u)
	if err != nil {
		return "", err
	}
	defer conn.Close(ctx)
	var super string
	err = conn.QueryRow(ctx, `SELECT current_setting('is_superuser')`).Scan(&super)
	return super, err
}

// A URL naming an existing superuser with a wrong password (the cluster's own postgres,
// say) used to be "fixed" by ALTER ROLE ... NOSUPERUSER PASSWORD: the cluster lost its
// superuser. Now nothing is changed and the script says what to correct.
func TestPgEnsureNeverChangesAnExistingRole(t *testing.T) {
	t.Parallel()
	c := needCluster(t)
	sfx := testenv.Suffix()
	su, db := "zdm_stackcheck_su_"+sfx, "zdm_stackcheck_su_db_"+sfx
	right, wrong := "right-"+sfx, "wrong-"+sfx
	c.throwaway(su, db)
	c.sql(`CREATE ROLE %s SUPERUSER LOGIN PASSWORD '%s'`, su, right)
	before := c.authid(su)
	withWrong := c.url(su, wrong, db)

	for _, tc := range []struct{ name, databaseURL, unleashURL, refused string }{
		{"in DATABASE_URL", withWrong, withWrong, "DATABASE_URL"},
		// DATABASE_URL logs in (the superuser, its right password) and is left alone.
		{"in UNLEASH_DATABASE_URL", c.url(su, right, "postgres"), withWrong, "UNLEASH_DATABASE_URL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out := pgEnsure(t, tc.databaseURL, tc.unleashURL)
			assert.NotZero(t, code, out)
			assert.Contains(t, out, fmt.Sprintf("PostgreSQL refuses %s (%s@%s:%s/%s)", tc.refused, su, c.host, c.port, db))
			assert.Contains(t, out, "password authentication failed")
			assert.Contains(t, out, "Role "+su+" already exists, and zdm-stack never changes an existing role")
			assert.Contains(t, out, "Fix: correct the password in "+tc.refused)
			assert.NotContains(t, out, wrong, "the password never appears")
			assert.NotContains(t, out, right)

			assert.Equal(t, before, c.authid(su), "the role, its attributes and its password are as they were")
			super, err := login(c.url(su, right, "postgres"))
			require.NoError(t, err, "the right password still logs in")
			assert.Equal(t, "on", super, "still a superuser")
			assert.Equal(t, "0", c.sql(`SELECT count(*) FROM pg_database WHERE datname = '%s'`, db), "nothing created")
		})
	}
}

// Roles that do not exist are created (DATABASE_URL's with CREATEDB and pg_checkpoint,
// UNLEASH_DATABASE_URL's without), with their databases, and log in with the URL's password.
func TestPgEnsureCreatesMissingRolesAndDatabases(t *testing.T) {
	t.Parallel()
	c := needCluster(t)
	sfx := testenv.Suffix()
	app, appDB := "zdm_stackcheck_app_"+sfx, "zdm_stackcheck_app_db_"+sfx
	flags, flagsDB := "zdm_stackcheck_flags_"+sfx, "zdm_stackcheck_flags_db_"+sfx
	c.throwaway(app, appDB)
	c.throwaway(flags, flagsDB)
	appURL, flagsURL := c.url(app, "app-"+sfx, appDB), c.url(flags, "flags-"+sfx, flagsDB)

	code, out := pgEnsure(t, appURL, flagsURL)
	require.Zero(t, code, out)
	for _, u := range []string{appURL, flagsURL} {
		super, err := login(u)
		require.NoError(t, err, "the created role logs in with the URL's password")
		assert.Equal(t, "off", super)
	}
	check := `SELECT r.rolsuper, r.rolcreatedb, pg_has_role(r.oid, 'pg_checkpoint', 'MEMBER'), pg_get_userbyid(d.datdba)
	            FROM pg_roles r, pg_database d WHERE r.rolname = '%s' AND d.datname = '%s'`
	assert.Equal(t, "f|t|t|"+app, c.sql(check, app, appDB))
	assert.Equal(t, "f|f|f|"+flags, c.sql(check, flags, flagsDB))

	code, out = pgEnsure(t, appURL, flagsURL)
	assert.Zero(t, code, "a second run finds everything answering: %s", out)
	assert.Contains(t, out, "PostgreSQL answers")
}

// An existing role whose URL logs in gets the database it lacks, and nothing else: no
// CREATEDB, no pg_checkpoint, the same password.
func TestPgEnsureCreatesOnlyTheDatabaseOfAnExistingRole(t *testing.T) {
	t.Parallel()
	c := needCluster(t)
	sfx := testenv.Suffix()
	own, db := "zdm_stackcheck_own_"+sfx, "zdm_stackcheck_own_db_"+sfx
	c.throwaway(own, db)
	c.sql(`CREATE ROLE %s LOGIN NOCREATEDB PASSWORD 'own-%s'`, own, sfx)
	before := c.authid(own)
	u := c.url(own, "own-"+sfx, db)

	code, out := pgEnsure(t, u, u)
	require.Zero(t, code, out)
	_, err := login(u)
	require.NoError(t, err)
	assert.Equal(t, before, c.authid(own), "the role is as it was")
	assert.Equal(t, "f|"+own, c.sql(`SELECT pg_has_role('%s', 'pg_checkpoint', 'MEMBER'), pg_get_userbyid(datdba) FROM pg_database WHERE datname = '%s'`, own, db))
}
