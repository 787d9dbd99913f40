package ops_test

import (
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"

	"github.com/zdmhq/zdm/internal/ops/opstest"
)

func TestDropDefaultLifecycle(t *testing.T) {
	t.Parallel()
	for _, c := range []opstest.Case{
		redefault("note", index("dropped at contract", opstest.Accounts("note text DEFAULT 'none'"), `drop_default: {column: note}`,
			func(t *testing.T, pool *pgxpool.Pool) {
				opstest.Exec(t, pool, `INSERT INTO accounts (aid, bid, name) VALUES (9000001, 1, 'no default')`)
				assert.True(t, opstest.Scalar[bool](t, pool, `SELECT note IS NULL FROM accounts WHERE aid = 9000001`))
			})),
		refusedIndex("no default to drop", opstest.Accounts(), `drop_default: {column: email}`, `column "email" has no default to drop`),
	} {
		t.Run(c.Name, func(t *testing.T) {
			t.Parallel()
			opstest.Run(t, c)
		})
	}
}
