// Command zdm-demoapp is the application zdm migrates in the demo and the
// integration tests: it seeds the demo table and then reads and writes it
// continuously, choosing columns by two Unleash flags, and reports its
// operations, errors and latencies.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/spf13/cobra"

	"github.com/zdmhq/zdm/internal/demoapp"
)

func main() {
	if err := rootCmd().Execute(); err != nil {
		os.Exit(1)
	}
}

// global holds the flags every subcommand shares.
type global struct {
	databaseURL string
	table       string
}

func rootCmd() *cobra.Command {
	var g global
	root := &cobra.Command{
		Use:           "zdm-demoapp",
		Short:         "The demo application zdm migrates: seeds a table and reads and writes it under Unleash flags",
		SilenceUsage:  true,
		SilenceErrors: false,
	}
	// Secrets have no flag default taken from the environment, so that --help
	// never shows them.
	root.PersistentFlags().StringVar(&g.databaseURL, "database-url", "", "PostgreSQL connection string (env DATABASE_URL)")
	root.PersistentFlags().StringVar(&g.table, "table", demoapp.DefaultTable, "demo table, schema.table")
	root.AddCommand(seedCmd(&g), resetCmd(&g), runCmd(&g))
	return root
}

func (g *global) dsn() (string, error) {
	if g.databaseURL != "" {
		return g.databaseURL, nil
	}
	if v := os.Getenv("DATABASE_URL"); v != "" {
		return v, nil
	}
	return "", errors.New("no database: pass --database-url or set DATABASE_URL")
}

func (g *global) pool(ctx context.Context) (*pgxpool.Pool, error) {
	dsn, err := g.dsn()
	if err != nil {
		return nil, err
	}
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, errors.New("the database URL is not a valid PostgreSQL connection string")
	}
	cfg.ConnConfig.RuntimeParams["application_name"] = "zdm-demoapp"
	return pgxpool.NewWithConfig(ctx, cfg)
}

func seedCmd(g *global) *cobra.Command {
	var rows int64
	cmd := &cobra.Command{
		Use:   "seed",
		Short: "Create the demo table if needed and fill it up to --rows rows (idempotent)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			pool, err := g.pool(ctx)
			if err != nil {
				return err
			}
			defer pool.Close()
			start := time.Now()
			if err := demoapp.Seed(ctx, pool, g.table, rows); err != nil {
				return err
			}
			fmt.Printf("seeded %s: at least %d rows (%s)\n", g.table, rows, time.Since(start).Round(time.Millisecond))
			return nil
		},
	}
	cmd.Flags().Int64Var(&rows, "rows", 100_000, "number of rows the table should have at least")
	return cmd
}

func resetCmd(g *global) *cobra.Command {
	var dependents bool
	cmd := &cobra.Command{
		Use:   "reset",
		Short: "Drop the demo table (with --dependents, the tables whose foreign keys reference it first)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			pool, err := g.pool(ctx)
			if err != nil {
				return err
			}
			defer pool.Close()
			dropped, err := demoapp.Reset(ctx, pool, g.table, dependents)
			if err != nil {
				return err
			}
			for _, t := range dropped {
				fmt.Printf("dropped %s (its foreign key referenced %s)\n", t, g.table)
			}
			fmt.Printf("dropped %s\n", g.table)
			if len(dropped) > 0 {
				fmt.Println("note: zdm's history still lists the migrations that made them; zdm history shows them")
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&dependents, "dependents", false, "also drop the tables whose foreign keys reference the demo table (examples/migrations adds one)")
	return cmd
}

type runOptions struct {
	unleashURL, unleashToken, unleashEnv string
	dualWriteFlag, readNewFlag           string
	refresh, duration                    time.Duration
	statsFile                            string
	rate, workers                        int
	metricsAddr                          string
	faultRate                            float64
}

func runCmd(g *global) *cobra.Command {
	var o runOptions
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Read and write the demo table until SIGINT/SIGTERM or --duration; exits 0 once started, whatever the error count",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return run(cmd.Context(), g, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.unleashURL, "unleash-url", "", "Unleash base URL (env UNLEASH_URL, default http://127.0.0.1:4242)")
	f.StringVar(&o.unleashToken, "unleash-token", "", "Unleash backend token (env UNLEASH_API_TOKEN)")
	f.StringVar(&o.unleashEnv, "unleash-environment", "", "Unleash environment (env UNLEASH_ENVIRONMENT, default development)")
	f.StringVar(&o.dualWriteFlag, "dual-write-flag", "customers-full-name-dual-write", "flag that turns on writing the new columns too")
	f.StringVar(&o.readNewFlag, "read-new-flag", "customers-full-name-read-new", "flag that turns on reading the new columns")
	f.DurationVar(&o.refresh, "refresh-interval", demoapp.DefaultRefreshInterval, "how often the Unleash client fetches the flags")
	f.DurationVar(&o.duration, "duration", 0, "stop after this long (0: run until SIGINT/SIGTERM)")
	f.StringVar(&o.statsFile, "stats-file", "", "write the stats as JSON to this file every second and at exit")
	f.IntVar(&o.rate, "rate", demoapp.DefaultRate, "target operations per second across workers (0: as fast as possible)")
	f.IntVar(&o.workers, "workers", demoapp.DefaultWorkers, "concurrent connections doing work")
	f.StringVar(&o.metricsAddr, "metrics-addr", os.Getenv("ZDM_DEMO_METRICS_ADDR"), "serve Prometheus metrics (requests, errors, latency by read_new variant) at http://ADDR/metrics (env ZDM_DEMO_METRICS_ADDR; empty: none)")
	f.Float64Var(&o.faultRate, "fault-rate", envFloat(demoapp.FaultEnv), "fail this fraction of the reads on the new read path, e.g. 0.1 (env "+demoapp.FaultEnv+")")
	return cmd
}

func orEnv(v, env, def string) string {
	if v != "" {
		return v
	}
	if e := os.Getenv(env); e != "" {
		return e
	}
	return def
}

func run(ctx context.Context, g *global, o runOptions) error {
	dsn, err := g.dsn()
	if err != nil {
		return err
	}
	cfg := demoapp.DefaultConfig()
	cfg.DatabaseURL = dsn
	cfg.Table = g.table
	cfg.UnleashURL = orEnv(o.unleashURL, "UNLEASH_URL", "http://127.0.0.1:4242")
	cfg.UnleashToken = orEnv(o.unleashToken, "UNLEASH_API_TOKEN", "")
	cfg.UnleashEnvironment = orEnv(o.unleashEnv, "UNLEASH_ENVIRONMENT", demoapp.DefaultUnleashEnvironment)
	cfg.DualWriteFlag = o.dualWriteFlag
	cfg.ReadNewFlag = o.readNewFlag
	cfg.RefreshInterval = o.refresh
	cfg.Rate = o.rate
	cfg.Workers = o.workers
	if v := os.Getenv(demoapp.FaultEnv); v != "" {
		if _, err := strconv.ParseFloat(v, 64); err != nil {
			return fmt.Errorf("%s=%q is not a number: write a fraction such as 0.1", demoapp.FaultEnv, v)
		}
	}
	cfg.FaultRate = o.faultRate
	cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	if cfg.UnleashToken == "" {
		return errors.New("no Unleash token: pass --unleash-token or set UNLEASH_API_TOKEN (a backend token)")
	}
	app, err := demoapp.New(cfg)
	if err != nil {
		return err
	}

	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	if o.duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.duration)
		defer cancel()
	}

	fmt.Printf("zdm-demoapp: %s, %d workers, rate %d/s, flags %s / %s, Unleash %s (%s)\n",
		cfg.Table, cfg.Workers, cfg.Rate, cfg.DualWriteFlag, cfg.ReadNewFlag, cfg.UnleashURL, cfg.UnleashEnvironment)
	if o.metricsAddr != "" {
		addr, err := serveMetrics(ctx, o.metricsAddr, app)
		if err != nil {
			return fmt.Errorf("metrics on %s: %w", o.metricsAddr, err)
		}
		fmt.Printf("zdm-demoapp: metrics at http://%s/metrics\n", addr)
	}
	if cfg.FaultRate > 0 {
		fmt.Printf("zdm-demoapp: fault injection: %.0f%% of the reads on the new read path fail\n", cfg.FaultRate*100)
	}

	reportDone := make(chan struct{})
	reporterStopped := make(chan struct{})
	go func() {
		defer close(reporterStopped)
		report(app, o.statsFile, reportDone)
	}()
	runErr := app.Run(ctx)
	close(reportDone)
	<-reporterStopped
	if runErr != nil {
		return runErr
	}

	s := app.Stats()
	if err := writeStats(o.statsFile, s); err != nil {
		fmt.Fprintf(os.Stderr, "zdm-demoapp: %v\n", err)
	}
	fmt.Printf("summary: %s over %s\n", statusLine(s), s.Until.Sub(s.Since).Round(time.Millisecond))
	fmt.Printf("  reads=%d updates=%d inserts=%d modes=%v flag_errors=%d errors_read_new=%d\n", s.Reads, s.Updates, s.Inserts, s.ModeOps, s.FlagErrors, s.ErrorsReadNew)
	for _, e := range s.FirstErrors {
		fmt.Printf("  error: %s\n", e)
	}
	return nil
}

// report prints a status line every 5 s and writes the stats file every
// second, until done is closed.
func report(app *demoapp.App, statsFile string, done <-chan struct{}) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for n := 1; ; n++ {
		select {
		case <-done:
			return
		case <-tick.C:
		}
		s := app.Stats()
		if !s.Running {
			continue // not started yet; nothing worth a file
		}
		if err := writeStats(statsFile, s); err != nil {
			fmt.Fprintf(os.Stderr, "zdm-demoapp: %v\n", err)
		}
		if n%5 == 0 {
			fmt.Println(statusLine(s))
		}
	}
}

func statusLine(s demoapp.Stats) string {
	return fmt.Sprintf("ops=%d errors=%d max_latency=%s p99=%s mode=%s",
		s.Ops, s.Errors, s.MaxLatency.Round(time.Microsecond), s.P99.Round(time.Microsecond), s.Mode)
}

// writeStats replaces path atomically, so readers never see half a file.
func writeStats(path string, s demoapp.Stats) error {
	if path == "" {
		return nil
	}
	data, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return fmt.Errorf("encode stats: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("write stats: %w", err)
	}
	_, werr := tmp.Write(append(data, '\n'))
	werr = errors.Join(werr, tmp.Chmod(0o644))
	cerr := tmp.Close()
	if err := errors.Join(werr, cerr); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("write stats %s: %w", tmp.Name(), err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("write stats: %w", err)
	}
	return nil
}
