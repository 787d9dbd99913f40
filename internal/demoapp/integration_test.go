package demoapp

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// testEnv is the real stack the integration tests use, from the environment
// that `scripts/stack.sh env` prints.
type testEnv struct {
	DatabaseURL, UnleashURL, APIToken, AdminToken string
}

// integration returns the stack, or skips the test when it is not given;
// with ZDM_INTEGRATION=1 a missing variable fails the test instead.
func integration(t *testing.T, needUnleash bool) testEnv {
	t.Helper()
	e := testEnv{
		DatabaseURL: os.Getenv("DATABASE_URL"),
		UnleashURL:  os.Getenv("UNLEASH_URL"),
		APIToken:    os.Getenv("UNLEASH_API_TOKEN"),
		AdminToken:  os.Getenv("UNLEASH_ADMIN_TOKEN"),
	}
	required := os.Getenv("ZDM_INTEGRATION") == "1"
	if !required && testing.Short() {
		t.Skip("integration test: skipped with -short")
	}
	var missing []string
	if e.DatabaseURL == "" {
		missing = append(missing, "DATABASE_URL")
	}
	if needUnleash {
		for _, v := range []struct{ name, value string }{
			{"UNLEASH_URL", e.UnleashURL}, {"UNLEASH_API_TOKEN", e.APIToken}, {"UNLEASH_ADMIN_TOKEN", e.AdminToken},
		} {
			if v.value == "" {
				missing = append(missing, v.name)
			}
		}
	}
	if len(missing) > 0 {
		msg := "integration test needs " + strings.Join(missing, ", ") + " (eval \"$(scripts/stack.sh env)\")"
		if required {
			t.Fatal(msg + ": ZDM_INTEGRATION=1 is set")
		}
		t.Skip(msg)
	}
	return e
}

func testPool(t *testing.T, e testEnv) *pgxpool.Pool {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), e.DatabaseURL)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	require.NoError(t, pool.Ping(context.Background()), "DATABASE_URL does not answer")
	return pool
}

// testTable is a table name of this test alone, dropped when it ends.
func testTable(t *testing.T, pool *pgxpool.Pool) string {
	t.Helper()
	table := fmt.Sprintf("public.customers_test_%08x", rand.Uint32())
	t.Cleanup(func() {
		_, err := Reset(context.Background(), pool, table, true)
		assert.NoError(t, err)
	})
	return table
}

func count(t *testing.T, pool *pgxpool.Pool, sql string) int64 {
	t.Helper()
	var n int64
	require.NoError(t, pool.QueryRow(context.Background(), sql).Scan(&n), sql)
	return n
}

func quoted(t *testing.T, table string) string {
	id, err := parseTable(table)
	require.NoError(t, err)
	return id.Sanitize()
}

func TestSeedIsIdempotentAndTopsUp(t *testing.T) {
	e := integration(t, false)
	pool := testPool(t, e)
	table := testTable(t, pool)
	ctx := context.Background()
	q := quoted(t, table)

	// A small chunk, so that several INSERTs and a partial last one run.
	require.NoError(t, seed(ctx, pool, table, 1000, 300))
	assert.EqualValues(t, 1000, count(t, pool, `SELECT count(*) FROM `+q))
	assert.EqualValues(t, 1000, count(t, pool, `SELECT max(id) FROM `+q))

	var name, email string
	var balance int32
	require.NoError(t, pool.QueryRow(ctx, `SELECT name, email, balance FROM `+q+` WHERE id = 1234 % 1000`).Scan(&name, &email, &balance))
	assert.Equal(t, "Customer 234", name)
	assert.Equal(t, "Customer.234@Example.com", email)
	assert.EqualValues(t, 234, balance)
	assert.Zero(t, count(t, pool, `SELECT count(*) FROM `+q+` WHERE email = lower(email)`), "lower(email) must change every email")

	require.NoError(t, Seed(ctx, pool, table, 1000))
	require.NoError(t, Seed(ctx, pool, table, 10))
	assert.EqualValues(t, 1000, count(t, pool, `SELECT count(*) FROM `+q), "seeding again adds nothing")

	require.NoError(t, Seed(ctx, pool, table, 1500))
	assert.EqualValues(t, 1500, count(t, pool, `SELECT count(*) FROM `+q), "seeding more tops up")
	assert.EqualValues(t, 1500, count(t, pool, `SELECT count(DISTINCT name) FROM `+q))

	// A table whose foreign key references the demo table (examples/migrations adds one)
	// keeps it: Reset names it, and drops it only when asked.
	payments := table + "_payments"
	_, err := pool.Exec(ctx, `CREATE TABLE `+quoted(t, payments)+` (id bigint PRIMARY KEY, customer_id bigint REFERENCES `+q+`)`)
	require.NoError(t, err)
	_, err = Reset(ctx, pool, table, false)
	require.ErrorContains(t, err, payments)
	require.ErrorContains(t, err, "--dependents")
	assert.EqualValues(t, 1500, count(t, pool, `SELECT count(*) FROM `+q), "a refused reset changes nothing")
	dropped, err := Reset(ctx, pool, table, true)
	require.NoError(t, err)
	assert.Equal(t, []string{payments}, dropped)
	dropped, err = Reset(ctx, pool, table, false)
	require.NoError(t, err, "Reset of a missing table is fine")
	assert.Empty(t, dropped)
	assert.Zero(t, count(t, pool, fmt.Sprintf(`SELECT count(*) FROM pg_class WHERE oid IN (to_regclass('%s'), to_regclass('%s'))`, q, quoted(t, payments))))
}

// flagAdmin toggles flags through the Unleash Admin API, as zdm does.
type flagAdmin struct {
	base, token string
}

func (f flagAdmin) do(t *testing.T, method, path string, body any, ok ...int) {
	t.Helper()
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		require.NoError(t, err)
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, strings.TrimRight(f.base, "/")+path, r)
	require.NoError(t, err)
	req.Header.Set("Authorization", f.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	msg, _ := io.ReadAll(resp.Body)
	require.Contains(t, ok, resp.StatusCode, "%s %s: %s", method, path, msg)
}

// create makes a release flag (off everywhere) and archives it when the test ends.
func (f flagAdmin) create(t *testing.T, name string) {
	f.do(t, http.MethodPost, "/api/admin/projects/default/features",
		map[string]string{"name": name, "type": "release"}, http.StatusCreated)
	t.Cleanup(func() {
		f.do(t, http.MethodDelete, "/api/admin/projects/default/features/"+url.PathEscape(name), nil, http.StatusAccepted, http.StatusOK)
	})
}

// set turns a flag on or off in development. No strategy is added: Unleash
// 8.2 gives an environment a 100% flexibleRollout when it is first enabled,
// and these tests would fail if it stopped doing so.
func (f flagAdmin) set(t *testing.T, name string, on bool) {
	state := "off"
	if on {
		state = "on"
	}
	f.do(t, http.MethodPost, "/api/admin/projects/default/features/"+url.PathEscape(name)+"/environments/development/"+state, nil, http.StatusOK)
}

// startApp runs an App until the test ends and returns it with a stop function.
func startApp(t *testing.T, cfg Config) (*App, func() error) {
	t.Helper()
	cfg.Logger = slog.New(slog.NewTextHandler(testWriter{t}, nil))
	app, err := New(cfg)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- app.Run(ctx) }()
	stop := sync.OnceValue(func() error {
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(10 * time.Second):
			return fmt.Errorf("Run did not return within 10s of cancel")
		}
	})
	t.Cleanup(func() { _ = stop() })
	return app, stop
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func appConfig(e testEnv, table string) Config {
	return Config{
		DatabaseURL:     e.DatabaseURL,
		Table:           table,
		UnleashURL:      e.UnleashURL,
		UnleashToken:    e.APIToken,
		DualWriteFlag:   fmt.Sprintf("zdm-test-dw-%08x", rand.Uint32()),
		ReadNewFlag:     fmt.Sprintf("zdm-test-rn-%08x", rand.Uint32()),
		RefreshInterval: 200 * time.Millisecond,
		ReadyTimeout:    10 * time.Second,
		Workers:         4,
		Rate:            300,
	}
}

func requireNoErrors(t *testing.T, s Stats) {
	t.Helper()
	require.Zero(t, s.Errors, "first errors: %s", strings.Join(s.FirstErrors, "\n"))
}

func TestRunOldCodeWithoutFlags(t *testing.T) {
	e := integration(t, true)
	pool := testPool(t, e)
	table := testTable(t, pool)
	require.NoError(t, Seed(context.Background(), pool, table, 2000))

	// The flags do not exist in Unleash: unknown flags are off.
	app, stop := startApp(t, appConfig(e, table))
	require.Eventually(t, func() bool { return app.Stats().Running }, 15*time.Second, 50*time.Millisecond)

	// Every session says who it is, so a migration can tell the app's locks apart.
	assert.Eventually(t, func() bool {
		return count(t, pool, `SELECT count(*) FROM pg_stat_activity WHERE application_name = 'zdm-demoapp'`) >= 1
	}, 5*time.Second, 100*time.Millisecond)

	time.Sleep(3 * time.Second)
	require.NoError(t, stop())

	s := app.Stats()
	t.Logf("stats: ops=%d reads=%d updates=%d inserts=%d max=%s p99=%s", s.Ops, s.Reads, s.Updates, s.Inserts, s.MaxLatency, s.P99)
	requireNoErrors(t, s)
	assert.Equal(t, string(ModeOld), s.Mode)
	assert.False(t, s.Running)
	assert.Greater(t, s.Ops, int64(300), "3s at 300/s")
	assert.Less(t, s.Ops, int64(1500), "the rate limit holds")
	assert.Positive(t, s.Reads)
	assert.Positive(t, s.Updates)
	assert.Positive(t, s.Inserts)
	assert.Positive(t, s.MaxLatency)
	assert.LessOrEqual(t, s.P99, s.MaxLatency)
	assert.Equal(t, map[string]int64{"old": s.Ops}, s.ModeOps)
	assert.False(t, s.Until.Before(s.Since))
	// An insert cut short by the stop may still have committed.
	rows := count(t, pool, `SELECT count(*) FROM `+quoted(t, table))
	assert.GreaterOrEqual(t, rows, 2000+s.Inserts, "every counted insert is there")
	assert.LessOrEqual(t, rows, 2000+s.Inserts+4, "at most one uncounted insert per worker")
}

// TestRunFollowsTheFlags walks the app through a whole migration, doing by
// hand the schema steps zdm would do, and checks that every flag change
// reaches the app and that no operation fails.
func TestRunFollowsTheFlags(t *testing.T) {
	e := integration(t, true)
	pool := testPool(t, e)
	table := testTable(t, pool)
	ctx := context.Background()
	q := quoted(t, table)
	require.NoError(t, Seed(ctx, pool, table, 2000))
	exec := func(sql string) {
		t.Helper()
		_, err := pool.Exec(ctx, sql)
		require.NoError(t, err, sql)
	}

	cfg := appConfig(e, table)
	admin := flagAdmin{base: e.UnleashURL, token: e.AdminToken}
	admin.create(t, cfg.DualWriteFlag)
	admin.create(t, cfg.ReadNewFlag)

	app, stop := startApp(t, cfg)
	waitMode := func(m Mode) {
		t.Helper()
		// A toggle reaches the app within a refresh interval or two.
		require.Eventually(t, func() bool { return app.Stats().Mode == string(m) }, 5*time.Second, 20*time.Millisecond,
			"mode %s not reached; stats: %+v", m, app.Stats())
		// Let operations that read the flags before the toggle finish.
		time.Sleep(500 * time.Millisecond)
		requireNoErrors(t, app.Stats())
	}
	waitMode(ModeOld)

	// Expand, then dual writes.
	exec(`ALTER TABLE ` + q + ` ADD COLUMN full_name text, ADD COLUMN email_lower text`)
	admin.set(t, cfg.DualWriteFlag, true)
	waitMode(ModeDualWrite)

	// Backfill the rows the old code wrote; from now on the app keeps them equal.
	exec(`UPDATE ` + q + ` SET full_name = name, email_lower = lower(email)`)
	time.Sleep(time.Second)
	assert.Zero(t, count(t, pool, `SELECT count(*) FROM `+q+
		` WHERE full_name IS DISTINCT FROM name OR email_lower IS DISTINCT FROM lower(email)`),
		"dual writes keep full_name = name and email_lower = lower(email)")

	admin.set(t, cfg.ReadNewFlag, true)
	waitMode(ModeDualWriteReadNew)

	// New code only. Without zdm's trigger nothing fills name any more, so
	// it must stop being NOT NULL first; then contract drops it altogether,
	// which the new code must not notice.
	exec(`ALTER TABLE ` + q + ` ALTER COLUMN name DROP NOT NULL`)
	admin.set(t, cfg.DualWriteFlag, false)
	waitMode(ModeNew)
	exec(`ALTER TABLE ` + q + ` DROP COLUMN name`)
	before := app.Stats().Ops
	time.Sleep(time.Second)
	assert.Zero(t, count(t, pool, `SELECT count(*) FROM `+q+` WHERE email_lower IS DISTINCT FROM lower(email) OR full_name IS NULL`))

	require.NoError(t, stop())
	s := app.Stats()
	t.Logf("stats: ops=%d modes=%v max=%s p99=%s", s.Ops, s.ModeOps, s.MaxLatency, s.P99)
	requireNoErrors(t, s)
	assert.Greater(t, s.Ops, before, "the new code keeps working after name is dropped")
	for _, m := range AllModes {
		assert.Positive(t, s.ModeOps[string(m)], "no operation ran in mode %s", m)
	}
	assert.Zero(t, s.FlagErrors, s.LastFlagError)
}

func TestRunReportsOperationErrors(t *testing.T) {
	e := integration(t, true)
	pool := testPool(t, e)
	table := testTable(t, pool)
	require.NoError(t, Seed(context.Background(), pool, table, 100))

	cfg := appConfig(e, table)
	admin := flagAdmin{base: e.UnleashURL, token: e.AdminToken}
	admin.create(t, cfg.DualWriteFlag)
	// Dual writes to a table that has no new columns: every write fails.
	admin.set(t, cfg.DualWriteFlag, true)

	app, stop := startApp(t, cfg)
	require.Eventually(t, func() bool { return app.Stats().Errors >= 20 }, 15*time.Second, 50*time.Millisecond)
	require.NoError(t, stop())
	s := app.Stats()
	assert.Equal(t, string(ModeDualWrite), s.Mode)
	assert.Len(t, s.FirstErrors, maxFirstErrors)
	assert.Contains(t, s.FirstErrors[0], "in mode dual_write")
	assert.Contains(t, s.FirstErrors[0], "full_name")
	assert.Less(t, s.Errors, s.Ops, "reads still work")
}

func TestRunFailsClearly(t *testing.T) {
	e := integration(t, false)
	pool := testPool(t, e)

	t.Run("unleash unreachable", func(t *testing.T) {
		table := testTable(t, pool)
		require.NoError(t, Seed(context.Background(), pool, table, 10))
		cfg := appConfig(e, table)
		cfg.UnleashURL = "http://127.0.0.1:1"
		cfg.UnleashToken = "x"
		cfg.ReadyTimeout = time.Second
		app, err := New(cfg)
		require.NoError(t, err)
		start := time.Now()
		err = app.Run(context.Background())
		require.Error(t, err)
		assert.Less(t, time.Since(start), 5*time.Second)
		assert.Contains(t, err.Error(), "sent no flags within 1s")
		assert.Contains(t, err.Error(), "connection refused")
		assert.Zero(t, app.Stats().Ops)
		assert.ErrorContains(t, app.Run(context.Background()), "twice")
	})

	t.Run("table missing", func(t *testing.T) {
		cfg := appConfig(e, "public.customers_test_missing")
		cfg.UnleashURL = "http://127.0.0.1:1"
		app, err := New(cfg)
		require.NoError(t, err)
		err = app.Run(context.Background())
		require.Error(t, err)
		assert.Contains(t, err.Error(), "does not exist: run `zdm-demoapp seed` first")
	})

	t.Run("bad unleash token", func(t *testing.T) {
		e := integration(t, true)
		table := testTable(t, pool)
		require.NoError(t, Seed(context.Background(), pool, table, 10))
		cfg := appConfig(e, table)
		cfg.UnleashToken = "default:development.not-a-token"
		cfg.ReadyTimeout = 2 * time.Second
		app, err := New(cfg)
		require.NoError(t, err)
		err = app.Run(context.Background())
		require.Error(t, err)
		assert.Contains(t, err.Error(), "401")
		assert.NotContains(t, err.Error(), "not-a-token")
	})
}
