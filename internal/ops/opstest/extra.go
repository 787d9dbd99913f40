package opstest

// Helpers for cases' setups and checks: what an attached object is after contract, and
// whether it still does its job.

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zdmhq/zdm/internal/testenv"
)

// Reshape rewrites the CREATE TABLE of setup (Accounts' SQL): kind goes between CREATE
// and TABLE ("UNLOGGED"), clause after the column list ("PARTITION BY RANGE (aid)",
// "INHERITS (ledger)"), and then runs right after the table is created, before the rows
// go in (its partitions).
func Reshape(setup, kind, clause, then string) string {
	if kind != "" {
		setup = strings.Replace(setup, "CREATE TABLE", "CREATE "+kind+" TABLE", 1)
	}
	return strings.Replace(setup, "\n);\n", "\n) "+clause+";\n"+then+"\n", 1)
}

// Constraint describes a constraint of table: its definition and whether it is
// deferrable, initially deferred and validated; "missing" when there is none.
func Constraint(t testing.TB, pool *pgxpool.Pool, table, name string) string {
	t.Helper()
	return Scalar[string](t, pool, `SELECT coalesce((SELECT format('%s deferrable=%s deferred=%s validated=%s',
		pg_get_constraintdef(oid), condeferrable::text, condeferred::text, convalidated::text)
		FROM pg_constraint WHERE conrelid = $1::regclass AND conname = $2), 'missing')`, table, name)
}

// Index is an index's definition ("missing" when there is none); it must be valid and
// ready.
func Index(t testing.TB, pool *pgxpool.Pool, name string) string {
	t.Helper()
	var def string
	var valid bool
	require.NoError(t, pool.QueryRow(context.Background(), `SELECT coalesce(pg_get_indexdef(c.oid), 'missing'), coalesce(i.indisvalid AND i.indisready, false)
		FROM (SELECT to_regclass($1) AS oid) c LEFT JOIN pg_index i ON i.indexrelid = c.oid`, name).Scan(&def, &valid))
	if def != "missing" {
		assert.True(t, valid, "index %s is valid and ready", name)
	}
	return def
}

// ByIndex runs count, a query returning one number, once with sequential scans off,
// where its plan must read index, and once with index scans off: both must give the
// same number, which it returns. An index that misses rows, or holds stale ones,
// answers differently from the table.
func ByIndex(t testing.TB, pool *pgxpool.Pool, index, count string, args ...any) int64 {
	t.Helper()
	ctx := context.Background()
	tx, err := pool.Begin(ctx)
	require.NoError(t, err)
	defer func() { _ = tx.Rollback(ctx) }()
	_, err = tx.Exec(ctx, `SET LOCAL enable_seqscan = off`)
	require.NoError(t, err)
	rows, err := tx.Query(ctx, "EXPLAIN "+count, args...)
	require.NoError(t, err)
	plan, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	assert.Contains(t, strings.Join(plan, "\n"), index, "the query reads index %s", index)
	var viaIndex, viaTable int64
	require.NoError(t, tx.QueryRow(ctx, count, args...).Scan(&viaIndex), count)
	_, err = tx.Exec(ctx, `SET LOCAL enable_seqscan = on; SET LOCAL enable_indexscan = off; SET LOCAL enable_bitmapscan = off; SET LOCAL enable_indexonlyscan = off`)
	require.NoError(t, err)
	require.NoError(t, tx.QueryRow(ctx, count, args...).Scan(&viaTable), count)
	assert.Equal(t, viaTable, viaIndex, "index %s answers %q as the table does", index, count)
	return viaIndex
}

// TxErr runs statements in one transaction and commits it; it returns the SQLSTATE of
// the first failure, with " at commit" when the commit failed (a deferred constraint),
// or "" when everything succeeded.
func TxErr(t testing.TB, pool *pgxpool.Pool, statements ...string) string {
	t.Helper()
	ctx := context.Background()
	tx, err := pool.Begin(ctx)
	require.NoError(t, err)
	defer func() { _ = tx.Rollback(ctx) }()
	code := func(err error) string {
		var pe *pgconn.PgError
		require.ErrorAs(t, err, &pe)
		return pe.Code
	}
	for _, s := range statements {
		if _, err := tx.Exec(ctx, s); err != nil {
			return code(err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return code(err) + " at commit"
	}
	return ""
}

// Collation is the collation of table.col ("" for its type's default).
func Collation(t testing.TB, pool *pgxpool.Pool, table, col string) string {
	t.Helper()
	return Scalar[string](t, pool, `SELECT coalesce((SELECT co.collname::text FROM pg_attribute a JOIN pg_type ty ON ty.oid = a.atttypid
		JOIN pg_collation co ON co.oid = a.attcollation
		WHERE a.attrelid = $1::regclass AND a.attname = $2 AND NOT a.attisdropped AND a.attcollation <> ty.typcollation), '')`, table, col)
}

// ColumnGrants lists the privileges on table.col granted to role, "SELECT*" for one
// held WITH GRANT OPTION, comma-separated in order.
func ColumnGrants(t testing.TB, pool *pgxpool.Pool, table, col, role string) string {
	t.Helper()
	return Scalar[string](t, pool, `SELECT coalesce(string_agg(x.privilege_type || CASE WHEN x.is_grantable THEN '*' ELSE '' END, ',' ORDER BY x.privilege_type), '')
		FROM pg_attribute a, aclexplode(a.attacl) x
		WHERE a.attrelid = $1::regclass AND a.attname = $2 AND NOT a.attisdropped AND x.grantee = $3::regrole`, table, col, role)
}

// GrantRole is a role that column privileges WITH GRANT OPTION can be granted to: role
// (what Role gave), or, when that is PUBLIC (the test's user may not create roles, and a
// grant option cannot go to PUBLIC), the predefined role pg_monitor. The grants live in
// the case's own database and go with it.
func GrantRole(role string) string {
	if role != "public" {
		return role
	}
	return "pg_monitor"
}

// Prerequisites skips t when c's Setup needs what the test's PostgreSQL user may not do
// (CREATE PUBLICATION).
func Prerequisites(t *testing.T, c Case) {
	t.Helper()
	if strings.Contains(c.Setup, "CREATE PUBLICATION") {
		NeedPublication(t)
	}
}

// NeedPublication skips t when the test's PostgreSQL user cannot create a publication
// for a table of its own (it needs CREATE on the database, or to be a superuser).
func NeedPublication(t *testing.T) {
	t.Helper()
	_, pool := testenv.DB(t, "zdm_pubcheck")
	_, err := pool.Exec(context.Background(), `CREATE TABLE t (id int PRIMARY KEY); CREATE PUBLICATION p FOR TABLE t`)
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "42501" {
		t.Skipf("the test's role cannot create a publication (%s): CREATE PUBLICATION needs the table's owner with CREATE on the database, or a superuser", pe.Message)
	}
	require.NoError(t, err, "CREATE PUBLICATION")
}
