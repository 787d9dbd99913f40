package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/zdmhq/zdm/internal/spec"
	"github.com/zdmhq/zdm/workflows"
)

// decideTimeout bounds an approve or reject: the update completes only once a worker
// has run it.
const decideTimeout = 30 * time.Second

func (e *env) decideCommand(approve bool) *cobra.Command {
	var d workflows.Decision
	verb, update, textFlag, textHelp := "approve", workflows.UpdateApprove, "comment", "why, for the record"
	if !approve {
		verb, update, textFlag, textHelp = "reject", workflows.UpdateReject, "reason", "why it is rejected, for the record"
	}
	cmd := &cobra.Command{
		Use:   verb + " NAME --gate GATE --by WHO [--" + textFlag + " TEXT]",
		Short: strings.ToUpper(verb[:1]) + verb[1:] + " the gate a migration waits at",
		Long: fmt.Sprintf(`%s sends the %q update to the migration's workflow and waits until the
workflow has acted on it. A gate the migration is not waiting at is refused with
the workflow's own explanation (exit 1).`, strings.ToUpper(verb[:1])+verb[1:], update),
		Args: oneName,
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			if d.Gate == "" {
				return usageError("--gate is required: %s, %s, %s (after a guard breach) or %s (at the end of an undo window)", spec.GateReadNew, spec.GateContract, spec.GateRecover, spec.GateFinalize)
			}
			if err := requireBy(d.By, verb+"s"); err != nil {
				return err
			}
			c, err := e.client(cmd.Context())
			if err != nil {
				return err
			}
			p, err := e.update(cmd.Context(), c, name, update, d)
			if err != nil {
				return err
			}
			done := "approved"
			if !approve {
				done = "rejected"
			}
			fmt.Fprintf(e.Stdout, "%s gate %s of migration %s as %s (phase %s)\n", done, d.Gate, name, d.By, p.Phase)
			if !approve {
				fmt.Fprintln(e.Stdout, "the migration now rolls back")
			}
			fmt.Fprintf(e.Stdout, "follow it:  zdm watch %s\n", name)
			return nil
		},
	}
	cmd.Flags().StringVar(&d.Gate, "gate", "", "the gate: "+spec.GateReadNew+", "+spec.GateContract+", "+spec.GateRecover+" or "+spec.GateFinalize+"; of a fleet, wave:NAME")
	cmd.Flags().StringVar(&d.By, "by", e.user(), "who decides (default $USER)")
	cmd.Flags().StringVar(&d.Comment, textFlag, "", textHelp)
	return cmd
}

// requireBy refuses a request that does not say who makes it; who is the verb that
// completes "say who ...".
func requireBy(by, who string) error {
	if strings.TrimSpace(by) == "" {
		return usageError("--by is required: say who %s (it defaults to $USER, which is not set)", who)
	}
	return nil
}

// update sends a request (a decision at a gate, a revert or a finalize) as an update
// and waits until a worker has acted on it; the workflow's validator can refuse it.
func (e *env) update(ctx context.Context, c client.Client, name, update string, arg any) (*workflows.Progress, error) {
	ctx, cancel := context.WithTimeout(ctx, decideTimeout)
	defer cancel()
	h, err := c.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
		WorkflowID:   spec.WorkflowID(name),
		UpdateName:   update,
		Args:         []any{arg},
		WaitForStage: client.WorkflowUpdateStageCompleted,
	})
	var p workflows.Progress
	if err == nil {
		err = h.Get(ctx, &p)
	}
	if err != nil {
		return nil, e.messageError(ctx, c, name, update, err)
	}
	return &p, nil
}

// messageError explains why a message (update or signal) did not reach a migration.
func (e *env) messageError(ctx context.Context, c client.Client, name, what string, err error) error {
	var timeout *client.WorkflowUpdateServiceTimeoutOrCanceledError
	if errors.As(err, &timeout) || ctx.Err() != nil {
		return exitf(ExitFailed, "%s of migration %s: no worker acted on it (is the zdm worker running? see zdm status %s)", what, name, name)
	}
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		// A closed workflow takes no messages; say so rather than "not found".
		resp, derr := e.describe(context.WithoutCancel(ctx), c, name)
		if derr != nil {
			return derr
		}
		if !running(resp) {
			return ended(name, viewOf(name, "", resp), what)
		}
	}
	if isServiceError(err) {
		return e.temporalError(name, err)
	}
	return exitf(ExitFailed, "%s refused: %s", what, rootCause(err))
}

// ended refuses a message to a migration that has ended, saying how it ended.
func ended(name string, v StatusView, what string) error {
	return exitf(ExitFailed, "migration %s has already ended (%s, phase %s): there is nothing to %s, and nothing was done", name, v.Status, orUnknown(v.Phase), what)
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

// isServiceError says whether err came from the Temporal service rather than from the
// workflow.
func isServiceError(err error) bool {
	for ; err != nil; err = errors.Unwrap(err) {
		if _, ok := err.(serviceerror.ServiceError); ok {
			return true
		}
	}
	return false
}
