package ops_test

import (
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/zdmhq/zdm/internal/ops/opstest"
)

func TestDropNotNullLifecycle(t *testing.T) {
	t.Parallel()
	for _, c := range []opstest.Case{
		nullable("name", index("at contract", opstest.Accounts(), `drop_not_null: {column: name}`,
			func(t *testing.T, pool *pgxpool.Pool) {
				opstest.Exec(t, pool, `UPDATE accounts SET name = NULL WHERE aid = 1`)
			})),
		refusedIndex("a key column", opstest.Accounts(), `drop_not_null: {column: aid}`, `column "aid" is part of the key`),
		refusedIndex("already nullable", opstest.Accounts(), `drop_not_null: {column: email}`, `column "email" already allows NULL`),
	} {
		t.Run(c.Name, func(t *testing.T) {
			t.Parallel()
			opstest.Run(t, c)
		})
	}
}
