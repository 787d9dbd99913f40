package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"

	"github.com/zdmhq/zdm/activities"
	"github.com/zdmhq/zdm/workflows"
)

var envNameRE = regexp.MustCompile(`^[A-Z_][A-Z0-9_]*$`)

// targetEnvs reads ZDM_TARGET_ENVS: the names of the environment variables holding the
// URLs of the fleet databases this worker serves. A fleet can only name these, so a
// workflow input cannot make the worker read any other variable.
func targetEnvs(getenv func(string) string) ([]string, error) {
	raw := strings.TrimSpace(getenv("ZDM_TARGET_ENVS"))
	if raw == "" {
		return nil, nil
	}
	var out []string
	seen := map[string]bool{}
	for _, name := range strings.Split(raw, ",") {
		name = strings.TrimSpace(name)
		switch {
		case name == "":
			continue
		case !envNameRE.MatchString(name):
			return nil, fmt.Errorf("ZDM_TARGET_ENVS: %q is not an environment variable name (fix: list the NAMES of the variables holding the URLs, e.g. ZDM_TARGET_ENVS=EU1_DATABASE_URL,US1_DATABASE_URL)", name)
		case name == "DATABASE_URL":
			return nil, fmt.Errorf("ZDM_TARGET_ENVS: DATABASE_URL is the worker's own database (fix: give the fleet's databases variables of their own)")
		case getenv(name) == "":
			return nil, fmt.Errorf("ZDM_TARGET_ENVS names %s, which is not set (fix: set %s to that database's URL, or remove it from ZDM_TARGET_ENVS)", name, name)
		case seen[name]:
			continue
		}
		seen[name] = true
		out = append(out, name)
	}
	return out, nil
}

// openTargetPool opens the pool of one fleet database. It connects on first use, so that
// a database that is down does not keep the worker, and the other databases, from
// starting; CheckTargets finds it before a fleet touches anything.
func openTargetPool(ctx context.Context, name, dsn string) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// The parse error may quote the URL; do not repeat it.
		return nil, fmt.Errorf("%s is not a valid PostgreSQL connection string", name)
	}
	cfg.ConnConfig.RuntimeParams["application_name"] = "zdm-worker"
	cfg.MaxConns = 8
	cfg.MinConns = 0
	return pgxpool.NewWithConfig(ctx, cfg)
}

// startTargetWorkers starts one worker per fleet database on its own task queue, whose
// activities use that database; acts.Targets lets CheckTargets see them.
func startTargetWorkers(ctx context.Context, c client.Client, queue string, acts *activities.Activities, stopTimeout time.Duration, logger *slog.Logger) (stop func(), err error) {
	names, err := targetEnvs(os.Getenv)
	if err != nil {
		return nil, err
	}
	var workers []worker.Worker
	var pools []*pgxpool.Pool
	stop = func() {
		for _, w := range workers {
			w.Stop()
		}
		for _, p := range pools {
			p.Close()
		}
	}
	acts.Targets = map[string]*pgxpool.Pool{}
	for _, name := range names {
		pool, err := openTargetPool(ctx, name, os.Getenv(name))
		if err != nil {
			stop()
			return nil, err
		}
		pools = append(pools, pool)
		acts.Targets[name] = pool
		ta := &activities.Activities{DB: pool, Flags: acts.Flags, Retry: acts.Retry, Metrics: acts.Metrics, Notifier: acts.Notifier}
		tq := workflows.TargetQueue(queue, name)
		w := worker.New(c, tq, worker.Options{WorkerStopTimeout: stopTimeout, MaxConcurrentActivityExecutionSize: 16})
		w.RegisterWorkflow(workflows.MigrationWorkflow)
		w.RegisterActivity(ta)
		if err := w.Start(); err != nil {
			stop()
			return nil, fmt.Errorf("start the worker of %s: %w", name, err)
		}
		workers = append(workers, w)
		logger.Info("serving fleet database", "url_env", name, "task_queue", tq)
	}
	return stop, nil
}
