package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"

	"github.com/zdmhq/zdm/internal/cli"
	"github.com/zdmhq/zdm/internal/testenv"
)

// A production Temporal wants TLS, often mutual, or an API key. The dev server has no
// TLS, so a TLS-terminating proxy with certificates of the test's own CA stands in front
// of it. The real worker process and the CLI reach it with mTLS through the
// TEMPORAL_TLS_* variables and through a temporal CLI profile file, and with an API key
// that the proxy checks in every gRPC request's headers; each way runs a migration to
// its end. A wrong CA, a missing client certificate, a missing server name and a wrong
// or missing API key are refused, and nothing logs a key.
func TestTemporalOverTLS(t *testing.T) {
	t.Parallel()
	dsn, pool := testDB(t)
	// zdm starts its workflows on task queue "zdm": a dev server of this test's own keeps
	// them away from the workers of other tests.
	srv := startOwnDevServer(t)
	accountsTable(t, pool, 2000)

	certs, otherCA := testenv.NewCerts(t), testenv.NewCerts(t)
	mtls := testenv.StartTLSProxy(t, srv.hostPort, testenv.ProxyConfig{Certs: certs, RequireClientCert: true})
	const apiKey = "zdm-test-api-key-7f3a9c"
	keyed := testenv.StartTLSProxy(t, srv.hostPort, testenv.ProxyConfig{Certs: certs, APIKey: apiKey})
	clientKey, err := os.ReadFile(certs.ClientKey)
	require.NoError(t, err)
	keyBody := strings.Split(strings.TrimSpace(string(clientKey)), "\n")[1]

	_, port, _ := strings.Cut(mtls.Addr, ":")
	profiles := testenv.TemporalProfiles(t, fmt.Sprintf(`
[profile.default]
address = "127.0.0.1:1"

[profile.prod]
address = "localhost:%s"
namespace = "default"
`, port)+certs.ProfileTLS("prod"))

	mtlsEnv := map[string]string{
		"TEMPORAL_ADDRESS":                 mtls.Addr,
		"TEMPORAL_TLS_CLIENT_CERT_PATH":    certs.ClientCert,
		"TEMPORAL_TLS_CLIENT_KEY_PATH":     certs.ClientKey,
		"TEMPORAL_TLS_SERVER_CA_CERT_PATH": certs.CACert,
		"TEMPORAL_TLS_SERVER_NAME":         testenv.TLSServerName,
	}
	keyEnv := map[string]string{
		"TEMPORAL_ADDRESS":                 keyed.Addr,
		"TEMPORAL_API_KEY":                 apiKey,
		"TEMPORAL_TLS_SERVER_CA_CERT_PATH": certs.CACert,
		"TEMPORAL_TLS_SERVER_NAME":         testenv.TLSServerName,
	}
	for i, mode := range []struct {
		name      string
		env       map[string]string
		flags     []string // the CLI's
		column    string   // the column the migration adds, fn(name)
		fn        string
		wantInLog string
	}{
		{"mTLS through TEMPORAL_TLS_*", mtlsEnv, nil, "name_lower", "lower",
			fmt.Sprintf(`tls="mTLS (CA %s, server name %s)"`, certs.CACert, testenv.TLSServerName)},
		{"mTLS through a profile file", map[string]string{"TEMPORAL_CONFIG_FILE": profiles, "TEMPORAL_PROFILE": "prod"},
			[]string{"--config-file", profiles, "--profile", "prod"}, "name_upper", "upper",
			fmt.Sprintf(`temporal=localhost:%s namespace=default profile=prod config_file=%s tls="mTLS (CA %s)"`, port, profiles, certs.CACert)},
		{"an API key over TLS", keyEnv, nil, "name_md5", "md5",
			fmt.Sprintf(`tls="TLS (CA %s, server name %s)" api_key=set`, certs.CACert, testenv.TLSServerName)},
	} {
		t.Run(mode.name, func(t *testing.T) {
			w := startSecuredWorker(t, dsn, mode.env)
			cliEnv := map[string]string{"DATABASE_URL": dsn, "USER": "e2e-tls"}
			if mode.flags == nil { // else the CLI is given the profile by its flags alone
				for k, v := range mode.env {
					cliEnv[k] = v
				}
			}
			zdm := func(args ...string) (int, string, string) {
				return zdmWithEnv(t, cliEnv, append(append([]string{}, mode.flags...), args...)...)
			}

			name := fmt.Sprintf("tls-%d-%s", i, randomSuffix())
			file := filepath.Join(t.TempDir(), name+".yaml")
			require.NoError(t, os.WriteFile(file, []byte(fmt.Sprintf(
				"name: %s\ntable: accounts\noperations:\n  - add_column: {column: %s, type: text, backfill: \"%s(name)\"}\ngates: []\n",
				name, mode.column, mode.fn)), 0o644))
			code, out, errOut := zdm("start", "-f", file, "--wait")
			require.Equal(t, cli.ExitOK, code, "zdm start --wait:\n%s%s\nworker log:\n%s", out, errOut, w.log.String())
			assert.Equal(t, 2000, scalar[int](t, pool, fmt.Sprintf("SELECT count(*)::int FROM accounts WHERE %s = %s(name)", mode.column, mode.fn)))

			code, out, _ = zdm("list")
			require.Equal(t, cli.ExitOK, code)
			assert.Contains(t, out, name)
			code, out, _ = zdm("status", name)
			require.Equal(t, cli.ExitOK, code)
			assert.Contains(t, out, "completed")

			w.stop(t)
			logs := w.log.String()
			assert.Contains(t, logs, mode.wantInLog)
			assert.NotContains(t, logs, apiKey)
			assert.NotContains(t, logs, keyBody)
		})
	}
	require.Positive(t, keyed.Accepted(), "the API key proxy saw requests carrying the key")

	// Refusals, each with a reason a person can act on.
	refused := func(t *testing.T, env map[string]string, wantErr string) {
		t.Helper()
		code, _, errOut := zdmWithEnv(t, env, "list")
		assert.Equal(t, cli.ExitUnreachable, code)
		assert.Contains(t, errOut, wantErr)
		assert.NotContains(t, errOut, apiKey)
		assert.NotContains(t, errOut, keyBody)
	}
	with := func(base map[string]string, kv ...string) map[string]string {
		out := map[string]string{}
		for k, v := range base {
			out[k] = v
		}
		for i := 0; i+1 < len(kv); i += 2 {
			if kv[i+1] == "" {
				delete(out, kv[i])
			} else {
				out[kv[i]] = kv[i+1]
			}
		}
		return out
	}
	t.Run("a server certificate of another CA", func(t *testing.T) {
		refused(t, with(mtlsEnv, "TEMPORAL_TLS_SERVER_CA_CERT_PATH", otherCA.CACert),
			"x509: certificate signed by unknown authority")
		refused(t, with(mtlsEnv, "TEMPORAL_TLS_SERVER_CA_CERT_PATH", otherCA.CACert),
			"(zdm does not trust Temporal's certificate at "+mtls.Addr+": it must be signed by the CA of TEMPORAL_TLS_SERVER_CA_CERT_PATH")
		// The worker does not start either.
		w := startSecuredWorker(t, dsn, with(mtlsEnv, "TEMPORAL_TLS_SERVER_CA_CERT_PATH", otherCA.CACert))
		require.NoError(t, w.waitExit(90*time.Second))
		assert.Contains(t, w.log.String(), "certificate signed by unknown authority")
		assert.NotEqual(t, 0, w.cmd.ProcessState.ExitCode())
	})
	t.Run("dialing an address the certificate does not name", func(t *testing.T) {
		refused(t, with(mtlsEnv, "TEMPORAL_TLS_SERVER_NAME", ""), "doesn't contain any IP SANs")
	})
	t.Run("no client certificate where mTLS is required", func(t *testing.T) {
		// Under TLS 1.3 the client learns of it either from the server's alert
		// ("certificate required") or from its next write failing: both say what to set.
		refused(t, with(mtlsEnv, "TEMPORAL_TLS_CLIENT_CERT_PATH", "", "TEMPORAL_TLS_CLIENT_KEY_PATH", ""),
			"if it requires mTLS")
		// The proxy notes it as it happens, which may be after zdm gave up.
		assert.Eventually(t, func() bool {
			return strings.Contains(strings.Join(mtls.Rejected(), "\n"), "client didn't provide a certificate")
		}, 10*time.Second, 20*time.Millisecond, "the proxy refused the handshake: %v", mtls.Rejected())
	})
	t.Run("a wrong or missing API key", func(t *testing.T) {
		refused(t, with(keyEnv, "TEMPORAL_API_KEY", "not-the-key"), "check that TEMPORAL_API_KEY is valid for namespace default")
		assert.Contains(t, strings.Join(keyed.Rejected(), "\n"), "with a Bearer token that is not the API key")
		refused(t, with(keyEnv, "TEMPORAL_API_KEY", ""), "if it wants an API key, set TEMPORAL_API_KEY")
		assert.Contains(t, strings.Join(keyed.Rejected(), "\n"), "with no authorization header")
	})
}

// zdmWithEnv runs zdm in-process with exactly env as its environment.
func zdmWithEnv(t *testing.T, env map[string]string, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut syncBuffer
	app := &cli.App{Stdout: &out, Stderr: &errOut, Getenv: func(k string) string { return env[k] },
		Dial: client.DialContext, Terminal: func() (bool, int) { return false, 0 }, Now: time.Now,
		PollInterval: 100 * time.Millisecond}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	code := app.Run(ctx, args)
	t.Logf("zdm %s: exit %d\n%s%s", strings.Join(args, " "), code, out.String(), errOut.String())
	return code, out.String(), errOut.String()
}

// securedWorker is bin/zdm-worker with the environment of a secured cluster.
type securedWorker struct {
	cmd  *exec.Cmd
	log  *syncBuffer
	done chan struct{}
}

func startSecuredWorker(t *testing.T, dsn string, env map[string]string) *securedWorker {
	t.Helper()
	cmd := exec.Command(workerBinary(t))
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "DATABASE_URL=" + dsn, "ZDM_STOP_TIMEOUT=10s", "ZDM_METRICS_ADDR=off"}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	w := &securedWorker{cmd: cmd, log: &syncBuffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = w.log, w.log
	require.NoError(t, cmd.Start())
	go func() { _ = cmd.Wait(); close(w.done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-w.done
		if t.Failed() {
			t.Logf("worker log:\n%s", w.log.String())
		}
	})
	return w
}

func (w *securedWorker) waitExit(timeout time.Duration) error {
	select {
	case <-w.done:
		return nil
	case <-time.After(timeout):
		return fmt.Errorf("the worker still runs after %s", timeout)
	}
}

// stop interrupts the worker as a deploy would, and waits for it.
func (w *securedWorker) stop(t *testing.T) {
	t.Helper()
	_ = w.cmd.Process.Signal(os.Interrupt)
	require.NoError(t, w.waitExit(30*time.Second))
}
