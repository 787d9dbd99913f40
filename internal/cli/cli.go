// Package cli is the zdm command line: it starts migrations as Temporal workflows and
// lets people follow them, approve or reject their gates, pause and resume them. It
// owns the commands, their exit codes and the text they print; the migration itself
// is the workflow's business.
package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/spf13/cobra"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/log"
	"golang.org/x/term"
)

// Defaults, each overridden by the environment variable next to it.
const (
	DefaultAddress   = "127.0.0.1:7233"        // TEMPORAL_ADDRESS
	DefaultNamespace = "default"               // TEMPORAL_NAMESPACE
	DefaultUIURL     = "http://127.0.0.1:8233" // ZDM_UI_URL
	dialTimeout      = 5 * time.Second
)

// App is what the commands need from the outside world; tests replace parts of it.
type App struct {
	Stdout, Stderr io.Writer
	// Stdin is what zdm lint - reads; nil reads nothing.
	Stdin  io.Reader
	Getenv func(string) string
	// Dial connects to Temporal.
	Dial func(ctx context.Context, opts client.Options) (client.Client, error)
	// Terminal says whether Stdout is a terminal, and its width (0 if unknown).
	Terminal func() (bool, int)
	Now      func() time.Time
	// PollInterval is how often watch asks for progress.
	PollInterval time.Duration
}

// NewApp returns the App of the real program.
func NewApp() *App {
	return &App{
		Stdout:       os.Stdout,
		Stderr:       os.Stderr,
		Stdin:        os.Stdin,
		Getenv:       os.Getenv,
		Dial:         client.DialContext,
		Terminal:     stdoutTerminal,
		Now:          time.Now,
		PollInterval: time.Second,
	}
}

func stdoutTerminal() (bool, int) {
	fd := int(os.Stdout.Fd())
	if !term.IsTerminal(fd) {
		return false, 0
	}
	w, _, err := term.GetSize(fd)
	if err != nil {
		return true, 0
	}
	return true, w
}

// Main runs zdm with args (without the program name) and returns the exit code.
// Ctrl-C ends a watch cleanly, leaving the migration running.
func Main(args []string) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return NewApp().Run(ctx, args)
}

// Run runs one zdm command and returns its exit code, having printed any error.
func (a *App) Run(ctx context.Context, args []string) int {
	e := &env{App: a}
	root := e.rootCommand()
	root.SetArgs(args)
	root.SetOut(a.Stdout)
	root.SetErr(a.Stderr)
	if a.Stdin != nil {
		root.SetIn(a.Stdin)
	} else {
		root.SetIn(strings.NewReader(""))
	}
	cmd, err := root.ExecuteContextC(ctx)
	e.close()
	if err == nil {
		return ExitOK
	}
	code := ExitCode(err)
	switch {
	case isSpecError(err):
		fmt.Fprintln(a.Stderr, err)
	case err.Error() != "":
		fmt.Fprintf(a.Stderr, "zdm: %s\n", err)
		if wantsHint(err) {
			fmt.Fprintf(a.Stderr, "run '%s --help' for usage\n", cmd.CommandPath())
		}
	}
	return code
}

// env is one invocation: the App, the global flags and the client once dialed.
type env struct {
	*App
	address   string
	namespace string
	c         client.Client
	pool      *pgxpool.Pool // DATABASE_URL, once a command needed it
	// inMigrate is set while zdm migrate starts files: "never rehearsed" is left out.
	inMigrate bool
}

func (e *env) getenv(key, def string) string {
	if v := strings.TrimSpace(e.Getenv(key)); v != "" {
		return v
	}
	return def
}

func (e *env) rootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "zdm",
		Short: "Zero-downtime PostgreSQL migrations run as Temporal workflows",
		Long: `zdm runs a migration file as a Temporal workflow: expand, backfill, verify,
gates for a person's approval, contract, and rollback when anything fails.

Exit codes: 0 ok; 1 migration failed or rolled back, or operation refused;
2 usage or bad migration file; 3 Temporal unreachable; 4 no such migration;
5 the migration waits at a gate (watch, start --wait); 130 watch interrupted.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().StringVar(&e.address, "address", e.getenv("TEMPORAL_ADDRESS", DefaultAddress), "Temporal frontend host:port (env TEMPORAL_ADDRESS)")
	root.PersistentFlags().StringVar(&e.namespace, "namespace", e.getenv("TEMPORAL_NAMESPACE", DefaultNamespace), "Temporal namespace (env TEMPORAL_NAMESPACE)")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError("%v", err) })
	root.AddCommand(
		e.startCommand(),
		e.statusCommand(),
		e.decideCommand(true),
		e.decideCommand(false),
		e.pauseCommand(true),
		e.pauseCommand(false),
		e.watchCommand(),
		e.listCommand(),
		e.planCommand(),
		e.cancelCommand(),
		e.leftoversCommand(),
		e.cleanupCommand(),
		e.migrateCommand(),
		e.historyCommand(),
		e.baselineCommand(),
		e.newCommand(),
		e.convertCommand(),
		e.lintCommand(),
		e.rehearseCommand(),
	)
	for _, cmd := range root.Commands() {
		if run := cmd.RunE; run != nil {
			cmd.RunE = func(cmd *cobra.Command, args []string) error { return classified(run(cmd, args)) }
		}
	}
	return root
}

// classified gives an error no command classified the exit code of a refused
// operation, so that only cobra's own complaints count as usage errors.
func classified(err error) error {
	var ee *exitError
	if err == nil || errors.As(err, &ee) || isSpecError(err) {
		return err
	}
	return &exitError{code: ExitFailed, err: err}
}

// oneName is the argument rule of commands that act on one migration.
func oneName(_ *cobra.Command, args []string) error {
	if len(args) != 1 || strings.TrimSpace(args[0]) == "" {
		return usageError("expected one migration name, got %d arguments", len(args))
	}
	return nil
}

// client dials Temporal once per invocation.
func (e *env) client(ctx context.Context) (client.Client, error) {
	if e.c != nil {
		return e.c, nil
	}
	ctx, cancel := context.WithTimeout(ctx, dialTimeout)
	defer cancel()
	c, err := e.Dial(ctx, client.Options{
		HostPort:  e.address,
		Namespace: e.namespace,
		Logger:    e.sdkLogger(),
	})
	if err != nil {
		return nil, e.unreachable(err)
	}
	e.c = c
	return c, nil
}

// sdkLogger keeps the SDK's own logging off the user's screen unless ZDM_DEBUG is set.
func (e *env) sdkLogger() log.Logger {
	w := io.Discard
	if e.Getenv("ZDM_DEBUG") != "" {
		w = e.Stderr
	}
	return log.NewStructuredLogger(slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug})))
}

func (e *env) close() {
	if e.c != nil {
		e.c.Close()
	}
	if e.pool != nil {
		e.pool.Close()
	}
}

// uiURL is the Temporal UI page of the migration's workflow.
func (e *env) uiURL(workflowID string) string {
	return workflowURL(e.getenv("ZDM_UI_URL", DefaultUIURL), e.namespace, workflowID)
}

// user is who decides when --by is not given.
func (e *env) user() string { return strings.TrimSpace(e.Getenv("USER")) }

// printJSON writes v as indented JSON, for the commands' --json.
func (e *env) printJSON(v any) error {
	enc := json.NewEncoder(e.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
