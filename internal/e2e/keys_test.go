package e2e

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zdmhq/zdm/workflows"
)

// Every kind of key pages: integer, uuid, text (with a collation that is not byte
// order), composite, and a unique NOT NULL column when there is no primary key.
func TestEveryKindOfKeyIsPaged(t *testing.T) {
	t.Parallel()
	dsn, pool := testDB(t)
	srv := startDevServer(t)
	queue := "zdm-e2e-" + randomSuffix()
	inProcessWorker(t, srv.Client, queue, dsn, false)
	const rows = 20_000
	tables := map[string]string{
		"k_uuid":      `CREATE TABLE k_uuid AS SELECT gen_random_uuid() AS id, 'V' || g AS v FROM generate_series(1, %d) g; ALTER TABLE k_uuid ADD PRIMARY KEY (id)`,
		"k_text":      `CREATE TABLE k_text AS SELECT 'key-' || md5(g::text) COLLATE "en_US" AS id, 'V' || g AS v FROM generate_series(1, %d) g; ALTER TABLE k_text ADD PRIMARY KEY (id)`,
		"k_composite": `CREATE TABLE k_composite AS SELECT g %% 7 AS a, 'x' || (g / 7) AS b, 'V' || g AS v FROM generate_series(1, %d) g; ALTER TABLE k_composite ADD PRIMARY KEY (a, b)`,
		"k_unique":    `CREATE TABLE k_unique AS SELECT g::bigint AS code, 'V' || g AS v FROM generate_series(1, %d) g; ALTER TABLE k_unique ALTER code SET NOT NULL; CREATE UNIQUE INDEX k_unique_code ON k_unique (code)`,
	}
	for table, ddl := range tables {
		sql := fmt.Sprintf(ddl, rows)
		if _, err := pool.Exec(t.Context(), sql); err != nil && table == "k_text" {
			// en_US may be missing; any non-C collation shows the same thing.
			sql = fmt.Sprintf(`CREATE TABLE k_text AS SELECT 'key-' || md5(g::text) AS id, 'V' || g AS v FROM generate_series(1, %d) g; ALTER TABLE k_text ADD PRIMARY KEY (id)`, rows)
			exec1(t, pool, sql)
		} else {
			require.NoError(t, err, sql)
		}
		exec1(t, pool, "ANALYZE "+table)
	}
	for table := range tables {
		m := migration(t, fmt.Sprintf("name: keys-%s\ntable: %s\noperations:\n  - add_column: {column: v_lower, type: text, backfill: \"lower(v)\", not_null: true, default: \"''\"}\nbackfill: {batch_size: 1500}\ngates: []\n",
			map[string]string{"k_uuid": "uuid", "k_text": "text", "k_composite": "composite", "k_unique": "unique"}[table], table))
		run := start(t, srv.Client, queue, m, workflows.Options{SliceBudget: time.Second})
		res, err := result(t, run, 2*time.Minute)
		require.NoError(t, err, table)
		assert.Equal(t, workflows.PhaseCompleted, res.Status, table)
		assert.EqualValues(t, rows, res.Progress.RowsDone, "%s: every row exactly once", table)
		assert.GreaterOrEqual(t, res.Progress.Batches, int64(rows/1500), table)
		assert.Zero(t, scalar[int64](t, pool, "SELECT count(*) FROM "+table+" WHERE v_lower IS DISTINCT FROM lower(v)"), table)
	}
}
