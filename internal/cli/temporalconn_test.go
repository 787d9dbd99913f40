package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"

	"github.com/zdmhq/zdm/internal/testenv"
)

// The CLI reads the temporal CLI's profile file and TEMPORAL_TLS_* variables; --profile
// and --config-file pick as the temporal CLI's flags do, and --namespace beats the
// profile. A certificate the CA does not sign is refused with what to check.
func TestProfileAndTLSSettings(t *testing.T) {
	certs := testenv.NewCerts(t)
	file := testenv.TemporalProfiles(t, fmt.Sprintf(`
[profile.prod]
address = "temporal.example.com:7233"
namespace = "payments"
api_key = "secret-api-key-1234"
[profile.prod.tls]
server_ca_cert_path = %q
`, certs.CACert))

	run := func(env map[string]string, dial func(client.Options) error, args ...string) (int, string) {
		var out, errOut bytes.Buffer
		app := &App{Stdout: &out, Stderr: &errOut, Getenv: func(k string) string { return env[k] },
			Dial: func(_ context.Context, o client.Options) (client.Client, error) { return nil, dial(o) }}
		code := app.Run(context.Background(), args)
		return code, errOut.String()
	}
	x509Err := errors.New("failed reaching server: connection error: desc = \"transport: authentication handshake failed: tls: failed to verify certificate: x509: certificate signed by unknown authority\"")
	dialed := 0
	code, stderr := run(map[string]string{"TEMPORAL_CONFIG_FILE": file}, func(o client.Options) error {
		dialed++
		assert.Equal(t, "temporal.example.com:7233", o.HostPort)
		assert.Equal(t, "override", o.Namespace)
		require.NotNil(t, o.ConnectionOptions.TLS)
		assert.NotNil(t, o.ConnectionOptions.TLS.RootCAs)
		assert.NotNil(t, o.Credentials)
		return x509Err
	}, "--profile", "prod", "--namespace", "override", "status", "orders")
	assert.Equal(t, 1, dialed)
	assert.Equal(t, ExitUnreachable, code)
	assert.Contains(t, stderr, "zdm: cannot reach Temporal at temporal.example.com:7233, namespace override, profile prod of "+file+", TLS (CA "+certs.CACert+"), API key: ")
	assert.Contains(t, stderr, "x509: certificate signed by unknown authority\" (zdm does not trust Temporal's certificate at temporal.example.com:7233: it must be signed by the CA of TEMPORAL_TLS_SERVER_CA_CERT_PATH")
	assert.NotContains(t, stderr, "check TEMPORAL_ADDRESS", "one hint is enough")
	assert.NotContains(t, stderr, "secret-api-key-1234")

	// --config-file and TEMPORAL_PROFILE do the same.
	code, _ = run(map[string]string{"TEMPORAL_PROFILE": "prod"}, func(o client.Options) error {
		assert.Equal(t, "payments", o.Namespace)
		return errors.New("connection refused")
	}, "--config-file", file, "list")
	assert.Equal(t, ExitUnreachable, code)

	// A profile that is not there is a usage error, before any dialing.
	code, stderr = run(map[string]string{"TEMPORAL_CONFIG_FILE": file}, func(client.Options) error {
		t.Fatal("dialed with a profile that does not exist")
		return nil
	}, "--profile", "staging", "status", "orders")
	assert.Equal(t, ExitUsage, code)
	assert.Equal(t, "zdm: Temporal profile \"staging\" is not in "+file+" (it has profiles prod): fix TEMPORAL_PROFILE or --profile\n", stderr)
}
