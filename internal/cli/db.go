package cli

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// db connects to the database in DATABASE_URL once per invocation: the database the
// worker migrates, whose zdm schema holds what was applied. what says, in the usage
// error, why the command needs it.
func (e *env) db(ctx context.Context, what string) (*pgxpool.Pool, error) {
	if e.pool != nil {
		return e.pool, nil
	}
	dsn := e.getenv("DATABASE_URL", "")
	if dsn == "" {
		return nil, usageError("%s: set DATABASE_URL to the database the worker migrates", what)
	}
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, usageError("DATABASE_URL is not a valid PostgreSQL connection string")
	}
	cfg.ConnConfig.RuntimeParams["application_name"] = "zdm-cli"
	cfg.MaxConns = 2
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err == nil {
		if err = pool.Ping(ctx); err != nil {
			pool.Close()
		}
	}
	if err != nil {
		return nil, exitf(ExitFailed, "cannot reach PostgreSQL at %s:%d: %v", cfg.ConnConfig.Host, cfg.ConnConfig.Port, err)
	}
	e.pool = pool
	return pool, nil
}
