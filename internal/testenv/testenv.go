// Package testenv gives integration tests the real components the way make test provides
// them: PostgreSQL from DATABASE_URL (a database of each test's own), the Temporal CLI for
// dev servers, and the rule that a missing component skips a test, unless
// ZDM_INTEGRATION=1 (make test) makes it a failure.
package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"
)

// Need skips t when one of the environment variables is unset, or fails it under
// ZDM_INTEGRATION=1. With -short every integration test is skipped.
func Need(t testing.TB, vars ...string) {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test: skipped with -short")
	}
	var missing []string
	for _, v := range vars {
		if os.Getenv(v) == "" {
			missing = append(missing, v)
		}
	}
	if len(missing) > 0 {
		Missing(t, strings.Join(missing, ", "))
	}
}

// Missing skips t, or fails it under ZDM_INTEGRATION=1, because what is missing.
func Missing(t testing.TB, what string) {
	t.Helper()
	msg := "integration test needs " + what + " (run it with make test)"
	if os.Getenv("ZDM_INTEGRATION") == "1" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// Suffix is a random name suffix.
func Suffix() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// DB creates a database for this test alone (prefix_<random>) and drops it afterwards.
func DB(t testing.TB, prefix string) (dsn string, pool *pgxpool.Pool) {
	t.Helper()
	Need(t, "DATABASE_URL")
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, os.Getenv("DATABASE_URL"))
	require.NoError(t, err)
	name := pgx.Identifier{prefix + "_" + Suffix()}
	_, err = admin.Exec(ctx, "CREATE DATABASE "+name.Sanitize())
	require.NoError(t, err)
	u, err := url.Parse(os.Getenv("DATABASE_URL"))
	require.NoError(t, err)
	u.Path = "/" + name[0]
	dsn = u.String()
	pool, err = pgxpool.New(ctx, dsn)
	require.NoError(t, err)
	t.Cleanup(func() {
		pool.Close()
		_, _ = admin.Exec(context.Background(), "DROP DATABASE IF EXISTS "+name.Sanitize()+" WITH (FORCE)")
		_ = admin.Close(context.Background())
	})
	return dsn, pool
}

// TemporalBin is the Temporal CLI the dev servers start from: ZDM_TEMPORAL_BIN, else the
// repository's bin/temporal, else temporal on PATH.
func TemporalBin(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("ZDM_TEMPORAL_BIN"); p != "" {
		return p
	}
	_, file, _, _ := runtime.Caller(0)
	if p := filepath.Join(filepath.Dir(file), "..", "..", "bin", "temporal"); fileExists(p) {
		return p
	}
	if p, err := exec.LookPath("temporal"); err == nil {
		return p
	}
	Missing(t, "ZDM_TEMPORAL_BIN (or bin/temporal: make bin/temporal)")
	return ""
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// WaitFor polls cond every 100ms until it holds, or fails t once timeout has passed.
func WaitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("timed out after %s waiting for %s", timeout, what)
}
