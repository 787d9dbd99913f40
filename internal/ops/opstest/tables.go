package opstest

// Writers and checks for the operations on whole tables and their columns (create,
// drop and rename a table, drop a column or an index).

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Rows is a Writer for code that uses the accounts fixture's rows through the name
// table (a table or a view over it): by turns it inserts a row with key base+i,
// leaving abalance to its default (0) and reading it back with RETURNING, updates a
// hot row (1 to Hot) by key, and deletes the row it inserted two calls before. Every
// write must affect exactly one row and return what was written.
func Rows(table string, base int64) Writer {
	tbl := quoteTable(table)
	return func(ctx context.Context, pool *pgxpool.Pool, i int) error {
		switch i % 3 {
		case 0:
			key := base + int64(i)
			var got, balance int64
			err := pool.QueryRow(ctx, fmt.Sprintf(`INSERT INTO %s (aid, bid, name, email) VALUES ($1, $2, $3, $4) RETURNING aid, abalance`, tbl),
				key, i%10, fmt.Sprintf("writer %d", i), Email("w", i)).Scan(&got, &balance)
			switch {
			case err != nil:
				return fmt.Errorf("INSERT INTO %s aid=%d: %w", table, key, err)
			case got != key || balance != 0:
				return fmt.Errorf("INSERT INTO %s aid=%d RETURNING aid, abalance: got %d, %d (the default is 0)", table, key, got, balance)
			}
		case 1:
			key := 1 + (int64(i)*7919)%Hot
			var balance int64
			err := pool.QueryRow(ctx, fmt.Sprintf(`UPDATE %s SET abalance = $2 WHERE aid = $1 RETURNING abalance`, tbl), key, i).Scan(&balance)
			if err != nil || balance != int64(i) {
				return fmt.Errorf("UPDATE %s aid=%d RETURNING abalance: got %d: %w", table, key, balance, err)
			}
		default:
			key := base + int64(i-2)
			tag, err := pool.Exec(ctx, fmt.Sprintf(`DELETE FROM %s WHERE aid = $1`, tbl), key)
			if err != nil {
				return fmt.Errorf("DELETE FROM %s aid=%d: %w", table, key, err)
			}
			if tag.RowsAffected() != 1 {
				return fmt.Errorf("DELETE FROM %s aid=%d: deleted %d rows, want 1", table, key, tag.RowsAffected())
			}
		}
		return nil
	}
}

// Filled wraps an insert-only Writer of new code that leaves column col of table out:
// after each insert with key base+i, the row must hold want in col while the column
// exists (a trigger of zdm's fills it), and the column may be gone (after contract).
func Filled(w Writer, table, key string, base int64, col, want string) Writer {
	tbl := quoteTable(table)
	return func(ctx context.Context, pool *pgxpool.Pool, i int) error {
		if err := w(ctx, pool, i); err != nil {
			return err
		}
		var got *string
		var has bool
		err := pool.QueryRow(ctx, fmt.Sprintf(`SELECT to_jsonb(t) ? $2, to_jsonb(t) ->> $2 FROM %s t WHERE %s = $1`, tbl, pgx.Identifier{key}.Sanitize()),
			base+int64(i), col).Scan(&has, &got)
		switch {
		case err != nil:
			return fmt.Errorf("read back %s=%d: %w", key, base+int64(i), err)
		case has && (got == nil || *got != want):
			return fmt.Errorf("row %s=%d, written without %s, holds %v there, want %q", key, base+int64(i), col, got, want)
		}
		return nil
	}
}
