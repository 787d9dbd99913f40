package pgexec

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/zdmhq/zdm/internal/planner"
)

// DatabaseIdentity reads which database q is connected to: the cluster's system
// identifier and the database's name, never a host, user or password.
//
// The system identifier comes from pg_control_system(): chosen by initdb, it stays the
// same across restarts, upgrades in place and failovers (a streaming replica has its
// primary's), and differs between clusters made by separate initdb runs. PostgreSQL 15
// lets any role call it, but a provider may revoke it; where the role may not
// (insufficient_privilege) or the server has no such function, SystemID is "" and only
// the database name is compared (planner.Identity.Same). Nothing a plain role can read
// does better: data_directory needs pg_read_all_settings, the server address depends on
// the route taken to it, and a database's OID repeats from cluster to cluster.
//
// Its limit: a physical copy of the cluster (pg_basebackup, a restored disk snapshot)
// keeps the system identifier, so a staging clone of production with the same database
// name is taken for the same database. A dump restored into another cluster is not.
func DatabaseIdentity(ctx context.Context, q interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}) (planner.Identity, error) {
	var id planner.Identity
	if err := q.QueryRow(ctx, `SELECT current_database()`).Scan(&id.Database); err != nil {
		return id, fmt.Errorf("read the database's name: %w", err)
	}
	err := q.QueryRow(ctx, `SELECT system_identifier::text FROM pg_control_system()`).Scan(&id.SystemID)
	var pe *pgconn.PgError
	if errors.As(err, &pe) && (pe.Code == "42501" || pe.Code == "42883") {
		return id, nil
	}
	if err != nil {
		return id, fmt.Errorf("read the cluster's system identifier: %w", err)
	}
	return id, nil
}
