package cli

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/zdmhq/zdm/internal/pgexec"
)

func (e *env) baselineCommand() *cobra.Command {
	var to string
	cmd := &cobra.Command{
		Use:   "baseline DIR --to FILE",
		Short: "Record a directory's migrations up to FILE as applied, without running them",
		Long: `Baseline is for a project that adopts zdm midway, whose database already has the
changes of its first migration files: it records FILE and every file of DIR
numbered before it as applied (status baselined, with each file's checksum and who
ran baseline) in zdm's schema of the database in DATABASE_URL, running nothing.
'zdm migrate DIR' then starts after FILE. A migration that already has a run of
its own is refused; baselining again changes nothing.`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) != 1 || strings.TrimSpace(args[0]) == "" {
				return usageError("expected the migrations directory: zdm baseline DIR --to FILE")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := args[0]
			if to == "" {
				return usageError("baseline needs the last file to record: zdm baseline %s --to FILE", dir)
			}
			files, err := readMigrationsDir(dir, false)
			if err != nil {
				return err
			}
			upTo, err := filesUpTo(dir, files, to)
			if err != nil {
				return err
			}
			ms, err := loadMigrations(upTo)
			if err != nil {
				return err
			}
			pool, err := e.db(cmd.Context(), "zdm baseline records the migrations in the database")
			if err != nil {
				return err
			}
			entries := make([]pgexec.BaselineEntry, len(ms))
			for i, l := range ms {
				entries[i] = pgexec.BaselineEntry{Name: l.M.Name, File: l.Name, Checksum: l.M.Source.Checksum}
			}
			recorded, err := pgexec.Baseline(cmd.Context(), pool, entries, e.user())
			var conflict *pgexec.ConflictError
			if errors.As(err, &conflict) {
				return exitf(ExitFailed, "nothing was baselined: %v", conflict)
			}
			if err != nil {
				return exitf(ExitFailed, "%v", err)
			}
			if len(recorded) == 0 {
				fmt.Fprintf(e.Stdout, "nothing to do: %d migrations already baselined\n", len(entries))
				return nil
			}
			for _, r := range recorded {
				fmt.Fprintf(e.Stdout, "baselined %s (migration %s, checksum %s)\n", r.File, r.Name, shortSum(r.Checksum))
			}
			fmt.Fprintf(e.Stdout, "%d migrations recorded as applied without running them; zdm migrate %s starts after %s\n", len(recorded), dir, upTo[len(upTo)-1].Name)
			return nil
		},
	}
	cmd.Flags().StringVar(&to, "to", "", "the last file to record as applied (its name in DIR, or its path)")
	return cmd
}

// filesUpTo is files up to and including the one to names: its name inside dir, or its
// path.
func filesUpTo(dir string, files []MigrationFile, to string) ([]MigrationFile, error) {
	for i, f := range files {
		if to == f.Name || filepath.Clean(to) == filepath.Clean(f.Path) {
			return files[:i+1], nil
		}
	}
	names := make([]string, len(files))
	for i, f := range files {
		names[i] = f.Name
	}
	if len(names) == 0 {
		return nil, usageError("%s holds no migration file", dir)
	}
	return nil, usageError("--to %s is not a migration file of %s (fix: use one of %s)", to, dir, strings.Join(names, ", "))
}
