// Command zdm-worker runs the migration workflow and its activities. It is configured
// from the environment only, so credentials never enter workflow inputs or history:
//
//	DATABASE_URL          PostgreSQL holding the tables to migrate (required)
//	TEMPORAL_ADDRESS      default 127.0.0.1:7233
//	TEMPORAL_NAMESPACE    default "default"
//	TEMPORAL_API_KEY, TEMPORAL_TLS_*, TEMPORAL_PROFILE, TEMPORAL_CONFIG_FILE...
//	                      a secured cluster, read as the temporal CLI reads them (see
//	                      internal/temporalconn)
//	UNLEASH_URL           Unleash base URL, e.g. http://127.0.0.1:4242 (optional)
//	UNLEASH_ADMIN_TOKEN   admin API token (with UNLEASH_URL)
//	UNLEASH_ENVIRONMENT   default "development"
//	SLACK_BOT_TOKEN       posts gate and end-of-migration notices to SLACK_CHANNEL (optional)
//	SLACK_CHANNEL         the channel for those notices
//	ZDM_TASK_QUEUE        default "zdm"
//	ZDM_TARGET_ENVS       comma list of the NAMES of variables holding the URLs of the fleet
//	                      databases this worker serves (zdm start --targets); each gets
//	                      task queue QUEUE@NAME
//	ZDM_STOP_TIMEOUT      how long a graceful stop waits for running activities (default 30s)
//	ZDM_METRICS_ADDR      where /metrics is served for Prometheus (default 127.0.0.1:9090;
//	                      empty or "off" turns it off)
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"

	"github.com/zdmhq/zdm/activities"
	"github.com/zdmhq/zdm/internal/flags"
	"github.com/zdmhq/zdm/internal/metrics"
	"github.com/zdmhq/zdm/internal/notify"
	"github.com/zdmhq/zdm/internal/temporalconn"
	"github.com/zdmhq/zdm/workflows"
)

func main() {
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	if err := run(logger); err != nil {
		logger.Error("zdm-worker stopped", "error", err)
		os.Exit(1)
	}
}

func env(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// defaultMetricsAddr is loopback only: the metrics say which tables are being migrated.
const defaultMetricsAddr = "127.0.0.1:9090"

// metricsAddr is ZDM_METRICS_ADDR; set but empty, or "off", turns metrics off. explicit
// says whether the address was asked for rather than the default.
func metricsAddr() (addr string, on, explicit bool) {
	v, set := os.LookupEnv("ZDM_METRICS_ADDR")
	if !set {
		return defaultMetricsAddr, true, false
	}
	v = strings.TrimSpace(v)
	if v == "" || strings.EqualFold(v, "off") {
		return "", false, true
	}
	return v, true, true
}

// phaseInterval is how often the phase gauge is read from Temporal.
const phaseInterval = 10 * time.Second

func run(logger *slog.Logger) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	dsn := os.Getenv("DATABASE_URL")
	if dsn == "" {
		return errors.New("DATABASE_URL is not set: point it at the PostgreSQL database whose tables zdm migrates")
	}
	stopTimeout, err := time.ParseDuration(env("ZDM_STOP_TIMEOUT", "30s"))
	if err != nil {
		return fmt.Errorf("ZDM_STOP_TIMEOUT: %w", err)
	}
	pool, err := openPool(ctx, dsn)
	if err != nil {
		return err
	}
	defer pool.Close()

	acts := &activities.Activities{DB: pool}
	addr, metricsOn, addrExplicit := metricsAddr()
	reg := metrics.New()
	var sdkMetrics client.MetricsHandler
	if metricsOn {
		h, closer := reg.TemporalHandler(logger)
		defer closer.Close()
		sdkMetrics = h
		acts.Metrics = reg
	}
	if os.Getenv("UNLEASH_URL") != "" {
		cfg, err := flags.ConfigFromEnv()
		if err != nil {
			return err
		}
		acts.Flags = flags.New(cfg)
		logger.Info("Unleash configured", "url", redactURL(cfg.URL), "environment", acts.Flags.Environment())
	} else {
		logger.Warn("UNLEASH_URL is not set: migrations that name flags will be refused")
	}
	notifier, err := notify.New(notify.ConfigFromEnv(os.Getenv), logger)
	if err != nil {
		return err
	}
	acts.Notifier = notifier

	conn, err := temporalconn.Load(temporalconn.Request{})
	if err != nil {
		return err
	}
	logger.Info("Temporal client settings", conn.LogAttrs()...)
	namespace := conn.Namespace
	opts := conn.Options
	opts.Logger = tlog.NewStructuredLogger(logger)
	opts.MetricsHandler = sdkMetrics
	c, err := client.DialContext(ctx, opts)
	if err != nil {
		return fmt.Errorf("connect to Temporal at %s: %w", conn, conn.Explain(err))
	}
	defer c.Close()
	if err := ensureSearchAttributes(ctx, c, namespace, logger); err != nil {
		return err
	}

	queue := env("ZDM_TASK_QUEUE", workflows.TaskQueue)
	w := worker.New(c, queue, worker.Options{
		WorkerStopTimeout: stopTimeout,
		// The backfill is I/O-bound on one database: a few slices at once is plenty.
		MaxConcurrentActivityExecutionSize: 16,
	})
	w.RegisterWorkflow(workflows.MigrationWorkflow)
	w.RegisterWorkflow(workflows.FleetWorkflow)
	w.RegisterActivity(acts)
	stopTargets, err := startTargetWorkers(ctx, c, queue, acts, stopTimeout, logger)
	if err != nil {
		return err
	}
	defer stopTargets()
	if metricsOn {
		// Served until the worker has stopped, so a scrape sees the drain.
		mctx, stopMetrics := context.WithCancel(context.Background())
		defer stopMetrics()
		bound, err := reg.Serve(mctx, addr, logger)
		switch {
		case err != nil && addrExplicit:
			return fmt.Errorf("ZDM_METRICS_ADDR=%s: %w (set ZDM_METRICS_ADDR=off to run without metrics)", addr, err)
		case err != nil:
			// Another worker on this machine has the default port: run without metrics
			// rather than not at all.
			logger.Warn("metrics not served: set ZDM_METRICS_ADDR to a free address", "address", addr, "error", err)
		default:
			go reg.WatchPhases(mctx, c, namespace, phaseInterval, logger)
			logger.Info("serving metrics", "url", "http://"+bound.String()+"/metrics")
		}
	} else {
		logger.Info("metrics off (ZDM_METRICS_ADDR)")
	}
	logger.Info("zdm-worker started", "temporal", conn.Address, "namespace", namespace, "task_queue", queue)
	return w.Run(interruptOn(ctx))
}

// redactURL hides a password in a URL's user info; a URL that does not parse is not
// repeated at all.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}

// interruptOn adapts a context to the worker's interrupt channel.
func interruptOn(ctx context.Context) <-chan interface{} {
	ch := make(chan interface{}, 1)
	go func() {
		<-ctx.Done()
		ch <- struct{}{}
	}()
	return ch
}

func openPool(ctx context.Context, dsn string) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// The parse error may quote the URL; do not repeat it.
		return nil, errors.New("DATABASE_URL is not a valid PostgreSQL connection string")
	}
	cfg.ConnConfig.RuntimeParams["application_name"] = "zdm-worker"
	cfg.MaxConns = 8
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect to PostgreSQL at %s:%d: %w", cfg.ConnConfig.Host, cfg.ConnConfig.Port, err)
	}
	pingCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := pool.Ping(pingCtx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("connect to PostgreSQL at %s:%d as %s: %w", cfg.ConnConfig.Host, cfg.ConnConfig.Port, cfg.ConnConfig.User, err)
	}
	return pool, nil
}

// ensureSearchAttributes registers MigrationPhase and MigrationTable when the server lacks
// them: without them every phase change would fail its workflow task.
func ensureSearchAttributes(ctx context.Context, c client.Client, namespace string, logger *slog.Logger) error {
	ops := c.OperatorService()
	list, err := ops.ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: namespace})
	if err != nil {
		return fmt.Errorf("list search attributes: %w", err)
	}
	missing := map[string]enums.IndexedValueType{}
	for _, name := range []string{workflows.MigrationPhase.GetName(), workflows.MigrationTable.GetName()} {
		if _, ok := list.GetCustomAttributes()[name]; !ok {
			missing[name] = enums.INDEXED_VALUE_TYPE_KEYWORD
		}
	}
	if len(missing) == 0 {
		return nil
	}
	_, err = ops.AddSearchAttributes(ctx, &operatorservice.AddSearchAttributesRequest{Namespace: namespace, SearchAttributes: missing})
	var exists *serviceerror.AlreadyExists
	if err != nil && !errors.As(err, &exists) {
		// Temporal Cloud refuses this through the API: its namespaces get search attributes
		// in the Cloud UI or with tcld.
		return fmt.Errorf("register search attributes %v: %w (add them to namespace %s as Keyword attributes yourself: temporal operator search-attribute create, or on Temporal Cloud the namespace's page or tcld namespace search-attributes add)", missing, err, namespace)
	}
	logger.Info("registered search attributes", "names", fmt.Sprint(missing))
	return nil
}
