package cli

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/goccy/go-yaml"
	"github.com/spf13/cobra"

	"github.com/zdmhq/zdm/internal/spec"
)

// placeholderTable is the table of a skeleton written without --table.
const placeholderTable = "public.my_table"

var newNameRE = regexp.MustCompile(`^[a-z0-9_-]+$`)

func (e *env) newCommand() *cobra.Command {
	var dir, table string
	cmd := &cobra.Command{
		Use:   "new NAME [--dir DIR] [--table T]",
		Short: "Write the next numbered migration file, a skeleton to fill in",
		Long: `New writes DIR/NNN_NAME.yaml (DIR: --dir, else ZDM_MIGRATIONS_DIR, else
migrations; created if missing), numbered one more than the highest number in DIR
(001 in an empty directory). The file is a commented skeleton: its migration name
(NAME with '_' written '-'), the table, an example operation to uncomment and edit,
and gates: [contract]. NAME is lower-case letters, digits, '_' and '-'.`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usageError("expected the new migration's name: zdm new NAME")
			}
			return nil
		},
		RunE: func(_ *cobra.Command, args []string) error {
			dir = e.migrationsDir(dir)
			name := args[0]
			migration, err := skeletonName(name)
			if err != nil {
				return err
			}
			if table == "" {
				table = placeholderTable
			}
			files, err := readMigrationsDir(dir, true)
			if err != nil {
				return err
			}
			if other := fileNaming(files, migration); other != "" {
				return usageError("%s already holds migration %s (fix: choose another NAME)", other, migration)
			}
			next := 1
			if len(files) > 0 {
				next = files[len(files)-1].Number + 1
			}
			path := filepath.Join(dir, fmt.Sprintf("%03d_%s.yaml", next, name))
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return exitf(ExitFailed, "create %s: %v", dir, err)
			}
			f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
			if errors.Is(err, fs.ErrExist) {
				return exitf(ExitFailed, "%s already exists: zdm new never overwrites a file", path)
			}
			if err != nil {
				return exitf(ExitFailed, "write %s: %v", path, err)
			}
			_, err = f.WriteString(Skeleton(migration, table))
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return exitf(ExitFailed, "write %s: %v", path, err)
			}
			fmt.Fprintf(e.Stdout, "wrote %s: uncomment and edit its operation, check it with zdm plan -f %s, apply it with zdm migrate %s\n", path, path, dir)
			return nil
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "", "migrations directory (env ZDM_MIGRATIONS_DIR, default migrations)")
	cmd.Flags().StringVar(&table, "table", "", "the table the migration changes (schema.table)")
	return cmd
}

// skeletonName is the migration name of a file zdm new writes for NAME: the same, with
// '_' written '-', as migration names allow.
func skeletonName(name string) (string, error) {
	if !newNameRE.MatchString(name) {
		return "", usageError("%q is not a migration name: use lower-case letters, digits, '_' and '-'", name)
	}
	m := strings.ReplaceAll(name, "_", "-")
	if err := (&spec.Migration{Name: m}).Check(); err != nil {
		for _, fe := range err.(spec.Errors) {
			if fe.Field == "name" {
				return "", usageError("%q cannot name a migration: %s (fix: %s)", name, fe.Msg, fe.Fix)
			}
		}
	}
	return m, nil
}

// fileNaming is the file among files whose name: field is migration, or "". Files are
// read leniently: a skeleton not yet filled in does not parse as a migration.
func fileNaming(files []MigrationFile, migration string) string {
	for _, f := range files {
		data, err := os.ReadFile(f.Path)
		if err != nil {
			continue
		}
		var head struct {
			Name string `yaml:"name"`
		}
		if yaml.Unmarshal(data, &head) == nil && head.Name == migration {
			return f.Path
		}
	}
	return ""
}

// Skeleton is the file zdm new writes: it parses once its operation line is uncommented.
func Skeleton(name, table string) string {
	return fmt.Sprintf(`# A zdm migration. zdm migrate applies the files of this directory in the order of
# their numbers, each once; once applied, leave this file as it is and write a new one.
name: %s  # names the migration and its workflow (zdm-%s)
table: %s  # the one table it changes
operations:
  # Uncomment the line below and edit it, or write others; the operations are
  # add_column, change_type, create_index, drop_default, drop_not_null,
  # rename_column, set_default and set_not_null, e.g.
  #   - change_type: {column: amount, type: bigint}
  #   - create_index: {name: orders_created_at_idx, columns: [created_at]}
  # - add_column: {column: email_lower, type: text, backfill: "lower(email)"}
gates: [contract]  # waits for a person's approval before the contract; [] runs unattended
`, name, name, table)
}
