package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/spf13/cobra"

	"github.com/zdmhq/zdm/internal/pgexec"
	"github.com/zdmhq/zdm/internal/rehearse"
	"github.com/zdmhq/zdm/internal/spec"
)

// DefaultScratchURLEnv names the environment variable holding the scratch database's
// URL: a variable, not a flag, so that its password stays out of shell history.
const DefaultScratchURLEnv = pgexec.ScratchURLEnv

func (e *env) rehearseCommand() *cobra.Command {
	var file, sample, scratchEnv, loadFlag, format string
	var window time.Duration
	var keep bool
	cmd := &cobra.Command{
		Use:   "rehearse -f FILE [--sample 10%] [--scratch-url-env NAME] [--load auto|off|N/s] [--format text|json]",
		Short: "Run a migration on a copy of its tables and predict how long the real run takes",
		Long: `Rehearse copies the tables the migration touches from the database in DATABASE_URL
(production or a replica; zdm only reads them) into a scratch database, whole or a
sample of their pages (TABLESAMPLE SYSTEM), and runs the whole migration there as the
worker would: plan, expand, backfill, verify, validate, contract, gates approved.
Meanwhile it replays the source's recent write rate (pg_stat_user_tables, sampled
for --load-window) as inserts, updates and deletes on the copy, timing each write.

It reports per phase the time, rows/s, lock retries and the time lost to them, the
longest statement, the load's p99 and worst latency, the WAL written and the table's
growth, and for a sample extrapolates to the whole table with a margin. The report
is stored in the source's zdm.rehearsals (the only thing zdm writes there); zdm start
and zdm plan show the latest, and require_rehearsal: true in a file makes zdm start
refuse it without a recent successful one.

The scratch database's URL is read from the environment variable --scratch-url-env
names (default ZDM_REHEARSAL_DATABASE_URL); it must be another database than the
source, and must not hold the tables already. pg_dump of the source's major version
must be on PATH. The copies are dropped afterwards unless --keep.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if file == "" {
				return usageError("rehearse needs the migration file: zdm rehearse -f FILE")
			}
			if format != "text" && format != "json" {
				return usageError("--format %q: text or json", format)
			}
			pctValue, err := parseSample(sample)
			if err != nil {
				return usageError("%v", err)
			}
			load, err := rehearse.ParseLoad(loadFlag)
			if err != nil {
				return usageError("%v", err)
			}
			m, err := spec.ParseFile(file)
			if err != nil {
				if isSpecError(err) {
					return err
				}
				return exitf(ExitUsage, "%v", err)
			}
			scratchURL := e.getenv(scratchEnv, "")
			if scratchURL == "" {
				return usageError("set %s to the URL of a scratch database to rehearse in (an empty database, never the source), or name another variable with --scratch-url-env", scratchEnv)
			}
			return e.rehearse(cmd.Context(), m, scratchEnv, scratchURL, rehearse.Options{
				SourceDSN: e.getenv("DATABASE_URL", ""), Sample: pctValue, Load: load, LoadWindow: window, Keep: keep,
				Progress: e.Stderr,
			}, format)
		},
	}
	cmd.Flags().StringVarP(&file, "file", "f", "", "migration file (YAML)")
	cmd.Flags().StringVar(&sample, "sample", "100%", "share of the tables' pages to copy, e.g. 10%")
	cmd.Flags().StringVar(&scratchEnv, "scratch-url-env", DefaultScratchURLEnv, "environment variable holding the scratch database's URL")
	cmd.Flags().StringVar(&loadFlag, "load", "auto", "synthetic write load: auto (the source's recent rate), off, or N/s (the source's rate); on a sample it is scaled to the share of rows copied")
	cmd.Flags().DurationVar(&window, "load-window", 5*time.Second, "how long to sample the source's write rate")
	cmd.Flags().BoolVar(&keep, "keep", false, "leave the copied tables in the scratch database")
	cmd.Flags().StringVar(&format, "format", "text", "output: text or json")
	return cmd
}

// parseSample reads "10%", "10" or "0.5%".
func parseSample(s string) (float64, error) {
	v, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(s), "%"), 64)
	if err != nil || v <= 0 || v > 100 {
		return 0, fmt.Errorf("--sample %q: use a percentage above 0 and at most 100, such as 10%%", s)
	}
	return v, nil
}

func (e *env) rehearse(ctx context.Context, m *spec.Migration, scratchEnv, scratchURL string, opts rehearse.Options, format string) error {
	source, err := e.db(ctx, "zdm rehearse copies the tables from the database in DATABASE_URL")
	if err != nil {
		return err
	}
	cfg, err := pgxpool.ParseConfig(scratchURL)
	if err != nil {
		return usageError("%s is not a valid PostgreSQL connection string", scratchEnv)
	}
	cfg.ConnConfig.RuntimeParams["application_name"] = "zdm-rehearse"
	cfg.MaxConns = 4
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	scratch, err := pgxpool.NewWithConfig(cctx, cfg)
	if err == nil {
		if err = scratch.Ping(cctx); err != nil {
			scratch.Close()
		}
	}
	cancel()
	if err != nil {
		return exitf(ExitFailed, "cannot reach the scratch database (%s) at %s:%d: %v", scratchEnv, cfg.ConnConfig.Host, cfg.ConnConfig.Port, err)
	}
	defer scratch.Close()

	rep, err := rehearse.Run(ctx, source, scratch, m, opts)
	if errors.Is(err, rehearse.ErrSameDatabase) {
		return exitf(ExitUsage, "%s points at the source database: %v", scratchEnv, err)
	}
	if err != nil {
		return exitf(ExitFailed, "rehearse %s: %v", m.Name, err)
	}
	stored := e.storeRehearsal(ctx, source, m, rep)
	if format == "json" {
		if err := e.printJSON(rep); err != nil {
			return err
		}
	} else {
		rehearse.Render(e.Stdout, rep)
		if stored != "" {
			fmt.Fprintln(e.Stdout, stored)
		}
	}
	if !rep.Success {
		return quietExit(ExitFailed)
	}
	return nil
}

// storeRehearsal records the report in the source's zdm.rehearsals and says so; a
// source that cannot take it (a read-only replica) gets a warning, not a failure.
func (e *env) storeRehearsal(ctx context.Context, source *pgxpool.Pool, m *spec.Migration, rep *rehearse.Report) string {
	raw, err := json.Marshal(rep)
	if err != nil {
		fmt.Fprintf(e.Stderr, "zdm: warning: report not stored: %v\n", err)
		return ""
	}
	r := pgexec.Rehearsal{Name: m.Name, File: rep.File, Checksum: rep.Checksum, StartedAt: rep.StartedAt,
		Sample: rep.Sample, Success: rep.Success, Error: rep.Error, Report: raw}
	if rep.Success {
		r.PredictedSeconds, r.MarginSeconds = &rep.PredictedSeconds, &rep.MarginSeconds
	}
	id, err := pgexec.RecordRehearsal(ctx, source, r)
	if err != nil {
		fmt.Fprintf(e.Stderr, "zdm: warning: the report was not stored, so zdm start will not see it: %v (fix: run zdm rehearse with DATABASE_URL at the primary; zdm only reads the tables and writes zdm.rehearsals)\n", err)
		return ""
	}
	return fmt.Sprintf("stored as rehearsal %d in zdm.rehearsals; zdm start -f %s shows it", id, m.Source.File)
}

// rehearsalLine is what zdm start and zdm plan say of the file's latest rehearsal on the
// database in pool; "" when it cannot be read.
func rehearsalLine(ctx context.Context, pool *pgxpool.Pool, m *spec.Migration) string {
	r, age, err := pgexec.LatestRehearsal(ctx, pool, m.Source.Checksum)
	if err != nil {
		return ""
	}
	return rehearse.Summary(r, age)
}

// checkRehearsed refuses a migration with require_rehearsal: true that has no recent
// successful rehearsal of the same file in pool's zdm.rehearsals.
func checkRehearsed(ctx context.Context, pool *pgxpool.Pool, m *spec.Migration) error {
	if !m.RequireRehearsal {
		return nil
	}
	err := pgexec.CheckRehearsed(ctx, pool, m.Source.Checksum, m.RehearsalAge())
	var nr *pgexec.NotRehearsedError
	if errors.As(err, &nr) {
		return exitf(ExitFailed, "%s", pgexec.RehearsalRequired(m, nr))
	}
	if err != nil {
		return exitf(ExitFailed, "check the rehearsals of %s: %v", m.Name, err)
	}
	return nil
}
