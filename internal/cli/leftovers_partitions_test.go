package cli

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zdmhq/zdm/internal/pgexec"
	"github.com/zdmhq/zdm/internal/testenv"
)

// A partitioned backfill commits its rows to its partitions: zdm leftovers counts them.
func TestLeftoversCountAPartitionedBackfillsRows(t *testing.T) {
	_, pool := testenv.DB(t, "zdm_cli_parts")
	ctx := context.Background()
	require.NoError(t, pgexec.EnsureState(ctx, pool))
	_, err := pgexec.Claim(ctx, pool, "m", []string{"public.t"}, "run-1")
	require.NoError(t, err)
	_, err = pgexec.PreparePartitions(ctx, pool, "m", "run-1", []pgexec.Cursor{{"50"}}, pgexec.Cursor{"100"})
	require.NoError(t, err)
	_, err = pool.Exec(ctx, `UPDATE zdm.backfill_partitions SET rows_done = 30 WHERE migration = 'm'`)
	require.NoError(t, err)

	claims, err := readClaims(ctx, pool, "m")
	require.NoError(t, err)
	require.Len(t, claims, 1)
	assert.EqualValues(t, 60, claims[0].RowsDone, "both partitions' rows")
}
