package cli

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/zdmhq/zdm/internal/convert"
)

func (e *env) convertCommand() *cobra.Command {
	var out, name, table string
	cmd := &cobra.Command{
		Use:   "convert FILE.sql [-o OUT.yaml] [--name NAME] [--table TABLE]",
		Short: "Turn a framework's SQL migration into a zdm migration file",
		Long: `Convert reads the SQL a framework wrote (Rails, Django, Alembic, Flyway, ...) with
PostgreSQL's own parser and writes the zdm migration that makes the same change
online: each statement zdm has an operation for becomes that operation (ADD COLUMN
add_column, ALTER COLUMN TYPE change_type with its casts, CREATE INDEX create_index,
...), a comment above it giving the statement and its line. BEGIN/COMMIT and SET are
dropped (zdm runs each step in its own transaction under its own lock_timeout).

What has no operation becomes a sql step, marked, with the down that undoes it when
the statement says it (CREATE VIEW: DROP VIEW IF EXISTS); when it does not (an UPDATE,
a DELETE), the step is left commented out for you to write its down: zdm's rollback
runs it. Every TODO(zdm convert) in the file, and every note on stderr, is a value to
confirm.

zdm backfills one table per migration: the operations that fill another table's
columns are left commented out, and --table TABLE converts the file again into the
migration of those alone.

With DATABASE_URL, what the SQL does not say is read from the database: a column's
current type (the down of a type change), an index's table. Without it, those are
left as TODOs.

The file goes to stdout, or to -o. A file the parser refuses exits 2, naming
file:line:column.`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usageError("expected one SQL file: zdm convert FILE.sql")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			file := args[0]
			src, err := os.ReadFile(file)
			if err != nil {
				return exitf(ExitUsage, "read %s: %v", file, err)
			}
			opts := convert.Options{Name: name, Table: table}
			if e.getenv("DATABASE_URL", "") != "" {
				pool, err := e.db(cmd.Context(), "zdm convert")
				if err != nil {
					return err
				}
				opts.Catalog = convert.DBCatalog{Ctx: cmd.Context(), Pool: pool}
			}
			yaml, notes, err := convert.Convert(file, src, opts)
			for _, n := range notes {
				fmt.Fprintf(e.Stderr, "%s\n", n)
			}
			var pe *convert.ParseError
			if errors.As(err, &pe) {
				return exitf(ExitUsage, "%v", err)
			}
			if err != nil {
				return err
			}
			if out == "" {
				_, err = e.Stdout.Write(yaml)
				return err
			}
			if err := os.WriteFile(out, yaml, 0o644); err != nil {
				return err
			}
			fmt.Fprintf(e.Stderr, "wrote %s; check it with: zdm plan -f %s\n", out, out)
			return nil
		},
	}
	cmd.Flags().StringVarP(&out, "output", "o", "", "write the migration file here instead of stdout")
	cmd.Flags().StringVar(&name, "name", "", "the migration's name (default: the file's name, in kebab-case)")
	cmd.Flags().StringVar(&table, "table", "", "convert for this table the operations that fill its columns (zdm backfills one table per migration; the notes say when to)")
	return cmd
}
