package opstest

// Helpers for the cases of operations on types (create_enum, add_enum_value) and raw SQL.

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"
)

// EnumLabels lists the values of enum type typ (as regtype reads it: mood, app."Mood")
// in their sort order; nil when there is no such type.
func EnumLabels(t testing.TB, pool *pgxpool.Pool, typ string) []string {
	t.Helper()
	rows, err := pool.Query(context.Background(),
		`SELECT enumlabel FROM pg_enum WHERE enumtypid = to_regtype($1) ORDER BY enumsortorder`, typ)
	require.NoError(t, err)
	labels, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	return labels
}
