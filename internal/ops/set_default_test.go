package ops_test

import (
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"

	"github.com/zdmhq/zdm/internal/ops/opstest"
)

func TestSetDefaultLifecycle(t *testing.T) {
	t.Parallel()
	for _, c := range []opstest.Case{
		redefault("abalance", index("a constant", opstest.Accounts(), `set_default: {column: abalance, default: "100"}`,
			func(t *testing.T, pool *pgxpool.Pool) {
				opstest.Exec(t, pool, `INSERT INTO accounts (aid, bid, name) VALUES (9000001, 1, 'defaulted')`)
				assert.Equal(t, int32(100), opstest.Scalar[int32](t, pool, `SELECT abalance FROM accounts WHERE aid = 9000001`))
			})),
		redefault("created_at", index("a volatile default, no rewrite", opstest.Accounts("created_at timestamptz"), `set_default: {column: created_at, default: "now()"}`,
			func(t *testing.T, pool *pgxpool.Pool) {
				assert.Zero(t, opstest.Scalar[int64](t, pool, `SELECT count(*) FROM accounts WHERE aid <= 5000 AND created_at IS NOT NULL`), "existing rows are not rewritten")
				opstest.Exec(t, pool, `INSERT INTO accounts (aid, bid, name) VALUES (9000001, 1, 'defaulted')`)
				assert.True(t, opstest.Scalar[bool](t, pool, `SELECT created_at IS NOT NULL FROM accounts WHERE aid = 9000001`))
			})),
		refusedIndex("a default of another type", opstest.Accounts(), `set_default: {column: abalance, default: "'lots'"}`,
			`operations[0].set_default.default: invalid input syntax for type integer: "lots"`),
		refusedIndex("an identity column", opstest.Accounts("ticket bigint GENERATED ALWAYS AS IDENTITY"), `set_default: {column: ticket, default: "1"}`,
			`column "ticket" is a generated or identity column`),
	} {
		t.Run(c.Name, func(t *testing.T) {
			t.Parallel()
			opstest.Run(t, c)
		})
	}
}

// redefault marks c as changing col's default on purpose.
func redefault(col string, c opstest.Case) opstest.Case {
	c.Redefaults = append(c.Redefaults, col)
	return c
}
