package temporalconn

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zdmhq/zdm/internal/testenv"
)

// mapEnv is an environment for a test.
type mapEnv map[string]string

func (m mapEnv) env() Env {
	return Getenv(func(k string) string { return m[k] }, func() []string {
		var out []string
		for k, v := range m {
			out = append(out, k+"="+v)
		}
		return out
	})
}

func load(t *testing.T, env mapEnv, req Request) Settings {
	t.Helper()
	req.Env = env.env()
	s, err := Load(req)
	require.NoError(t, err)
	return s
}

func TestNothingSetIsTheLocalDevServer(t *testing.T) {
	s := load(t, mapEnv{}, Request{})
	assert.Equal(t, DefaultAddress, s.Options.HostPort)
	assert.Equal(t, DefaultNamespace, s.Options.Namespace)
	assert.Nil(t, s.Options.ConnectionOptions.TLS)
	assert.Nil(t, s.Options.Credentials)
	assert.Equal(t, "127.0.0.1:7233, namespace default, TLS off", s.String())
}

func TestEnvironmentAndFlags(t *testing.T) {
	env := mapEnv{"TEMPORAL_ADDRESS": "temporal.internal:7233", "TEMPORAL_NAMESPACE": "payments"}
	s := load(t, env, Request{})
	assert.Equal(t, "temporal.internal:7233", s.Options.HostPort)
	assert.Equal(t, "payments", s.Options.Namespace)

	// A flag wins over the environment.
	s = load(t, env, Request{Address: "10.0.0.2:7233", Namespace: "prod"})
	assert.Equal(t, "10.0.0.2:7233", s.Options.HostPort)
	assert.Equal(t, "prod", s.Namespace)

	// Set but empty counts as unset, as zdm always did.
	s = load(t, mapEnv{"TEMPORAL_ADDRESS": "", "TEMPORAL_TLS_CLIENT_CERT_PATH": ""}, Request{})
	assert.Equal(t, DefaultAddress, s.Address)
	assert.Equal(t, "off", s.TLS)
}

func TestMutualTLSFromEnvironment(t *testing.T) {
	certs := testenv.NewCerts(t)
	s := load(t, mapEnv{
		"TEMPORAL_ADDRESS":                 "127.0.0.1:7233",
		"TEMPORAL_TLS_CLIENT_CERT_PATH":    certs.ClientCert,
		"TEMPORAL_TLS_CLIENT_KEY_PATH":     certs.ClientKey,
		"TEMPORAL_TLS_SERVER_CA_CERT_PATH": certs.CACert,
		"TEMPORAL_TLS_SERVER_NAME":         testenv.TLSServerName,
	}, Request{})
	cfg := s.Options.ConnectionOptions.TLS
	require.NotNil(t, cfg)
	assert.Len(t, cfg.Certificates, 1)
	assert.NotNil(t, cfg.RootCAs)
	assert.Equal(t, testenv.TLSServerName, cfg.ServerName)
	assert.Equal(t, "mTLS", s.TLS)
	assert.Equal(t, fmt.Sprintf("127.0.0.1:7233, namespace default, mTLS (CA %s, server name %s)", certs.CACert, testenv.TLSServerName), s.String())
}

func TestTLSOnWithSystemRootsAndAPIKey(t *testing.T) {
	const key = "tmprl-secret-api-key-value"
	s := load(t, mapEnv{"TEMPORAL_ADDRESS": "ns.acct.tmprl.cloud:7233", "TEMPORAL_NAMESPACE": "ns.acct", "TEMPORAL_API_KEY": key}, Request{})
	// An API key turns TLS on, verified against the system's roots, as the temporal CLI does.
	require.NotNil(t, s.Options.ConnectionOptions.TLS)
	assert.Nil(t, s.Options.ConnectionOptions.TLS.RootCAs)
	require.NotNil(t, s.Options.Credentials)
	assert.True(t, s.APIKey)
	assert.Equal(t, "ns.acct.tmprl.cloud:7233, namespace ns.acct, TLS (CA system roots), API key", s.String())
	assert.NotContains(t, fmt.Sprintln(s.LogAttrs()...), key)
}

// writeProfiles writes a profile file in a temporal CLI's format.
func TestProfileFile(t *testing.T) {
	certs := testenv.NewCerts(t)
	file := testenv.TemporalProfiles(t, `
[profile.default]
address = "127.0.0.1:7233"

[profile.prod]
address = "localhost:7233"
namespace = "prod-ns"
api_key = "profile-secret-key"
`+certs.ProfileTLS("prod")+`[profile.prod.grpc_meta]
x-team = "data"
`)

	// TEMPORAL_CONFIG_FILE and TEMPORAL_PROFILE pick it.
	s := load(t, mapEnv{"TEMPORAL_CONFIG_FILE": file, "TEMPORAL_PROFILE": "prod"}, Request{})
	assert.Equal(t, "localhost:7233", s.Options.HostPort)
	assert.Equal(t, "prod-ns", s.Options.Namespace)
	assert.Equal(t, "mTLS", s.TLS)
	assert.True(t, s.APIKey)
	assert.Equal(t, []string{"x-team"}, s.Headers)
	h, err := s.Options.HeadersProvider.GetHeaders(context.Background())
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"x-team": "data"}, h)
	assert.Equal(t, fmt.Sprintf("localhost:7233, namespace prod-ns, profile prod of %s, mTLS (CA %s), API key", file, certs.CACert), s.String())
	logged := fmt.Sprintln(s.LogAttrs()...)
	assert.NotContains(t, logged, "profile-secret-key")
	assert.Contains(t, logged, "profile prod")

	// The environment wins over the profile, a flag over both.
	s = load(t, mapEnv{"TEMPORAL_CONFIG_FILE": file, "TEMPORAL_PROFILE": "prod", "TEMPORAL_NAMESPACE": "from-env", "TEMPORAL_TLS": "false"}, Request{})
	assert.Equal(t, "from-env", s.Namespace)
	assert.Equal(t, "off", s.TLS)
	assert.True(t, s.Options.ConnectionOptions.TLSDisabled)
	s = load(t, mapEnv{"TEMPORAL_CONFIG_FILE": file}, Request{Profile: "prod", Namespace: "flag-ns"})
	assert.Equal(t, "flag-ns", s.Namespace)
	assert.Equal(t, "localhost:7233", s.Address)

	// Without TEMPORAL_PROFILE, the default profile.
	s = load(t, mapEnv{"TEMPORAL_CONFIG_FILE": file}, Request{})
	assert.Equal(t, "default", s.Profile)
	assert.Equal(t, "off", s.TLS)

	// The file at the temporal CLI's place is found from HOME, as the temporal CLI does.
	home := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(home, ".config", "temporalio"), 0o700))
	data, err := os.ReadFile(file)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(home, ".config", "temporalio", "temporal.toml"), data, 0o600))
	s = load(t, mapEnv{"HOME": home, "TEMPORAL_PROFILE": "prod"}, Request{})
	assert.Equal(t, "prod-ns", s.Namespace)
	assert.Equal(t, filepath.Join(home, ".config", "temporalio", "temporal.toml"), s.ConfigFile)
}

func TestBadSettingsNameTheFix(t *testing.T) {
	certs := testenv.NewCerts(t)
	file := testenv.TemporalProfiles(t, "[profile.staging]\naddress = \"x:7233\"\n")
	for _, tc := range []struct {
		name string
		env  mapEnv
		req  Request
		want []string
	}{
		{"unknown profile", mapEnv{"TEMPORAL_CONFIG_FILE": file, "TEMPORAL_PROFILE": "prod"}, Request{},
			[]string{`Temporal profile "prod" is not in ` + file, "profiles staging", "TEMPORAL_PROFILE"}},
		{"missing file", mapEnv{"TEMPORAL_CONFIG_FILE": filepath.Join(t.TempDir(), "nope.toml")}, Request{},
			[]string{"nope.toml does not exist", "TEMPORAL_CONFIG_FILE"}},
		{"profile without a file", mapEnv{}, Request{Profile: "prod"},
			[]string{`Temporal profile "prod" asked for, but there is no profile file`}},
		{"bad TOML", mapEnv{"TEMPORAL_CONFIG_FILE": testenv.TemporalProfiles(t, "[profile.prod\n")}, Request{},
			[]string{"Temporal profile file", "temporal.toml"}},
		{"key without cert", mapEnv{"TEMPORAL_TLS_CLIENT_KEY_PATH": certs.ClientKey}, Request{},
			[]string{"Temporal TLS settings", "other must be present too", "TEMPORAL_TLS_CLIENT_CERT_PATH"}},
		{"unreadable CA", mapEnv{"TEMPORAL_TLS_SERVER_CA_CERT_PATH": filepath.Join(certs.Dir, "missing.pem")}, Request{},
			[]string{"failed reading server CA cert path", "missing.pem"}},
		{"CA that is no certificate", mapEnv{"TEMPORAL_TLS_SERVER_CA_CERT_PATH": certs.ClientKey}, Request{},
			[]string{"failed adding server CA"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.req.Env = tc.env.env()
			_, err := Load(tc.req)
			require.Error(t, err)
			for _, w := range tc.want {
				assert.Contains(t, err.Error(), w)
			}
			// A key file's contents never appear in an error.
			key, _ := os.ReadFile(certs.ClientKey)
			body := strings.Split(strings.TrimSpace(string(key)), "\n")[1]
			assert.NotContains(t, err.Error(), body)
		})
	}
}

func TestLegacyTLSVariables(t *testing.T) {
	certs := testenv.NewCerts(t)
	s := load(t, mapEnv{"TEMPORAL_TLS_CERT": certs.ClientCert, "TEMPORAL_TLS_KEY": certs.ClientKey, "TEMPORAL_TLS_CA": certs.CACert}, Request{})
	assert.Equal(t, "mTLS", s.TLS)
	assert.Equal(t, certs.CACert, s.CA)
}

func TestExplainTLSFailures(t *testing.T) {
	s := Settings{Address: "127.0.0.1:7233", Namespace: "default", TLS: "mTLS"}
	err := s.Explain(fmt.Errorf("failed reaching server: transport: authentication handshake failed: tls: failed to verify certificate: x509: certificate signed by unknown authority"))
	assert.Contains(t, err.Error(), "x509: certificate signed by unknown authority (zdm does not trust Temporal's certificate at 127.0.0.1:7233: it must be signed by the CA of TEMPORAL_TLS_SERVER_CA_CERT_PATH")
	err = s.Explain(fmt.Errorf("transport: authentication handshake failed: remote error: tls: bad certificate"))
	assert.Contains(t, err.Error(), "refused zdm's TLS handshake: if it requires mTLS, TEMPORAL_TLS_CLIENT_CERT_PATH")
	s.TLS = "TLS"
	err = s.Explain(fmt.Errorf("write: broken pipe"))
	assert.Contains(t, err.Error(), "closed the TLS connection: if it requires mTLS, give zdm a client certificate")
	s.APIKey = true
	err = s.Explain(fmt.Errorf("error reading from server: EOF"))
	assert.Contains(t, err.Error(), "check that TEMPORAL_API_KEY is valid for namespace default")
	err = s.Explain(fmt.Errorf("Request unauthorized"))
	assert.Contains(t, err.Error(), "refused zdm's credentials")

	plain := fmt.Errorf("connection refused")
	assert.Equal(t, plain, s.Explain(plain))
	assert.Nil(t, s.Explain(nil))
	off := Settings{Address: "127.0.0.1:7233", TLS: "off"}
	eof := fmt.Errorf("EOF")
	assert.Equal(t, eof, off.Explain(eof), "without TLS a closed connection says nothing of certificates")
}
