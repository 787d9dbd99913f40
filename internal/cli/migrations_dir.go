package cli

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/zdmhq/zdm/internal/pgexec"
	"github.com/zdmhq/zdm/internal/spec"
)

// DefaultMigrationsDir is where zdm status and zdm new look for migration files when
// neither --dir nor ZDM_MIGRATIONS_DIR says otherwise.
const DefaultMigrationsDir = "migrations"

// MigrationFile is one file of a migrations directory: its order comes from the number
// its name starts with.
type MigrationFile struct {
	Number int    `json:"number"`
	Name   string `json:"file"` // the file's name inside the directory, as history records it
	Path   string `json:"-"`    // the path to read it from
}

var leadingNumber = regexp.MustCompile(`^([0-9]+)`)

// isMigrationFile says whether a directory entry is a migration file: YAML, not hidden.
func isMigrationFile(name string) bool {
	ext := strings.ToLower(filepath.Ext(name))
	return (ext == ".yaml" || ext == ".yml") && !strings.HasPrefix(name, ".")
}

// OrderFiles orders the migration files among names (a directory's entries) by their
// leading number. Files that are not YAML are left out. A YAML file without a leading
// number, and two files with the same number, are refused, every one named at once.
func OrderFiles(dir string, names []string) ([]MigrationFile, error) {
	var files []MigrationFile
	var problems []string
	byNumber := map[int][]string{}
	for _, name := range names {
		if !isMigrationFile(name) {
			continue
		}
		digits := leadingNumber.FindString(name)
		n, err := strconv.Atoi(digits)
		if digits == "" || err != nil {
			problems = append(problems, fmt.Sprintf("%s has no leading number (fix: rename it like 001_%s; the number gives the order migrations run in)", filepath.Join(dir, name), name))
			continue
		}
		byNumber[n] = append(byNumber[n], name)
		files = append(files, MigrationFile{Number: n, Name: name, Path: filepath.Join(dir, name)})
	}
	numbers := make([]int, 0, len(byNumber))
	for n := range byNumber {
		numbers = append(numbers, n)
	}
	sort.Ints(numbers)
	for _, n := range numbers {
		if same := byNumber[n]; len(same) > 1 {
			sort.Strings(same)
			problems = append(problems, fmt.Sprintf("%s share the number %d (fix: give each file a number of its own)", strings.Join(same, " and "), n))
		}
	}
	if len(problems) > 0 {
		return nil, usageError("%s: %s", dir, strings.Join(problems, "; "))
	}
	sort.Slice(files, func(i, j int) bool { return files[i].Number < files[j].Number })
	return files, nil
}

// readMigrationsDir lists dir's migration files in order. A missing directory is an
// error unless missingOK, which gives no file.
func readMigrationsDir(dir string, missingOK bool) ([]MigrationFile, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) && missingOK {
		return nil, nil
	}
	if err != nil {
		return nil, usageError("read the migrations directory: %v", err)
	}
	var names []string
	for _, e := range entries {
		if !e.IsDir() {
			names = append(names, e.Name())
		}
	}
	return OrderFiles(dir, names)
}

// loadedMigration is a migration file read and checked.
type loadedMigration struct {
	MigrationFile
	M *spec.Migration
}

// loadMigrations parses every file: a bad file refuses them all, every problem of every
// file printed at once, and so do two files giving the same migration name.
func loadMigrations(files []MigrationFile) ([]loadedMigration, error) {
	out := make([]loadedMigration, 0, len(files))
	var bad spec.Errors
	var other []string
	for _, f := range files {
		m, err := spec.ParseFile(f.Path)
		var fe *spec.FieldError
		var fes spec.Errors
		switch {
		case errors.As(err, &fes):
			bad = append(bad, fes...)
			continue
		case errors.As(err, &fe):
			bad = append(bad, fe)
			continue
		case err != nil:
			other = append(other, fmt.Sprintf("%s: %v", f.Path, err))
			continue
		}
		m.Source.Relative = f.Name
		out = append(out, loadedMigration{MigrationFile: f, M: m})
	}
	if len(other) > 0 {
		return nil, exitf(ExitUsage, "%s", strings.Join(other, "\n"))
	}
	if len(bad) > 0 {
		return nil, bad // printed as file:line problems, in the files' order
	}
	return out, distinctNames(out)
}

// distinctNames refuses two files of a directory naming the same migration: the history
// would not tell them apart.
func distinctNames(ms []loadedMigration) error {
	seen := map[string]string{}
	var problems []string
	for _, l := range ms {
		if first, ok := seen[l.M.Name]; ok {
			problems = append(problems, fmt.Sprintf("%s and %s both name migration %q (fix: give each file its own name:)", first, l.Path, l.M.Name))
			continue
		}
		seen[l.M.Name] = l.Path
	}
	if len(problems) > 0 {
		return exitf(ExitUsage, "%s", strings.Join(problems, "\n"))
	}
	return nil
}

// fileState is where a migration file stands against the database's history.
type fileState string

const (
	statePending fileState = "pending" // never run, or its last run failed or rolled back
	stateApplied fileState = "applied" // completed or baselined with this very file
	stateRunning fileState = "running" // its last run has not ended
	stateEdited  fileState = "edited"  // applied, but the file changed since
)

// stateOf compares a file's checksum with the latest run of its migration (nil when it
// never ran). A run recorded without a checksum (by an older zdm) counts as this file.
func stateOf(checksum string, latest *pgexec.Run) fileState {
	switch {
	case latest == nil:
		return statePending
	case latest.Applied() && latest.Checksum != "" && latest.Checksum != checksum:
		return stateEdited
	case latest.Applied():
		return stateApplied
	case latest.Status == pgexec.StatusRunning:
		return stateRunning
	default:
		return statePending
	}
}

// editedMessage is what zdm migrate says of a file changed after it was applied.
func editedMessage(path string, r pgexec.Run, checksum string) string {
	how := "applied"
	if r.Status == pgexec.StatusBaselined {
		how = "baselined"
	}
	return fmt.Sprintf("%s was edited after it was %s on %s (checksum %s, now %s): it is not run again; restore it, or write a new migration",
		path, how, r.StartedAt.Local().Format("2006-01-02 15:04:05"), shortSum(r.Checksum), shortSum(checksum))
}

// shortSum is a checksum cut to what a person compares by eye.
func shortSum(s string) string {
	if len(s) > 12 {
		return s[:12]
	}
	return s
}

// migrationsDir is --dir, else ZDM_MIGRATIONS_DIR, else migrations.
func (e *env) migrationsDir(flag string) string {
	if flag != "" {
		return flag
	}
	return e.getenv("ZDM_MIGRATIONS_DIR", DefaultMigrationsDir)
}
