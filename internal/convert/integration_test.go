package convert_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zdmhq/zdm/internal/convert"
	"github.com/zdmhq/zdm/internal/ops/opstest"
	"github.com/zdmhq/zdm/internal/testenv"
)

// TestConvertedFrameworkMigrationsPlan converts the Rails, Django and Alembic
// migrations of testdata/ and plans each against a live database holding the schema
// they were written for: zdm plan accepts what zdm convert writes.
func TestConvertedFrameworkMigrationsPlan(t *testing.T) {
	schema, err := os.ReadFile("testdata/schema.sql")
	require.NoError(t, err)
	files, err := filepath.Glob("testdata/*.*.sql")
	require.NoError(t, err)
	require.Len(t, files, 3)
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			t.Parallel()
			_, pool := testenv.DB(t, "zdm_convert")
			ctx := context.Background()
			_, err := pool.Exec(ctx, string(schema))
			require.NoError(t, err)
			src, err := os.ReadFile(file)
			require.NoError(t, err)

			out, notes, err := convert.Convert(file, src, convert.Options{Catalog: convert.DBCatalog{Ctx: ctx, Pool: pool}})
			require.NoError(t, err, "%s", out)
			t.Logf("%s", out)
			for _, n := range notes {
				t.Logf("note: %s", n)
			}
			p, err := opstest.Plan(ctx, pool, file+".yaml", out)
			require.NoError(t, err, "%s", out)
			assert.NotEmpty(t, p.Expand)
			// With the catalog, a type change's down is written from the live type.
			assert.NotContains(t, string(out), "<old type>")
			for _, n := range notes {
				assert.Greater(t, n.Line, 0)
			}
		})
	}
}

// TestSecondTableConvertsAsItsOwnMigration plans the Rails file's second migration, the
// operations on orders that the first leaves commented out (zdm backfills one table per
// migration, and orders' type change fills it), against the database the first has not
// touched.
func TestSecondTableConvertsAsItsOwnMigration(t *testing.T) {
	schema, err := os.ReadFile("testdata/schema.sql")
	require.NoError(t, err)
	_, pool := testenv.DB(t, "zdm_convert")
	ctx := context.Background()
	_, err = pool.Exec(ctx, string(schema))
	require.NoError(t, err)
	file := "testdata/20240301093000_add_status_to_users.rails.sql"
	src, err := os.ReadFile(file)
	require.NoError(t, err)
	out, _, err := convert.Convert(file, src, convert.Options{Name: "orders-total-bigint", Table: "orders", Catalog: convert.DBCatalog{Ctx: ctx, Pool: pool}})
	require.NoError(t, err, "%s", out)
	assert.Contains(t, string(out), "table: public.orders\n")
	assert.Contains(t, string(out), "  - change_type:\n      column: total_cents\n      type: bigint\n      up: \"total_cents::bigint\"\n      down: \"total_cents::integer\"\n")
	assert.Equal(t, 3, strings.Count(string(out), "\n  - "), "only the operations on orders run (foreign key, type change, index drop):\n%s", out)
	p, err := opstest.Plan(ctx, pool, "orders.yaml", out)
	require.NoError(t, err, "%s", out)
	assert.Equal(t, "public.orders", p.TableName())
}

// The SQL files zdm lint's examples hold (shaped like Rails, Django and Alembic output)
// convert to migrations that zdm plan accepts against the schema they were written for,
// as `zdm lint --fix` prints them.
func TestLintExamplesConvertToPlannableMigrations(t *testing.T) {
	schema, err := os.ReadFile("testdata/lint_examples_schema.sql")
	require.NoError(t, err)
	files, err := filepath.Glob("../../examples/lint/*.sql")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			t.Parallel()
			_, pool := testenv.DB(t, "zdm_convert")
			ctx := context.Background()
			_, err := pool.Exec(ctx, string(schema))
			require.NoError(t, err)
			src, err := os.ReadFile(file)
			require.NoError(t, err)
			out, notes, err := convert.Convert(file, src, convert.Options{Catalog: convert.DBCatalog{Ctx: ctx, Pool: pool}})
			require.NoError(t, err, "%s", out)
			for _, n := range notes {
				t.Logf("note: %s", n)
			}
			_, err = opstest.Plan(ctx, pool, filepath.Base(file)+".yaml", out)
			require.NoError(t, err, "zdm plan refuses what zdm convert wrote:\n%s", out)
		})
	}
}
