package cli

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zdmhq/zdm/internal/spec"
)

func TestConvertWritesTheMigrationAndNotes(t *testing.T) {
	h := newHarness(t)
	sql := writeFile(t, "20240101_users_age.sql", "BEGIN;\nALTER TABLE users ALTER COLUMN age TYPE bigint;\nCOMMIT;\n")
	require.Equal(t, ExitOK, h.run("convert", sql))
	assert.Contains(t, h.stdout.String(), "name: \"20240101-users-age\"\ntable: public.users\n")
	assert.Contains(t, h.stdout.String(), "  - change_type:\n      column: age\n")
	assert.Contains(t, h.err.String(), "20240101_users_age.sql:2: type change of public.users.age: confirm down")
	assert.Zero(t, h.dialed)

	out := filepath.Join(t.TempDir(), "out.yaml")
	require.Equal(t, ExitOK, h.run("convert", sql, "-o", out, "--name", "users-age-bigint"))
	m, err := spec.ParseFile(out)
	require.NoError(t, err)
	assert.Equal(t, "users-age-bigint", m.Name)
	assert.Contains(t, h.err.String(), "wrote "+out)
	assert.Empty(t, h.stdout.String())
}

func TestConvertRefusesSQLThatDoesNotParse(t *testing.T) {
	h := newHarness(t)
	sql := writeFile(t, "bad.sql", "ALTER TABLE users ADD COLUMN a int;\nALTER TABLE users ADD COLUMN;\n")
	assert.Equal(t, ExitUsage, h.run("convert", sql))
	assert.Equal(t, "zdm: "+sql+":2:29: syntax error at or near \";\"\n", h.err.String())
	assert.Equal(t, ExitUsage, h.run("convert"))
	assert.Equal(t, ExitUsage, h.run("convert", filepath.Join(t.TempDir(), "missing.sql")))
	_, err := os.Stat(sql)
	require.NoError(t, err)
}
