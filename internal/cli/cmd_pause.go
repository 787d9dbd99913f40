package cli

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"
	"go.temporal.io/sdk/client"

	"github.com/zdmhq/zdm/internal/spec"
	"github.com/zdmhq/zdm/workflows"
)

func (e *env) pauseCommand(pause bool) *cobra.Command {
	var req workflows.PauseRequest
	verb, signal, short := "pause", workflows.SignalPause, "Pause a migration's backfill between slices"
	if !pause {
		verb, signal, short = "resume", workflows.SignalResume, "Resume a paused backfill"
	}
	cmd := &cobra.Command{
		Use:   verb + " NAME [--by WHO]",
		Short: short,
		Long: short + `. The workflow records who asked; the slice under way
finishes its batch first, so a pause takes effect within a few seconds.`,
		Args: oneName,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := e.client(cmd.Context())
			if err != nil {
				return err
			}
			if err := e.signal(cmd.Context(), c, args[0], signal, req); err != nil {
				return err
			}
			fmt.Fprintf(e.Stdout, "sent %s to migration %s (see zdm status %s)\n", signal, args[0], args[0])
			return nil
		},
	}
	cmd.Flags().StringVar(&req.By, "by", e.user(), "who asks (default $USER)")
	if pause {
		cmd.Flags().StringVar(&req.Reason, "reason", "", "why, shown in status")
	}
	return cmd
}

func (e *env) signal(ctx context.Context, c client.Client, name, signal string, arg any) error {
	sctx, cancel := context.WithTimeout(ctx, dialTimeout)
	defer cancel()
	if err := c.SignalWorkflow(sctx, spec.WorkflowID(name), "", signal, arg); err != nil {
		return e.messageError(ctx, c, name, signal, err)
	}
	return nil
}
