package benchpg

import (
	"context"

	"github.com/jackc/pgx/v5"
)

// Balances compares every account's abalance with the sum of its pgbench_history deltas.
// pgbench -i starts every balance at 0 with an empty history, and each tpcb-like
// transaction adds delta to one account and inserts that delta into history in the same
// transaction, so the two agree for every account unless an update was lost (or a row
// was changed by something else). Accounts holds the number of accounts, Mismatched those
// whose balance differs from their history, History the rows of pgbench_history.
type Balances struct {
	Accounts, Mismatched, History int64
}

// LostUpdatesQuery is the comparison Balances runs; pgbench_history is summed per aid
// once, then joined to every account.
const LostUpdatesQuery = `
SELECT count(*),
       count(*) FILTER (WHERE a.abalance::bigint <> coalesce(h.total, 0)),
       (SELECT count(*) FROM pgbench_history)
  FROM pgbench_accounts a
  LEFT JOIN (SELECT aid, sum(delta)::bigint AS total FROM pgbench_history GROUP BY aid) h USING (aid)`

// CheckBalances runs LostUpdatesQuery.
func CheckBalances(ctx context.Context, conn *pgx.Conn) (Balances, error) {
	var b Balances
	err := conn.QueryRow(ctx, LostUpdatesQuery).Scan(&b.Accounts, &b.Mismatched, &b.History)
	return b, err
}
