package ops_test

import (
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"

	"github.com/zdmhq/zdm/internal/ops/opstest"
)

// nullable is a case that changes col's nullability on purpose.
func nullable(col string, c opstest.Case) opstest.Case {
	c.Renulls = append(c.Renulls, col)
	return c
}

func TestSetNotNullLifecycle(t *testing.T) {
	t.Parallel()
	for _, c := range []opstest.Case{
		nullable("note", index("no NULL left", opstest.Accounts("note text DEFAULT 'none' := 'n' || g"), `set_not_null: {column: note}`,
			func(t *testing.T, pool *pgxpool.Pool) {
				assert.True(t, opstest.Scalar[bool](t, pool, `SELECT attnotnull FROM pg_attribute WHERE attrelid = 'accounts'::regclass AND attname = 'note'`))
				assert.Equal(t, "23502", opstest.ExecErr(t, pool, `UPDATE accounts SET note = NULL WHERE aid = 1`))
			})),
		refusedIndex("already NOT NULL", opstest.Accounts(), `set_not_null: {column: name}`, `column "name" is already NOT NULL`),
	} {
		t.Run(c.Name, func(t *testing.T) {
			t.Parallel()
			opstest.Run(t, c)
		})
	}
}
