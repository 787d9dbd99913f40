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

	"github.com/zdmhq/zdm/internal/temporalconn"
)

// Defaults, each overridden by the environment variable next to it.
const (
	DefaultAddress   = temporalconn.DefaultAddress   // TEMPORAL_ADDRESS, or the profile's
	DefaultNamespace = temporalconn.DefaultNamespace // TEMPORAL_NAMESPACE, or the profile's
	DefaultUIURL     = "http://127.0.0.1:8233"       // ZDM_UI_URL
	dialTimeout      = 5 * time.Second
)

// App is what the commands need from the outside world; tests replace parts of it.
type App struct {
	Stdout, Stderr io.Writer
	// Stdin is what zdm lint - reads; nil reads nothing.
	Stdin  io.Reader
	Getenv func(string) string
	// Environ lists the environment, for TEMPORAL_GRPC_META_* headers; nil lists none.
	Environ func() []string
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
		Environ:      os.Environ,
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
	// address and namespace are the flags until the client settings are loaded, then
	// what they resolve to.
	address, namespace  string
	profile, configFile string
	conn                *temporalconn.Settings
	c                   client.Client
	pool                *pgxpool.Pool // DATABASE_URL, once a command needed it
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
	root.PersistentFlags().StringVar(&e.address, "address", "", "Temporal frontend host:port (env TEMPORAL_ADDRESS, or the profile's; default "+DefaultAddress+")")
	root.PersistentFlags().StringVar(&e.namespace, "namespace", "", "Temporal namespace (env TEMPORAL_NAMESPACE, or the profile's; default "+DefaultNamespace+")")
	root.PersistentFlags().StringVar(&e.profile, "profile", "", "profile of the Temporal profile file, as the temporal CLI's (env TEMPORAL_PROFILE; default \"default\")")
	root.PersistentFlags().StringVar(&e.configFile, "config-file", "", "Temporal profile file (env TEMPORAL_CONFIG_FILE; default ~/.config/temporalio/temporal.toml)")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError("%v", err) })
	root.AddCommand(
		e.startCommand(),
		e.statusCommand(),
		e.decideCommand(true),
		e.decideCommand(false),
		e.pauseCommand(true),
		e.pauseCommand(false),
		e.undoCommand(true),
		e.undoCommand(false),
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
	conn, err := e.connSettings()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, dialTimeout)
	defer cancel()
	opts := conn.Options
	opts.Logger = e.sdkLogger()
	c, err := e.Dial(ctx, opts)
	if err != nil {
		return nil, e.unreachable(err)
	}
	e.c = c
	return c, nil
}

// connSettings loads the Temporal client settings once: flags, then TEMPORAL_* and the
// profile file, as the temporal CLI reads them. ZDM_DEBUG prints them (never a credential).
func (e *env) connSettings() (*temporalconn.Settings, error) {
	if e.conn != nil {
		return e.conn, nil
	}
	conn, err := temporalconn.Load(temporalconn.Request{
		Env:     temporalconn.Getenv(e.Getenv, e.Environ),
		Address: e.address, Namespace: e.namespace, Profile: e.profile, ConfigFile: e.configFile,
	})
	if err != nil {
		return nil, &exitError{code: ExitUsage, err: err, msg: err.Error()}
	}
	e.conn, e.address, e.namespace = &conn, conn.Address, conn.Namespace
	if e.Getenv("ZDM_DEBUG") != "" {
		fmt.Fprintf(e.Stderr, "zdm: Temporal at %s\n", conn)
	}
	return e.conn, nil
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
	_, _ = e.connSettings() // the profile's namespace; a bad profile was reported on dialing
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
