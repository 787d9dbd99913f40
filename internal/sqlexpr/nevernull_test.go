package sqlexpr_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zdmhq/zdm/internal/sqlexpr"
)

type fakeCatalog struct{ notNull map[string]bool }

func (f fakeCatalog) NotNullColumn(parts []string) bool { return f.notNull[parts[len(parts)-1]] }
func (f fakeCatalog) StrictFunction(name []string) bool { return name[len(name)-1] != "nullif_like" }
func (f fakeCatalog) StrictOperator(string) bool        { return true }

func TestNeverNull(t *testing.T) {
	c := fakeCatalog{notNull: map[string]bool{"email": true, "found": true}}
	for expr, want := range map[string]bool{
		"lower(email)":                             true,
		"lower(accounts.email) || 'x'":             true,
		"lower(name)":                              false,
		"coalesce(lower(name), '')":                true,
		"coalesce(name, note)":                     false,
		"CASE WHEN found THEN 'yes' ELSE 'no' END": true,
		"CASE WHEN found THEN 'yes' END":           false,
		"CASE WHEN found THEN name ELSE 'no' END":  false,
		"name IS NULL":                             true,
		"NULL::text":                               false,
		"nullif_like(email)":                       false,
		"count(*)":                                 false,
		"(SELECT 1)":                               false,
		"email::varchar(10)":                       true,
	} {
		x, err := sqlexpr.ParseExpr(expr)
		require.NoError(t, err, expr)
		assert.Equal(t, want, x.NeverNull(c), expr)
	}
}

func TestColumn(t *testing.T) {
	for src, want := range map[string]string{"email": "email", `"Email"`: "Email", "accounts.email": "", "lower(email)": "", "1": ""} {
		x, err := sqlexpr.ParseExpr(src)
		require.NoError(t, err)
		got, ok := x.Column()
		assert.Equal(t, want, got, src)
		assert.Equal(t, want != "", ok, src)
	}
}
