package cli

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"
	"go.temporal.io/sdk/client"

	"github.com/zdmhq/zdm/internal/spec"
)

func (e *env) statusCommand() *cobra.Command {
	var asJSON bool
	var dir string
	cmd := &cobra.Command{
		Use:   "status [NAME] [--dir DIR] [--json]",
		Short: "Show where a migration is, and what it waits for; without NAME, where a directory's migrations stand",
		Long: `Status asks the migration's workflow for its progress: phase, rows, rate, ETA,
the gate it waits at and how to approve it, pause state, flags, approvals and
errors. When no worker answers, it shows what Temporal itself recorded.

Without NAME it shows the sequence of the migrations directory (--dir, else
ZDM_MIGRATIONS_DIR, else migrations) against the history in DATABASE_URL's
database: each file in order, applied (when, by whom), running (its phase), pending,
or edited after it was applied; and the migrations of the history whose file is no
longer in the directory.`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return nil
			}
			if dir != "" {
				return usageError("--dir shows a directory's migrations: give it without NAME")
			}
			return oneName(cmd, args)
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return e.sequenceStatus(cmd.Context(), e.migrationsDir(dir), asJSON)
			}
			c, err := e.client(cmd.Context())
			if err != nil {
				return err
			}
			fv, isFleet, err := e.fleetStatus(cmd.Context(), c, args[0])
			switch {
			case err != nil:
				return err
			case isFleet && asJSON:
				return e.printJSON(fv)
			case isFleet:
				fmt.Fprint(e.Stdout, RenderFleet(fv))
				return nil
			}
			v, err := e.status(cmd.Context(), c, args[0])
			if err != nil {
				return err
			}
			if asJSON {
				return e.printJSON(v)
			}
			fmt.Fprint(e.Stdout, RenderStatus(v))
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the status as JSON")
	cmd.Flags().StringVar(&dir, "dir", "", "without NAME: the migrations directory (env ZDM_MIGRATIONS_DIR, default migrations)")
	return cmd
}

// status gathers a migration's status: Temporal's record first (which also says whether
// the migration exists), then the worker's answer to the progress query, else the
// result in the history of a migration that has ended.
func (e *env) status(ctx context.Context, c client.Client, name string) (StatusView, error) {
	resp, err := e.describe(ctx, c, name)
	if err != nil {
		return StatusView{}, err
	}
	v := viewOf(name, e.uiURL(spec.WorkflowID(name)), resp)
	p, err := queryProgress(ctx, c, spec.WorkflowID(name), queryTimeout)
	if err == nil {
		v.Progress = p
		return v, nil
	}
	v.QueryError = err.Error()
	if running(resp) {
		v.Stale = true
		return v, nil
	}
	s, final := outcome(ctx, c, name)
	v.Failure = s.Err
	v.Progress = final
	return v, nil
}
