package cli

import (
	"context"
	"errors"
	"fmt"

	"go.temporal.io/api/serviceerror"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/zdmhq/zdm/internal/spec"
)

// Exit codes, stable for scripts.
const (
	ExitOK          = 0 // done
	ExitFailed      = 1 // the migration failed or rolled back, or the operation was refused
	ExitUsage       = 2 // bad flags, arguments or migration file
	ExitUnreachable = 3 // Temporal cannot be reached
	ExitNotFound    = 4 // no such migration (workflow)
	ExitAtGate      = 5 // --wait or watch stopped: the migration waits for a person at a gate

	ExitInterrupted = 130 // watch stopped by Ctrl-C, as shells report an interrupt
)

// exitError carries the exit code a failure ends the program with. An empty message
// prints nothing: the command has said what it had to say.
type exitError struct {
	code int
	msg  string
	err  error
	hint bool // point at --help
}

func (e *exitError) Error() string {
	if e.msg == "" && e.err != nil {
		return e.err.Error()
	}
	return e.msg
}

func (e *exitError) Unwrap() error { return e.err }

func exitf(code int, format string, args ...any) error {
	return &exitError{code: code, msg: fmt.Sprintf(format, args...)}
}

// quietExit ends the program with code after the command printed its own explanation.
func quietExit(code int) error { return &exitError{code: code} }

// usageError marks a mistake in how zdm was called.
func usageError(format string, args ...any) error {
	return &exitError{code: ExitUsage, msg: fmt.Sprintf(format, args...), hint: true}
}

// wantsHint says whether err is a mistake in the command line, worth a pointer to --help.
func wantsHint(err error) bool {
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.hint
	}
	return !isSpecError(err) // cobra's own complaints
}

// ExitCode maps an error returned by a command to the program's exit code. Errors no
// command classified come from cobra itself (unknown command or flag), hence usage.
func ExitCode(err error) int {
	if err == nil {
		return ExitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	// Migration file errors, and cobra's own complaints (unknown command or flag).
	return ExitUsage
}

// isSpecError says whether err is a migration file problem, already written as
// file:line: field: message.
func isSpecError(err error) bool {
	var fe *spec.FieldError
	var fes spec.Errors
	return errors.As(err, &fe) || errors.As(err, &fes)
}

// temporalError turns an error from a Temporal call about migration name into one with
// the right exit code and a message that says what to do.
func (e *env) temporalError(name string, err error) error {
	if err == nil {
		return nil
	}
	var ee *exitError
	if errors.As(err, &ee) {
		return err
	}
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		return e.notFound(name)
	}
	var nsnf *serviceerror.NamespaceNotFound
	if errors.As(err, &nsnf) {
		return &exitError{code: ExitUnreachable, err: err,
			msg: fmt.Sprintf("namespace %q does not exist on Temporal at %s (create it with 'temporal operator namespace create --namespace %s', or set TEMPORAL_NAMESPACE)", e.namespace, e.address, e.namespace)}
	}
	if unreachable(err) {
		return e.unreachable(err)
	}
	return &exitError{code: ExitFailed, err: err, msg: err.Error()}
}

func (e *env) notFound(name string) error {
	return &exitError{code: ExitNotFound,
		msg: fmt.Sprintf("no migration named %s (workflow %s not found)", name, spec.WorkflowID(name))}
}

func (e *env) unreachable(err error) error {
	if c := e.conn; c != nil && (c.TLS != "off" || c.APIKey || c.Profile != "") {
		// A secured cluster: say how zdm connected, and what to check when TLS failed.
		explained := c.Explain(err)
		msg := fmt.Sprintf("cannot reach Temporal at %s: %v", c, explained)
		if explained == err {
			msg += " (check TEMPORAL_ADDRESS, TEMPORAL_PROFILE and TEMPORAL_TLS_*)"
		}
		return &exitError{code: ExitUnreachable, err: err, msg: msg}
	}
	return &exitError{code: ExitUnreachable, err: err,
		msg: fmt.Sprintf("cannot reach Temporal at %s: %v (start it with 'make up', or set TEMPORAL_ADDRESS)", e.address, err)}
}

// unreachable says whether err means the server did not answer at all.
func unreachable(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var un *serviceerror.Unavailable
	if errors.As(err, &un) {
		return true
	}
	if s, ok := status.FromError(err); ok {
		return s.Code() == codes.Unavailable || s.Code() == codes.DeadlineExceeded
	}
	return false
}
