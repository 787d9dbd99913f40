package schema_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zdmhq/zdm/internal/schema"
	"github.com/zdmhq/zdm/internal/testenv"
)

func TestResolveTypeKnowsWhichTypesHaveEquality(t *testing.T) {
	t.Parallel()
	_, pool := testenv.DB(t, "zdm_types")
	ctx := context.Background()
	_, err := pool.Exec(ctx, `CREATE TYPE mood AS ENUM ('ok', 'sad'); CREATE DOMAIN doc AS json; CREATE TYPE pair AS (a int, b json)`)
	require.NoError(t, err)
	for name, want := range map[string]schema.Type{
		"integer":          {Name: "integer", Comparable: true},
		"varchar(20)":      {Name: "character varying(20)", Comparable: true, Collatable: true},
		"numeric(12,2)":    {Name: "numeric(12,2)", Comparable: true},
		"jsonb":            {Name: "jsonb", Comparable: true},
		"int[]":            {Name: "integer[]", Comparable: true},
		"mood":             {Name: "mood", Comparable: true},
		"json":             {Name: "json", Comparable: false},
		"json[]":           {Name: "json[]", Comparable: false},
		"point":            {Name: "point", Comparable: false},
		"xml":              {Name: "xml", Comparable: false},
		"doc":              {Name: "doc", Comparable: false},
		"pair":             {Name: "pair", Comparable: false},
		"timestamptz":      {Name: "timestamp with time zone", Comparable: true},
		"text":             {Name: "text", Comparable: true, Collatable: true},
		"tsrange":          {Name: "tsrange", Comparable: true},
		"double precision": {Name: "double precision", Comparable: true},
	} {
		got, err := schema.ResolveType(ctx, pool, name)
		require.NoError(t, err, name)
		assert.Equal(t, want, got, name)
	}
	_, err = schema.ResolveType(ctx, pool, "bigintt")
	assert.EqualError(t, err, `type "bigintt" does not exist`)
}

// A table loaded a moment ago has never been analyzed: its estimate comes from the
// planner (the table's size on disk), not "about 0 rows".
func TestInspectEstimatesATableNeverAnalyzed(t *testing.T) {
	t.Parallel()
	_, pool := testenv.DB(t, "zdm_estimate")
	ctx := context.Background()
	_, err := pool.Exec(ctx, `CREATE TABLE fresh (id bigint PRIMARY KEY, v text) WITH (autovacuum_enabled = off);
		INSERT INTO fresh SELECT g, 'value ' || g FROM generate_series(1, 100000) g`)
	require.NoError(t, err)
	tbl, err := schema.Inspect(ctx, pool, "public", "fresh")
	require.NoError(t, err)
	assert.InDelta(t, 100_000, tbl.EstimatedRows, 30_000)
}
