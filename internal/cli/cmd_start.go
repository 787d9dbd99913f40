package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/spf13/cobra"

	"github.com/zdmhq/zdm/internal/spec"
	"github.com/zdmhq/zdm/workflows"
)

func (e *env) startCommand() *cobra.Command {
	var file string
	var wait bool
	var targets string
	cmd := &cobra.Command{
		Use:   "start -f FILE [--wait]",
		Short: "Start the migration a file describes",
		Long: `Start checks the migration file, then starts its workflow (ID zdm-NAME) on task
queue "zdm". A file with mistakes starts nothing: each is printed as file:line.
When DATABASE_URL is set, the file is also checked against the live table first,
and the worker refuses the migration if its own DATABASE_URL names another database.
A migration that is still running cannot be started again; one that has ended can.
With --wait, zdm then watches it like 'zdm watch'.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if file == "" {
				return usageError("start needs the migration file: zdm start -f FILE")
			}
			m, err := spec.ParseFile(file)
			if err != nil {
				if isSpecError(err) {
					return err
				}
				return exitf(ExitUsage, "%v", err)
			}
			if targets != "" {
				if wait {
					return usageError("--wait follows one migration: follow a fleet with zdm status %s", m.Name)
				}
				return e.startFleet(cmd.Context(), m, targets)
			}
			if err := e.startChecked(cmd.Context(), m); err != nil {
				return err
			}
			if !wait {
				fmt.Fprintf(e.Stdout, "follow it:  zdm watch %s\n", m.Name)
				return nil
			}
			c, err := e.client(cmd.Context())
			if err != nil {
				return err
			}
			return e.watch(cmd.Context(), c, m.Name)
		},
	}
	cmd.Flags().StringVarP(&file, "file", "f", "", "migration file (YAML)")
	cmd.Flags().BoolVar(&wait, "wait", false, "watch the migration until it ends or waits at a gate")
	cmd.Flags().StringVar(&targets, "targets", "", "targets file (YAML): run the migration across a fleet of databases, wave by wave")
	return cmd
}

// startOptions starts the workflow of m: a new run is allowed once the last one has
// ended, never beside a running one.
func startOptions(m *spec.Migration) client.StartWorkflowOptions {
	return client.StartWorkflowOptions{
		ID:                                       spec.WorkflowID(m.Name),
		TaskQueue:                                workflows.TaskQueue,
		WorkflowIDReusePolicy:                    enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
		WorkflowIDConflictPolicy:                 enumspb.WORKFLOW_ID_CONFLICT_POLICY_FAIL,
		WorkflowExecutionErrorWhenAlreadyStarted: true,
		TypedSearchAttributes:                    temporal.NewSearchAttributes(workflows.MigrationTable.ValueSet(qualifiedTable(m))),
	}
}

// startChecked starts m once it fits the live table. With DATABASE_URL at hand, a
// migration that does not fit is refused here, before any workflow starts; the worker
// checks again, and refuses to migrate any database but the one checked here.
func (e *env) startChecked(ctx context.Context, m *spec.Migration) error {
	p, err := e.livePlan(ctx, m, false)
	if err != nil {
		return err
	}
	in := workflows.MigrationInput{Migration: *m, StartedBy: e.user()}
	if p != nil {
		in.CheckedAgainst = &p.Database
		// The file's latest rehearsal, and require_rehearsal (the worker checks it too).
		if line := rehearsalLine(ctx, e.pool, m); line != "" && (!e.inMigrate || !strings.HasPrefix(line, "never")) {
			fmt.Fprintf(e.Stdout, "%s\n", line)
		}
		if err := checkRehearsed(ctx, e.pool, m); err != nil {
			return err
		}
	}
	return e.start(ctx, in)
}

func (e *env) start(ctx context.Context, in workflows.MigrationInput) error {
	m := &in.Migration
	c, err := e.client(ctx)
	if err != nil {
		return err
	}
	opts := startOptions(m)
	sctx, cancel := context.WithTimeout(ctx, dialTimeout)
	defer cancel()
	run, err := c.ExecuteWorkflow(sctx, opts, workflows.MigrationWorkflow, in)
	if err != nil {
		return e.startError(m, err)
	}
	fmt.Fprintf(e.Stdout, "started migration %s on %s\n", m.Name, startedOn(m))
	fmt.Fprintf(e.Stdout, "  workflow  %s\n", run.GetID())
	fmt.Fprintf(e.Stdout, "  run       %s\n", run.GetRunID())
	fmt.Fprintf(e.Stdout, "  web UI    %s\n", e.uiURL(run.GetID()))
	return nil
}

func (e *env) startError(m *spec.Migration, err error) error {
	var started *serviceerror.WorkflowExecutionAlreadyStarted
	if errors.As(err, &started) {
		return exitf(ExitFailed, "migration %s is already running (see zdm status %s)", m.Name, m.Name)
	}
	var invalid *serviceerror.InvalidArgument
	if errors.As(err, &invalid) && strings.Contains(strings.ToLower(invalid.Error()), "search attribute") {
		return exitf(ExitFailed, "Temporal at %s refused the migration's search attributes: %v (register them: temporal operator search-attribute create --namespace %s --name MigrationPhase --name MigrationTable --type Keyword)", e.address, err, e.namespace)
	}
	return e.temporalError(m.Name, err)
}

// qualifiedTable is schema.table, as the workflow records it once it has read the schema.
func qualifiedTable(m *spec.Migration) string {
	if m.Table != "" {
		schema, table := m.QualifiedTable()
		return schema + "." + table
	}
	if tables := m.Tables(); len(tables) > 0 {
		return tables[0]
	}
	return ""
}

// startedOn names the tables a migration's operations act on.
func startedOn(m *spec.Migration) string {
	switch tables := m.Tables(); len(tables) {
	case 0:
		return "no table"
	case 1:
		return "table " + tables[0]
	default:
		return "tables " + strings.Join(tables, ", ")
	}
}
