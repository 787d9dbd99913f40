package cli

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"go.temporal.io/api/serviceerror"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/zdmhq/zdm/internal/spec"
)

func TestExitCode(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want int
	}{
		{"nil", nil, ExitOK},
		{"refused", exitf(ExitFailed, "x"), ExitFailed},
		{"at gate", quietExit(ExitAtGate), ExitAtGate},
		{"wrapped", fmt.Errorf("ctx: %w", exitf(ExitNotFound, "x")), ExitNotFound},
		{"usage", usageError("x"), ExitUsage},
		{"spec error", &spec.FieldError{File: "m.yaml", Line: 3, Msg: "bad"}, ExitUsage},
		{"spec errors", spec.Errors{{File: "m.yaml", Line: 3, Msg: "bad"}}, ExitUsage},
		{"cobra", errors.New(`unknown command "frob" for "zdm"`), ExitUsage},
	} {
		assert.Equal(t, tc.want, ExitCode(tc.err), tc.name)
	}
}

func TestTemporalErrorMapping(t *testing.T) {
	e := &env{address: "127.0.0.1:7533", namespace: "default"}
	for _, tc := range []struct {
		name string
		err  error
		code int
		msg  string
	}{
		{"not found", serviceerror.NewNotFound("workflow not found"), ExitNotFound, "no migration named orders (workflow zdm-orders not found)"},
		{"unavailable", serviceerror.NewUnavailable("connection refused"), ExitUnreachable, "cannot reach Temporal at 127.0.0.1:7533: connection refused (start it with 'make up', or set TEMPORAL_ADDRESS)"},
		{"grpc unavailable", status.Error(codes.Unavailable, "down"), ExitUnreachable, "cannot reach Temporal at 127.0.0.1:7533"},
		{"deadline", context.DeadlineExceeded, ExitUnreachable, "cannot reach Temporal"},
		{"namespace", serviceerror.NewNamespaceNotFound("default"), ExitUnreachable, `namespace "default" does not exist`},
		{"other", serviceerror.NewInvalidArgument("nope"), ExitFailed, "nope"},
	} {
		err := e.temporalError("orders", tc.err)
		assert.Equal(t, tc.code, ExitCode(err), tc.name)
		assert.Contains(t, err.Error(), tc.msg, tc.name)
	}
	assert.NoError(t, e.temporalError("orders", nil))
}
