package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/zdmhq/zdm/workflows"
)

// undoCommand is zdm revert or zdm finalize: a request to a migration in its undo window.
func (e *env) undoCommand(revert bool) *cobra.Command {
	var req workflows.UndoRequest
	verb, update, short, long := "finalize", workflows.UpdateFinalize,
		"Drop what a migration's undo window kept, now",
		`Finalize ends a migration's undo window now: the old column, table, view or index that
contract kept is dropped, and the migration completes. Without it they are dropped when
the window ends (or, with the finalize gate, once it is approved).`
	if revert {
		verb, update, short, long = "revert", workflows.UpdateRevert,
			"Bring back the schema as it was before a migration, during its undo window",
			`Revert brings back, during a migration's undo window, the schema as it was before the
migration, with every write made since contract: the old shape comes back beside the new
one, the flags move applications back to it (as a rollback does), and the new shape is
dropped. The migration ends as reverted.`
	}
	cmd := &cobra.Command{
		Use:   verb + " NAME [--by WHO] [--comment TEXT]",
		Short: short,
		Long: long + `

It sends the "` + update + `" update and waits until the workflow has accepted it; a
migration that is not in its undo window refuses it with the reason (exit 1).`,
		Args: oneName,
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			if err := requireBy(req.By, "asks"); err != nil {
				return err
			}
			c, err := e.client(cmd.Context())
			if err != nil {
				return err
			}
			if _, err := e.update(cmd.Context(), c, name, update, req); err != nil {
				return err
			}
			fmt.Fprintf(e.Stdout, "asked migration %s to %s, as %s\n", name, verb, req.By)
			fmt.Fprintf(e.Stdout, "follow it:  zdm watch %s\n", name)
			return nil
		},
	}
	cmd.Flags().StringVar(&req.By, "by", e.user(), "who asks (default $USER)")
	cmd.Flags().StringVar(&req.Comment, "comment", "", "why, for the record")
	return cmd
}

// inUndoWindow refuses to cancel a migration in its undo window: past contract a
// cancellation changes nothing, and revert or finalize say what to do.
func inUndoWindow(name string, v StatusView) error {
	if v.Phase != string(workflows.PhaseUndoWindow) {
		return nil
	}
	return exitf(ExitFailed, "migration %s is contracted and in its undo window: cancel changes nothing there; zdm revert %s brings the old schema back, zdm finalize %s ends the window", name, name, name)
}
