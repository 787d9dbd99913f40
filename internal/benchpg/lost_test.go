package benchpg

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zdmhq/zdm/internal/testenv"
)

// The lost-update check on pgbench's own tables: balances that match their history
// deltas pass, an account whose update was lost (history without the balance) and one
// changed behind history's back are both counted.
func TestCheckBalances(t *testing.T) {
	if testing.Short() {
		t.Skip("needs PostgreSQL")
	}
	dsn, _ := testenv.DB(t, "benchpg")
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	require.NoError(t, err)
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, `
CREATE TABLE pgbench_accounts (aid int PRIMARY KEY, bid int, abalance int, filler char(84));
CREATE TABLE pgbench_history (tid int, bid int, aid int, delta int, mtime timestamp, filler char(22));
INSERT INTO pgbench_accounts SELECT g, 1, 0, '' FROM generate_series(1, 5) g;`)
	require.NoError(t, err)

	b, err := CheckBalances(ctx, conn)
	require.NoError(t, err)
	assert.Equal(t, Balances{Accounts: 5}, b)

	// What pgbench's tpcb-like transaction does, three times on two accounts.
	for _, tx := range []struct{ aid, delta int }{{1, 100}, {1, -40}, {2, 5000}} {
		_, err = conn.Exec(ctx, `UPDATE pgbench_accounts SET abalance = abalance + $2 WHERE aid = $1;`, tx.aid, tx.delta)
		require.NoError(t, err)
		_, err = conn.Exec(ctx, `INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES (1, 1, $1, $2, now())`, tx.aid, tx.delta)
		require.NoError(t, err)
	}
	b, err = CheckBalances(ctx, conn)
	require.NoError(t, err)
	assert.Equal(t, Balances{Accounts: 5, History: 3}, b)

	// A lost update: history has the delta, the balance does not.
	_, err = conn.Exec(ctx, `INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES (1, 1, 3, 7, now())`)
	require.NoError(t, err)
	// A balance changed without history.
	_, err = conn.Exec(ctx, `UPDATE pgbench_accounts SET abalance = 1 WHERE aid = 4`)
	require.NoError(t, err)
	b, err = CheckBalances(ctx, conn)
	require.NoError(t, err)
	assert.Equal(t, Balances{Accounts: 5, Mismatched: 2, History: 4}, b)
}
