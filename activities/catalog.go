package activities

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/zdmhq/zdm/internal/planner"
	"github.com/zdmhq/zdm/internal/schema"
	"github.com/zdmhq/zdm/internal/sqlexpr"
)

// catalog answers the operations' questions from the live database while they plan.
// Answers are kept: a plan asks about the same type many times.
type catalog struct {
	ctx   context.Context
	pool  *pgxpool.Pool
	table *schema.Table
	types map[string]typeAnswer
}

type typeAnswer struct {
	t   schema.Type
	err error
}

func newCatalog(ctx context.Context, pool *pgxpool.Pool, t *schema.Table) *catalog {
	return &catalog{ctx: ctx, pool: pool, table: t, types: map[string]typeAnswer{}}
}

// Type implements ops.Catalog.
func (c *catalog) Type(name string) (schema.Type, error) {
	if a, ok := c.types[name]; ok {
		return a.t, a.err
	}
	t, err := schema.ResolveType(c.ctx, c.pool, name)
	c.types[name] = typeAnswer{t, err}
	return t, err
}

// StrictFunction implements ops.Catalog: every function of that name is strict.
func (c *catalog) StrictFunction(name []string) bool {
	var q string
	args := []any{name[len(name)-1]}
	if len(name) > 1 {
		q = ` AND pronamespace = to_regnamespace($2)`
		args = append(args, name[len(name)-2])
	}
	var strict *bool
	err := c.pool.QueryRow(c.ctx, `SELECT bool_and(proisstrict AND prokind = 'f' AND NOT proretset) FROM pg_proc WHERE proname = $1`+q, args...).Scan(&strict)
	return err == nil && strict != nil && *strict
}

// StrictOperator implements ops.Catalog: every operator of that name calls a strict
// function.
func (c *catalog) StrictOperator(name string) bool {
	var strict *bool
	err := c.pool.QueryRow(c.ctx, `SELECT bool_and(p.proisstrict) FROM pg_operator o JOIN pg_proc p ON p.oid = o.oprcode WHERE o.oprname = $1`, name).Scan(&strict)
	return err == nil && strict != nil && *strict
}

// Recomputable implements ops.Catalog. PostgreSQL itself decides, the way it does for a
// stored generated column (which must be immutable): the expression is tried as one on
// a temporary copy of the table's columns, in a transaction that is rolled back.
func (c *catalog) Recomputable(expr string) bool {
	x, err := sqlexpr.ParseExpr(expr)
	if err != nil || x.HasSubquery() {
		return false
	}
	bare, err := x.RewriteColumnRefs(func(parts []string) []string {
		if c.table != nil && len(parts) == 2 && parts[0] == c.table.Name {
			return parts[1:]
		}
		return nil
	})
	if err != nil {
		return false
	}
	var cols []string
	if c.table != nil {
		for _, col := range c.table.Columns {
			cols = append(cols, planner.Ident(col.Name)+" "+col.Type)
		}
	}
	ok := false
	err = pgx.BeginFunc(c.ctx, c.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(c.ctx, "CREATE TEMP TABLE zdm_probe ("+strings.Join(cols, ", ")+") ON COMMIT DROP"); err != nil {
			return err
		}
		_, err := tx.Exec(c.ctx, "ALTER TABLE zdm_probe ADD COLUMN zdm_probe_value text GENERATED ALWAYS AS (("+bare+")::text) STORED")
		ok = err == nil
		return errRollback
	})
	if err != nil && !errors.Is(err, errRollback) {
		return false
	}
	return ok
}

// errRollback ends a transaction that only tried something.
var errRollback = fmt.Errorf("zdm: rolled back on purpose")

// canQuietTriggers says whether the role may set session_replication_role, which keeps
// the table's own triggers from firing during the backfill.
func canQuietTriggers(ctx context.Context, pool *pgxpool.Pool) bool {
	var ok bool
	err := pool.QueryRow(ctx, `SELECT rolsuper OR has_parameter_privilege('session_replication_role', 'SET')
		FROM pg_roles WHERE rolname = current_user`).Scan(&ok)
	return err == nil && ok
}

// rowSecurityActive says whether row-level security filters what this role sees of t.
func rowSecurityActive(ctx context.Context, pool *pgxpool.Pool, t *schema.Table) bool {
	var on bool
	err := pool.QueryRow(ctx, `SELECT row_security_active($1::regclass)`, t.Ident()).Scan(&on)
	return err != nil || on
}

// IndexMethod implements ops.Catalog.
func (c *catalog) IndexMethod(name string) bool {
	var ok bool
	err := c.pool.QueryRow(c.ctx, `SELECT EXISTS (SELECT 1 FROM pg_am WHERE amname = $1 AND amtype = 'i')`, name).Scan(&ok)
	return err == nil && ok
}
