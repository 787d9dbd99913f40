package spec_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zdmhq/zdm/internal/spec"
)

func TestParseParallelism(t *testing.T) {
	m, err := spec.Parse("m.yaml", []byte("name: a\ntable: t\noperations:\n  - rename_column: {column: a, to: b}\nbackfill: {parallelism: 4}\n"))
	require.NoError(t, err)
	assert.Equal(t, spec.Parallelism(4), m.Backfill.Parallelism)

	m, err = spec.Parse("m.yaml", []byte("name: a\ntable: t\noperations:\n  - rename_column: {column: a, to: b}\n"))
	require.NoError(t, err)
	assert.Zero(t, m.Backfill.Parallelism, "left out, the backfill keeps its one cursor")

	assertRefused(t, []refusal{
		{"too many partitions", "name: a\ntable: t\noperations:\n  - rename_column: {column: a, to: b}\nbackfill:\n  parallelism: 17\n",
			[]string{"m.yaml:6: backfill.parallelism: 17 is out of range", "(fix: use a number from 1 (one cursor) to 16"}},
		{"negative", "name: a\ntable: t\noperations:\n  - rename_column: {column: a, to: b}\nbackfill: {parallelism: -2}\n",
			[]string{"m.yaml:5: backfill.parallelism: -2 is out of range"}},
		{"not a number", "name: a\ntable: t\noperations:\n  - rename_column: {column: a, to: b}\nbackfill: {parallelism: many}\n",
			[]string{"m.yaml:5"}},
	})
}
