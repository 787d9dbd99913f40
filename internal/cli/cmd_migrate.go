package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/spf13/cobra"
	"go.temporal.io/sdk/client"

	"github.com/zdmhq/zdm/internal/pgexec"
	"github.com/zdmhq/zdm/internal/spec"
)

func (e *env) migrateCommand() *cobra.Command {
	waitGates, noWaitGates := true, false
	cmd := &cobra.Command{
		Use:   "migrate DIR [--no-wait-gates]",
		Short: "Apply a directory's migrations in order, each once",
		Long: `Migrate applies the migration files of DIR (*.yaml, *.yml, each named with a
leading number: 001_add_email.yaml) in the order of their numbers, one after the
other, each as 'zdm start --wait' would, and records every run in zdm's schema of
the database in DATABASE_URL (zdm history lists them). A migration already applied
with the same file is skipped, so running it again is safe: CI can run it on every
deploy. A migration still running is followed, not started again.

Before anything starts, every file is checked: a bad file, two files with one
number or one migration name, and a file edited after it was applied (its
checksum differs from the one recorded) stop it all. An applied migration is never
run again: restore the file, or write a new migration.

At a gate, migrate waits for a person's approval, printing how to give it; with
--no-wait-gates it stops there (exit 5) and leaves the migration waiting, and the
next 'zdm migrate' follows it again.`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) != 1 || strings.TrimSpace(args[0]) == "" {
				return usageError("expected the migrations directory: zdm migrate DIR")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return e.migrate(cmd.Context(), args[0], waitGates && !noWaitGates)
		},
	}
	cmd.Flags().BoolVar(&waitGates, "wait-gates", true, "wait at a gate until a person approves it")
	cmd.Flags().BoolVar(&noWaitGates, "no-wait-gates", false, "stop at a gate (exit 5), leaving the migration waiting there")
	cmd.MarkFlagsMutuallyExclusive("wait-gates", "no-wait-gates")
	return cmd
}

// migrate is the sequence read as a script: read and check every file, compare each with
// the history, then apply what is left, in order, stopping at the first that does not
// complete.
func (e *env) migrate(ctx context.Context, dir string, waitGates bool) error {
	e.inMigrate = true
	files, err := readMigrationsDir(dir, false)
	if err != nil {
		return err
	}
	if len(files) == 0 {
		fmt.Fprintf(e.Stdout, "nothing to do: no migration file in %s (zdm new NAME --dir %s writes one)\n", dir, dir)
		return nil
	}
	ms, err := loadMigrations(files)
	if err != nil {
		return err
	}
	pool, err := e.db(ctx, "zdm migrate reads what was applied from the database")
	if err != nil {
		return err
	}
	latest, err := latestRuns(ctx, pool)
	if err != nil {
		return err
	}

	// Like Flyway's validate: every checksum is compared before anything starts.
	var edited []string
	var todo []loadedMigration
	var lastApplied *loadedMigration // the highest numbered file applied
	for _, l := range ms {
		switch stateOf(l.M.Source.Checksum, latest[l.M.Name]) {
		case stateEdited:
			edited = append(edited, editedMessage(l.Path, *latest[l.M.Name], l.M.Source.Checksum))
		case stateApplied:
			lastApplied = &l
		default:
			todo = append(todo, l)
		}
	}
	if len(edited) > 0 {
		for _, msg := range edited {
			fmt.Fprintf(e.Stderr, "zdm: %s\n", msg)
		}
		return exitf(ExitFailed, "nothing was started: %d applied migration file(s) of %s changed", len(edited), dir)
	}
	if len(todo) == 0 {
		fmt.Fprintf(e.Stdout, "nothing to do: %d migrations applied\n", len(ms))
		return nil
	}
	// A file that requires a rehearsal and has no recent one stops it all before anything starts.
	for _, l := range todo {
		if err := checkRehearsed(ctx, pool, l.M); err != nil {
			return err
		}
	}
	for _, l := range todo {
		if lastApplied != nil && l.Number < lastApplied.Number {
			fmt.Fprintf(e.Stdout, "note: %s was never applied, though %s, numbered after it, was: it runs now\n", l.Name, lastApplied.Name)
		}
	}
	c, err := e.client(ctx)
	if err != nil {
		return err
	}
	for i, l := range todo {
		fmt.Fprintf(e.Stdout, "[%d/%d] %s (migration %s)\n", i+1, len(todo), l.Name, l.M.Name)
		if err := e.apply(ctx, c, pool, l, waitGates); err != nil {
			if i+1 < len(todo) && ExitCode(err) != ExitAtGate && ExitCode(err) != ExitInterrupted {
				fmt.Fprintf(e.Stdout, "stopped: %d later migration(s) not started\n", len(todo)-i-1)
			}
			return err
		}
	}
	fmt.Fprintf(e.Stdout, "done: %d migrations applied (%d by this run)\n", len(ms), len(todo))
	return nil
}

// latestRuns reads the newest run of every migration; none on a database zdm never ran on.
func latestRuns(ctx context.Context, pool *pgxpool.Pool) (map[string]*pgexec.Run, error) {
	runs, err := pgexec.ReadRuns(ctx, pool)
	if errors.Is(err, pgexec.ErrNoState) {
		return map[string]*pgexec.Run{}, nil
	}
	if err != nil {
		return nil, exitf(ExitFailed, "%v", err)
	}
	out := map[string]*pgexec.Run{}
	for name, r := range pgexec.LatestRuns(runs) {
		out[name] = &r
	}
	return out, nil
}

// apply brings one migration to its end: it follows a run already going, or starts one.
func (e *env) apply(ctx context.Context, c client.Client, pool *pgxpool.Pool, l loadedMigration, waitGates bool) error {
	m := l.M
	if attached, err := e.attach(ctx, c, m, waitGates); attached || err != nil {
		return err
	}
	// The workflow is not running: decide on the database as it is now, after that look
	// (another zdm migrate may have applied it meanwhile).
	latest, err := latestRuns(ctx, pool)
	if err != nil {
		return err
	}
	r := latest[m.Name]
	switch stateOf(m.Source.Checksum, r) {
	case stateApplied:
		fmt.Fprintf(e.Stdout, "%s was applied meanwhile (%s)\n", m.Name, r.Status)
		return nil
	case stateEdited:
		return exitf(ExitFailed, "%s", editedMessage(l.Path, *r, m.Source.Checksum))
	case stateRunning:
		return exitf(ExitFailed, "zdm's schema says migration %s is running (run %s, started %s), but its workflow %s is not: it was terminated, and nothing rolled it back (fix: see zdm leftovers, then zdm cleanup %s)",
			m.Name, r.RunID, r.StartedAt.Local().Format("2006-01-02 15:04:05"), spec.WorkflowID(m.Name), m.Name)
	}
	if r != nil {
		fmt.Fprintf(e.Stdout, "its last run %s (started %s): starting it again\n", r.Status, r.StartedAt.Local().Format("2006-01-02 15:04:05"))
	}
	if err := e.startChecked(ctx, m); err != nil {
		// Another zdm migrate may have started it between the look and the start.
		if attached, aerr := e.attach(ctx, c, m, waitGates); attached || aerr != nil {
			return aerr
		}
		return err
	}
	return e.follow(ctx, c, m.Name, waitGates)
}

// attach follows m's workflow when it is running; attached says whether it was.
func (e *env) attach(ctx context.Context, c client.Client, m *spec.Migration, waitGates bool) (attached bool, err error) {
	resp, err := e.describe(ctx, c, m.Name)
	if ExitCode(err) == ExitNotFound {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if !running(resp) {
		return false, nil
	}
	fmt.Fprintf(e.Stdout, "migration %s is already running (workflow %s, started %s): following it\n",
		m.Name, spec.WorkflowID(m.Name), resp.GetWorkflowExecutionInfo().GetStartTime().AsTime().Local().Format("2006-01-02 15:04:05"))
	return true, e.follow(ctx, c, m.Name, waitGates)
}
