package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/spf13/cobra"

	"github.com/zdmhq/zdm/internal/convert"
	"github.com/zdmhq/zdm/internal/lint"
)

// lintConfigFile is read from the current directory when --config is not given.
const lintConfigFile = ".zdm-lint.yaml"

func (e *env) lintCommand() *cobra.Command {
	var format, failOn, configPath string
	var listRules, fix bool
	cmd := &cobra.Command{
		Use:   "lint FILE.sql... | DIR | -",
		Short: "Find the statements of SQL migrations that would lock or rewrite a live table, or break running code",
		Long: `Lint reads SQL migration scripts (a directory's *.sql files, or - for stdin) with
PostgreSQL's own parser and reports each statement that would block a live table
(a rewrite, a scan under a lock, an index built without CONCURRENTLY, DDL without
lock_timeout), break code still running (renames, drops) or fail where it runs
(CONCURRENTLY inside a transaction), each with the safe way: a zdm migration when zdm
has an operation for it, SQL otherwise.

With DATABASE_URL, findings on existing tables carry the table's size and row
estimate and an estimate of how long the lock would be held, from a read of a sample
of the largest table touched; on a small table (small_table in the config: 10,000
rows and 1s by default) what only hurts big tables is reported as info.

Disable rules with a comment on the statement's line or the line before,
"-- zdm-lint: disable=rule-id[,rule-id]", for a whole file with
"-- zdm-lint: disable-file=rule-id", or in .zdm-lint.yaml (or --config):
  disable: [prefer-text]
  levels: {drop-column: warning}
  small_table: {rows: 10000, lock: 1s}

Exit codes: 0 no finding at or above --fail-on; 1 findings at or above it;
2 unreadable file, SQL PostgreSQL cannot parse, bad flags or configuration.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if listRules {
				for _, r := range lint.Rules {
					fmt.Fprintf(e.Stdout, "%-40s %-8s %s\n", r.ID, r.Level, r.Summary)
				}
				return nil
			}
			if len(args) == 0 {
				return usageError("lint needs SQL files, a directory or - (stdin)")
			}
			if !contains(lint.Formats, format) {
				return usageError("--format %q: text, json or github", format)
			}
			threshold, err := lint.ParseLevel(failOn)
			if err != nil {
				return usageError("--fail-on: %v", err)
			}
			cfg, err := loadLintConfig(configPath)
			if err != nil {
				return exitf(ExitUsage, "%v", err)
			}
			srcs, err := readSources(cmd.InOrStdin(), args)
			if err != nil {
				return exitf(ExitUsage, "%v", err)
			}
			opt := lint.Options{Config: cfg}
			if e.getenv("DATABASE_URL", "") != "" {
				pool, err := e.db(cmd.Context(), "zdm lint")
				if err != nil {
					return err
				}
				opt.DB = pool
			}
			res, err := lint.Lint(cmd.Context(), srcs, opt)
			var pe *lint.ParseError
			if errors.As(err, &pe) {
				return exitf(ExitUsage, "%v", pe)
			}
			if err != nil {
				return exitf(ExitFailed, "%v", err)
			}
			if err := lint.Write(e.Stdout, res, format); err != nil {
				return err
			}
			if fix {
				if err := e.lintFix(cmd.Context(), res, srcs, opt.DB); err != nil {
					return err
				}
			}
			if w := res.Worst(); w != 0 && w >= threshold {
				return quietExit(ExitFailed)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&format, "format", "text", "output: text, json or github (GitHub Actions annotations)")
	cmd.Flags().StringVar(&failOn, "fail-on", "error", "exit 1 when a finding is at this level or above: error, warning or info")
	cmd.Flags().StringVar(&configPath, "config", "", "configuration file (default: "+lintConfigFile+" in the current directory, when there is one)")
	cmd.Flags().BoolVar(&listRules, "rules", false, "list the rules and exit")
	cmd.Flags().BoolVar(&fix, "fix", false, "after the findings, print for each file with findings the zdm migration that does its change online (zdm convert)")
	return cmd
}

// lintFix prints, for each file with findings, the zdm migration zdm convert makes of
// it; its notes go to stderr.
func (e *env) lintFix(ctx context.Context, res *lint.Result, srcs []lint.Source, pool *pgxpool.Pool) error {
	with := map[string]bool{}
	for _, f := range res.Findings {
		with[f.File] = true
	}
	for _, src := range srcs {
		if !with[src.Name] {
			continue
		}
		opts := convert.Options{}
		if pool != nil {
			opts.Catalog = convert.DBCatalog{Ctx: ctx, Pool: pool}
		}
		yaml, notes, err := convert.Convert(src.Name, []byte(src.SQL), opts)
		for _, n := range notes {
			fmt.Fprintf(e.Stderr, "%s\n", n)
		}
		if err != nil {
			fmt.Fprintf(e.Stderr, "zdm lint --fix: %s: %v\n", src.Name, err)
			continue
		}
		fmt.Fprintf(e.Stdout, "\n# --- the safe way for %s, as one zdm migration (zdm convert %s):\n", src.Name, src.Name)
		if _, err := e.Stdout.Write(yaml); err != nil {
			return err
		}
	}
	return nil
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

func loadLintConfig(path string) (lint.Config, error) {
	if path == "" {
		if _, err := os.Stat(lintConfigFile); err != nil {
			return lint.DefaultConfig(), nil
		}
		path = lintConfigFile
	}
	return lint.LoadConfig(path)
}

// readSources reads the files named, the *.sql files under a directory (sorted), or
// stdin for "-".
func readSources(stdin io.Reader, args []string) ([]lint.Source, error) {
	var out []lint.Source
	for _, a := range args {
		if a == "-" {
			b, err := io.ReadAll(stdin)
			if err != nil {
				return nil, fmt.Errorf("reading stdin: %v", err)
			}
			out = append(out, lint.Source{Name: "-", SQL: string(b)})
			continue
		}
		info, err := os.Stat(a)
		if err != nil {
			return nil, err
		}
		var files []string
		if info.IsDir() {
			err := filepath.WalkDir(a, func(p string, d fs.DirEntry, err error) error {
				if err != nil {
					return err
				}
				if !d.IsDir() && strings.HasSuffix(strings.ToLower(d.Name()), ".sql") {
					files = append(files, p)
				}
				return nil
			})
			if err != nil {
				return nil, err
			}
			if len(files) == 0 {
				return nil, fmt.Errorf("%s: no .sql file", a)
			}
			sort.Strings(files)
		} else {
			files = []string{a}
		}
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				return nil, err
			}
			out = append(out, lint.Source{Name: f, SQL: string(b)})
		}
	}
	return out, nil
}
