package cli

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/zdmhq/zdm/internal/spec"
)

func (e *env) cancelCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "cancel NAME",
		Short: "Roll a migration back, whatever step it is at, until its contract begins",
		Long: `Cancel asks the migration's workflow to stop. Before contract it rolls back what it
did, in reverse (flags off, trigger, checks and new columns dropped), and the table ends
as it began. Once contract has begun there is no going back: it finishes. Follow it with
zdm watch NAME. A migration that has already ended (completed, rolled back, failed)
is left as it is, with exit code 1.`,
		Args: oneName,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := e.client(cmd.Context())
			if err != nil {
				return err
			}
			name := args[0]
			// A migration that has ended takes no cancellation: say so, rather than
			// promise a rollback that will not happen.
			resp, err := e.describe(cmd.Context(), c, name)
			if err != nil {
				return err
			}
			if !running(resp) {
				return ended(name, viewOf(name, "", resp), "cancel")
			}
			if err := inUndoWindow(name, viewOf(name, "", resp)); err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), dialTimeout)
			defer cancel()
			if err := c.CancelWorkflow(ctx, spec.WorkflowID(name), ""); err != nil {
				return e.messageError(cmd.Context(), c, name, "cancel", err)
			}
			fmt.Fprintf(e.Stdout, "asked migration %s to cancel: it rolls back unless its contract has begun\nfollow it:  zdm watch %s\n", name, name)
			return nil
		},
	}
}
