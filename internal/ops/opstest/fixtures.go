package opstest

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5/pgxpool"
)

// The accounts fixture: pgbench_accounts' shape with a name and an email.
const (
	// AccountsRows is how many rows Accounts inserts (keys 1 to AccountsRows).
	AccountsRows = 5000
	// Hot is how many of them (keys 1 to Hot) application writes update; the rows past
	// it are never written by the application, so checks can expect their seeded values.
	Hot = 1000
)

// Accounts is SQL creating public.accounts
//
//	(aid bigint PRIMARY KEY, bid int NOT NULL, abalance int NOT NULL DEFAULT 0,
//	 name text NOT NULL, email text)
//
// and filling it with AccountsRows rows, row g holding bid g % 10,
// abalance (g * 7) % 100000, name 'name <g>' and email 'user<g>@example.com' (NULL
// for every fifth row). Each extra is one more column definition, optionally followed
// by " := " and an SQL expression over g that seeds it (else its default does).
func Accounts(extra ...string) string {
	defs := []string{"aid bigint PRIMARY KEY", "bid int NOT NULL", "abalance int NOT NULL DEFAULT 0", "name text NOT NULL", "email text"}
	cols := []string{"aid", "bid", "abalance", "name", "email"}
	vals := []string{"g", "g % 10", "(g * 7) % 100000", "'name ' || g", "CASE WHEN g % 5 = 0 THEN NULL ELSE 'user' || g || '@example.com' END"}
	for _, e := range extra {
		def, seed, ok := strings.Cut(e, " := ")
		defs = append(defs, def)
		if ok {
			cols = append(cols, strings.Fields(def)[0])
			vals = append(vals, seed)
		}
	}
	return fmt.Sprintf("CREATE TABLE accounts (\n  %s\n);\nINSERT INTO accounts (%s)\n  SELECT %s FROM generate_series(1, %d) g;\n",
		strings.Join(defs, ",\n  "), strings.Join(cols, ", "), strings.Join(vals, ", "), AccountsRows)
}

// Email is the unique email a writer's i-th write uses.
func Email(who string, i int) string { return fmt.Sprintf("%s%d@example.com", who, i) }

// Alternate makes one Writer of two: calls 0 and 1 go to a, 2 and 3 to b, and so on,
// so that with Writes each of them both inserts and updates.
func Alternate(a, b Writer) Writer {
	return func(ctx context.Context, pool *pgxpool.Pool, i int) error {
		if (i/2)%2 == 0 {
			return a(ctx, pool, i)
		}
		return b(ctx, pool, i)
	}
}
