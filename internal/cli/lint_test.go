package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zdmhq/zdm/internal/spec"
	"github.com/zdmhq/zdm/internal/testenv"
)

// lintRun runs zdm lint in-process, without Temporal.
func lintRun(t *testing.T, env map[string]string, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	app := &App{
		Stdout: &out, Stderr: &errOut, Stdin: strings.NewReader(stdin),
		Getenv: func(k string) string { return env[k] },
		Dial:   nil, // lint never dials Temporal
	}
	code = app.Run(context.Background(), append([]string{"lint"}, args...))
	return code, out.String(), errOut.String()
}

func examplesLint(name string) string { return filepath.Join("..", "..", "examples", "lint", name) }

func TestLintExitCodesAndFormats(t *testing.T) {
	t.Run("clean file: exit 0", func(t *testing.T) {
		code, out, _ := lintRun(t, nil, "", examplesLint("clean_add_customer_tier.sql"))
		assert.Equal(t, ExitOK, code)
		assert.Equal(t, "no findings\n", out)
	})
	t.Run("errors: exit 1, text grouped per file", func(t *testing.T) {
		code, out, errOut := lintRun(t, nil, "", examplesLint("django_0014_order_status.sql"))
		assert.Equal(t, ExitFailed, code)
		assert.Empty(t, errOut)
		assert.Contains(t, out, "django_0014_order_status.sql:10:1: error [alter-column-type-rewrite] changes shop_order.total to numeric(12,2) USING an expression")
		assert.Contains(t, out, "safe way (zdm migration):\n      name: shop-order-total-numeric12-2\n      table: public.shop_order\n      operations:\n        - change_type: {column: total, type: \"numeric(12,2)\"}")
		assert.Contains(t, out, "17 findings: 10 error, 1 warning, 6 info")
	})
	t.Run("a directory", func(t *testing.T) {
		code, out, _ := lintRun(t, nil, "", filepath.Join("..", "..", "examples", "lint"))
		assert.Equal(t, ExitFailed, code)
		assert.Contains(t, out, "44 findings")
	})
	t.Run("warnings only: exit 0 unless --fail-on warning", func(t *testing.T) {
		sql := "CREATE TABLE t (id bigint PRIMARY KEY, d json);\n"
		code, out, _ := lintRun(t, nil, sql, "-")
		assert.Equal(t, ExitOK, code)
		assert.Contains(t, out, "-:1:1: warning [prefer-jsonb]")
		code, _, _ = lintRun(t, nil, sql, "--fail-on", "warning", "-")
		assert.Equal(t, ExitFailed, code)
		code, _, _ = lintRun(t, nil, "\\set x 1\nSELECT 1;", "--fail-on", "warning", "-")
		assert.Equal(t, ExitOK, code, "an info finding is below warning")
	})
	t.Run("json", func(t *testing.T) {
		code, out, _ := lintRun(t, nil, "ALTER TABLE t ALTER COLUMN c TYPE bigint;", "--format", "json", "-")
		assert.Equal(t, ExitFailed, code)
		var doc struct {
			Findings []struct {
				File, Rule, Level, Statement, Safe string
				Line, Column                       int
				SafeZDM                            bool `json:"safe_is_zdm_migration"`
			}
		}
		require.NoError(t, json.Unmarshal([]byte(out), &doc), out)
		require.Len(t, doc.Findings, 2)
		f := doc.Findings[1]
		assert.Equal(t, "-", f.File)
		assert.Equal(t, "alter-column-type-rewrite", f.Rule)
		assert.Equal(t, "error", f.Level)
		assert.Equal(t, 1, f.Line)
		assert.Equal(t, "ALTER TABLE t ALTER COLUMN c TYPE bigint", f.Statement)
		assert.True(t, f.SafeZDM)
	})
	t.Run("json without findings is an empty list", func(t *testing.T) {
		code, out, _ := lintRun(t, nil, "SELECT 1;", "--format", "json", "-")
		assert.Equal(t, ExitOK, code)
		assert.JSONEq(t, `{"findings": []}`, out)
	})
	t.Run("github annotations", func(t *testing.T) {
		code, out, _ := lintRun(t, nil, "", "--format", "github", examplesLint("alembic_upgrade_7c1e9a04b2d3.sql"))
		assert.Equal(t, ExitFailed, code)
		lines := strings.Split(strings.TrimSpace(out), "\n")
		require.Len(t, lines, 11)
		assert.True(t, strings.HasPrefix(lines[0], "::notice file=../../examples/lint/alembic_upgrade_7c1e9a04b2d3.sql,line=3,col=1,title=not-idempotent::"), lines[0])
		assert.True(t, strings.HasPrefix(lines[2], "::error file=../../examples/lint/alembic_upgrade_7c1e9a04b2d3.sql,line=10,col=1,title=alter-column-type-rewrite::changes customers.balance to bigint"), lines[2])
		assert.True(t, strings.HasPrefix(lines[5], "::warning file=../../examples/lint/alembic_upgrade_7c1e9a04b2d3.sql,line=12,col=1,title=prefer-jsonb::"), lines[5])
		assert.Contains(t, lines[2], "%0ASafe way:%0Aname: customers-balance-bigint%0A")
	})
}

func TestLintBadInput(t *testing.T) {
	t.Run("parse error: exit 2 with file:line:col", func(t *testing.T) {
		code, out, errOut := lintRun(t, nil, "SELECT 1;\nALTER TABLE t ADD COLUMN;\n", "-")
		assert.Equal(t, ExitUsage, code)
		assert.Empty(t, out)
		assert.Equal(t, "zdm: -:2:25: syntax error at or near \";\"\n", errOut)
	})
	t.Run("missing file", func(t *testing.T) {
		code, _, errOut := lintRun(t, nil, "", "no-such-file.sql")
		assert.Equal(t, ExitUsage, code)
		assert.Contains(t, errOut, "no-such-file.sql")
	})
	t.Run("no arguments", func(t *testing.T) {
		code, _, errOut := lintRun(t, nil, "")
		assert.Equal(t, ExitUsage, code)
		assert.Contains(t, errOut, "lint needs SQL files")
	})
	t.Run("bad format and level", func(t *testing.T) {
		code, _, _ := lintRun(t, nil, "SELECT 1;", "--format", "xml", "-")
		assert.Equal(t, ExitUsage, code)
		code, _, _ = lintRun(t, nil, "SELECT 1;", "--fail-on", "fatal", "-")
		assert.Equal(t, ExitUsage, code)
	})
	t.Run("bad config", func(t *testing.T) {
		p := filepath.Join(t.TempDir(), "lint.yaml")
		require.NoError(t, os.WriteFile(p, []byte("disable: [no-such-rule]\n"), 0o600))
		code, _, errOut := lintRun(t, nil, "SELECT 1;", "--config", p, "-")
		assert.Equal(t, ExitUsage, code)
		assert.Contains(t, errOut, `no rule "no-such-rule"`)
	})
}

func TestLintConfigFromCurrentDirectory(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, ".zdm-lint.yaml"),
		[]byte("disable: [missing-lock-timeout]\nlevels: {drop-column: warning}\n"), 0o600))
	t.Chdir(dir)
	code, out, _ := lintRun(t, nil, "ALTER TABLE t DROP COLUMN c;", "-")
	assert.Equal(t, ExitOK, code, out)
	assert.Contains(t, out, "-:1:1: warning [drop-column]")
	assert.NotContains(t, out, "missing-lock-timeout")
}

func TestLintListsRules(t *testing.T) {
	code, out, _ := lintRun(t, nil, "", "--rules")
	assert.Equal(t, ExitOK, code)
	assert.Contains(t, out, "add-column-volatile-default")
	assert.Contains(t, out, "prefer-timestamptz")
}

func TestLintWithDatabase(t *testing.T) {
	dsn, pool := testenv.DB(t, "zdm_lint")
	ctx := context.Background()
	_, err := pool.Exec(ctx, `CREATE TABLE customers AS SELECT g::bigint AS id, g::int AS balance, md5(g::text) AS email FROM generate_series(1, 50000) g;
		CREATE TABLE tiers AS SELECT g AS id, g::int AS rank FROM generate_series(1, 100) g;
		ANALYZE customers; ANALYZE tiers`)
	require.NoError(t, err)
	env := map[string]string{"DATABASE_URL": dsn}

	code, out, errOut := lintRun(t, env, "SET lock_timeout = '1s';\nALTER TABLE customers ALTER COLUMN balance TYPE bigint;\n", "-")
	assert.Equal(t, ExitFailed, code, errOut)
	t.Log(out)
	assert.Contains(t, out, "read throughput: ")
	assert.Contains(t, out, "with TABLESAMPLE SYSTEM")
	assert.Contains(t, out, "-:2:1: error [alter-column-type-rewrite] changes customers.balance from integer to bigint: a rewrite")
	assert.Contains(t, out, "about 50,000 rows; the statement rewrites it; lock held about ")
	assert.Contains(t, out, "1 finding: 1 error")
	// The estimate is a lower bound (reading, not writing): how long the change takes here.
	start := time.Now()
	_, err = pool.Exec(ctx, "ALTER TABLE customers ALTER COLUMN balance TYPE bigint")
	require.NoError(t, err)
	t.Logf("the ALTER itself took %s", time.Since(start).Round(time.Millisecond))

	// The same change on a 100-row table is harmless: info, exit 0.
	code, out, errOut = lintRun(t, env, "SET lock_timeout = '1s';\nALTER TABLE tiers ALTER COLUMN rank TYPE bigint;\n", "-")
	assert.Equal(t, ExitOK, code, errOut)
	t.Log(out)
	assert.Contains(t, out, "-:2:1: info [alter-column-type-rewrite]")
	assert.Contains(t, out, "harmless here: 100 rows")
}

// zdm lint --fix prints, after the findings, the zdm migration zdm convert makes of each
// file with findings; a clean file gets none.
func TestLintFixPrintsTheSafeMigration(t *testing.T) {
	code, out, _ := lintRun(t, nil, "", "--fix", examplesLint("django_0014_order_status.sql"), examplesLint("clean_add_customer_tier.sql"))
	assert.Equal(t, ExitFailed, code, "the findings still decide the exit code")
	_, yaml, ok := strings.Cut(out, "# --- the safe way for "+examplesLint("django_0014_order_status.sql"))
	require.True(t, ok, out)
	_, yaml, _ = strings.Cut(yaml, "\n") // the rest of the header line
	assert.Contains(t, yaml, "table: public.shop_order\n")
	assert.Contains(t, yaml, "  - add_column:\n      column: status\n")
	assert.NotContains(t, out, "# --- the safe way for "+examplesLint("clean_add_customer_tier.sql"))
	_, err := spec.Parse("fix.yaml", []byte(yaml))
	require.NoError(t, err, "what --fix prints is a migration file")
}
