package convert_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
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
	files, err := filepath.Glob("testdata/*.*.sql")
	require.NoError(t, err)
	require.Len(t, files, 3)
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			t.Parallel()
			out, notes, pool := convertLive(t, "testdata/schema.sql", file, convert.Options{})
			t.Logf("%s", out)
			p, err := opstest.Plan(context.Background(), pool, file+".yaml", out)
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
	out, _, pool := convertLive(t, "testdata/schema.sql", "testdata/20240301093000_add_status_to_users.rails.sql",
		convert.Options{Name: "orders-total-bigint", Table: "orders"})
	assert.Contains(t, string(out), "table: public.orders\n")
	assert.Contains(t, string(out), "  - change_type:\n      column: total_cents\n      type: bigint\n      up: \"total_cents::bigint\"\n      down: \"total_cents::integer\"\n")
	assert.Equal(t, 3, strings.Count(string(out), "\n  - "), "only the operations on orders run (foreign key, type change, index drop):\n%s", out)
	p, err := opstest.Plan(context.Background(), pool, "orders.yaml", out)
	require.NoError(t, err, "%s", out)
	assert.Equal(t, "public.orders", p.TableName())
}

// The SQL files zdm lint's examples hold (shaped like Rails, Django and Alembic output)
// convert to migrations that zdm plan accepts against the schema they were written for,
// as `zdm lint --fix` prints them.
func TestLintExamplesConvertToPlannableMigrations(t *testing.T) {
	files, err := filepath.Glob("../../examples/lint/*.sql")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			t.Parallel()
			out, _, pool := convertLive(t, "testdata/lint_examples_schema.sql", file, convert.Options{})
			_, err := opstest.Plan(context.Background(), pool, filepath.Base(file)+".yaml", out)
			require.NoError(t, err, "zdm plan refuses what zdm convert wrote:\n%s", out)
		})
	}
}

// convertLive converts file as zdm convert does with DATABASE_URL: against the catalog of
// a database of its own holding schemaFile's schema, which it returns for planning.
func convertLive(t *testing.T, schemaFile, file string, opts convert.Options) ([]byte, []convert.Note, *pgxpool.Pool) {
	t.Helper()
	schema, err := os.ReadFile(schemaFile)
	require.NoError(t, err)
	src, err := os.ReadFile(file)
	require.NoError(t, err)
	_, pool := testenv.DB(t, "zdm_convert")
	ctx := context.Background()
	_, err = pool.Exec(ctx, string(schema))
	require.NoError(t, err)
	opts.Catalog = convert.DBCatalog{Ctx: ctx, Pool: pool}
	out, notes, err := convert.Convert(file, src, opts)
	require.NoError(t, err, "%s", out)
	for _, n := range notes {
		t.Logf("note: %s", n)
	}
	return out, notes, pool
}
