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
zdm watch NAME.`,
		Args: oneName,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := e.client(cmd.Context())
			if err != nil {
				return err
			}
			name := args[0]
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
