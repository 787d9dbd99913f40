package sqlexpr_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zdmhq/zdm/internal/sqlexpr"
)

func TestCopyIndexRenamesTheColumnEverywhere(t *testing.T) {
	cases := []struct{ def, want string }{
		{`CREATE INDEX accounts_code_idx ON public.accounts USING btree (code text_pattern_ops DESC, aid) WITH (fillfactor='90')`,
			`CREATE INDEX CONCURRENTLY IF NOT EXISTS _zdm_x ON public.accounts USING btree (sku text_pattern_ops DESC, aid) WITH (fillfactor='90')`},
		{`CREATE UNIQUE INDEX accounts_code_key ON public.accounts USING btree (code)`,
			`CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS _zdm_x ON public.accounts USING btree (sku)`},
		{`CREATE INDEX p ON public.accounts USING btree (aid) WHERE (code IS NOT NULL)`,
			`CREATE INDEX CONCURRENTLY IF NOT EXISTS _zdm_x ON public.accounts USING btree (aid) WHERE sku IS NOT NULL`},
		{`CREATE INDEX e ON public.accounts USING btree (lower(code))`,
			`CREATE INDEX CONCURRENTLY IF NOT EXISTS _zdm_x ON public.accounts USING btree (lower(sku))`},
		{`CREATE INDEX i ON public.accounts USING btree (aid) INCLUDE (code)`,
			`CREATE INDEX CONCURRENTLY IF NOT EXISTS _zdm_x ON public.accounts USING btree (aid) INCLUDE (sku)`},
		{`CREATE INDEX g ON public.accounts USING gin (code gin_trgm_ops) WHERE ((code)::text <> ''::text)`,
			`CREATE INDEX CONCURRENTLY IF NOT EXISTS _zdm_x ON public.accounts USING gin (sku gin_trgm_ops) WHERE sku::text <> ''::text`},
	}
	for _, c := range cases {
		got, err := sqlexpr.CopyIndex(c.def, "_zdm_x", "code", "sku")
		require.NoError(t, err, c.def)
		assert.Equal(t, c.want, got)
	}
	_, err := sqlexpr.CopyIndex(`CREATE INDEX i ON t USING btree (a)`, "_zdm_x", "code", "sku")
	assert.ErrorContains(t, err, "does not name column code")
	_, err = sqlexpr.CopyIndex(`DROP TABLE t`, "_zdm_x", "code", "sku")
	assert.Error(t, err)
}
