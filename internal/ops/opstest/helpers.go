package opstest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/zdmhq/zdm/internal/testenv"
)

// Col is one column a write sets and its value.
type Col struct {
	Name  string
	Value any
}

// Writes builds a Writer that inserts and updates by turns, the way an application's
// code does: an even call inserts a row with key base+i and the columns insert(i) gives;
// an odd call updates the row with key 1+(i*7919)%hot, setting what update(i) gives.
// With hot at most the number of rows Setup inserted, updates always find their row;
// rows past hot are never written by the application, so checks can expect them
// untouched. A nil insert or update makes every call do the other.
func Writes(table, key string, base, hot int64, insert, update func(i int) []Col) Writer {
	tbl := quoteTable(table)
	k := pgx.Identifier{key}.Sanitize()
	return func(ctx context.Context, pool *pgxpool.Pool, i int) error {
		doInsert := update == nil || (insert != nil && i%2 == 0)
		if doInsert {
			cols := insert(i)
			names := []string{k}
			params := []string{"$1"}
			args := []any{base + int64(i)}
			for _, c := range cols {
				names = append(names, pgx.Identifier{c.Name}.Sanitize())
				args = append(args, c.Value)
				params = append(params, fmt.Sprintf("$%d", len(args)))
			}
			_, err := pool.Exec(ctx, fmt.Sprintf("INSERT INTO %s (%s) VALUES (%s)", tbl, strings.Join(names, ", "), strings.Join(params, ", ")), args...)
			if err != nil {
				return fmt.Errorf("INSERT %s=%d: %w", key, base+int64(i), err)
			}
			return nil
		}
		cols := update(i)
		target := 1 + (int64(i)*7919)%hot
		args := []any{target}
		var sets []string
		for _, c := range cols {
			args = append(args, c.Value)
			sets = append(sets, fmt.Sprintf("%s = $%d", pgx.Identifier{c.Name}.Sanitize(), len(args)))
		}
		tag, err := pool.Exec(ctx, fmt.Sprintf("UPDATE %s SET %s WHERE %s = $1", tbl, strings.Join(sets, ", "), k), args...)
		if err != nil {
			return fmt.Errorf("UPDATE %s=%d: %w", key, target, err)
		}
		if tag.RowsAffected() != 1 {
			return fmt.Errorf("UPDATE %s=%d: updated %d rows, want 1", key, target, tag.RowsAffected())
		}
		return nil
	}
}

func quoteTable(table string) string {
	sch, name := splitTable(table)
	return pgx.Identifier{sch, name}.Sanitize()
}

// Scalar runs a query returning one value.
func Scalar[T any](t testing.TB, pool *pgxpool.Pool, sql string, args ...any) T {
	t.Helper()
	var v T
	require.NoError(t, pool.QueryRow(context.Background(), sql, args...).Scan(&v), sql)
	return v
}

// Exec runs SQL that must succeed.
func Exec(t testing.TB, pool *pgxpool.Pool, sql string, args ...any) {
	t.Helper()
	_, err := pool.Exec(context.Background(), sql, args...)
	require.NoError(t, err, sql)
}

// ExecErr runs SQL and returns its SQLSTATE, "" when it succeeded.
func ExecErr(t testing.TB, pool *pgxpool.Pool, sql string, args ...any) string {
	t.Helper()
	_, err := pool.Exec(context.Background(), sql, args...)
	if err == nil {
		return ""
	}
	var pe *pgconn.PgError
	require.ErrorAs(t, err, &pe, sql)
	return pe.Code
}

// Role creates a role of its own for t (NOLOGIN, random name) and drops it when t's
// tests are done; roles are cluster-wide, so one serves every case of a test. Where the
// test's PostgreSQL user may not create roles (make test's zdm user has CREATEDB only),
// it returns "public": grants to PUBLIC are column and table privileges all the same.
// Objects granted to the role must be gone (their databases dropped) before it is.
func Role(t *testing.T) string {
	t.Helper()
	testenv.Need(t, "DATABASE_URL")
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, os.Getenv("DATABASE_URL"))
	require.NoError(t, err)
	defer conn.Close(ctx)
	name := "zdm_ops_" + testenv.Suffix()
	_, err = conn.Exec(ctx, "CREATE ROLE "+name+" NOLOGIN")
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "42501" {
		t.Logf("cannot create a role here (%s): privileges are granted to PUBLIC instead", pe.Message)
		return "public"
	}
	require.NoError(t, err)
	t.Cleanup(func() {
		conn, err := pgx.Connect(ctx, os.Getenv("DATABASE_URL"))
		if err != nil {
			t.Errorf("drop role %s: %v", name, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP ROLE IF EXISTS "+name); err != nil {
			t.Errorf("drop role %s: %v", name, err)
		}
	})
	return name
}
