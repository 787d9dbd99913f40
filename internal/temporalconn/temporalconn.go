// Package temporalconn owns how zdm's programs (the worker, the CLI and the Slack bot)
// reach Temporal. It reads the client settings the way Temporal's own tools do, through
// the SDK's environment configuration (go.temporal.io/sdk/contrib/envconfig, which the
// temporal CLI uses): the profile file (TEMPORAL_CONFIG_FILE, or temporal.toml in
// the user's config directory, ~/.config/temporalio/ on Linux), the profile in it (TEMPORAL_PROFILE, or
// "default"), then the TEMPORAL_* variables over it (TEMPORAL_ADDRESS,
// TEMPORAL_NAMESPACE, TEMPORAL_API_KEY, TEMPORAL_TLS, TEMPORAL_TLS_CLIENT_CERT_PATH,
// TEMPORAL_TLS_CLIENT_KEY_PATH, TEMPORAL_TLS_SERVER_CA_CERT_PATH,
// TEMPORAL_TLS_SERVER_NAME, their _DATA forms, TEMPORAL_GRPC_META_*...), then what a
// person asked for with a flag.
//
// Two differences from the temporal CLI. A variable set to the empty string counts as
// unset, as zdm's programs always treated TEMPORAL_ADDRESS: a compose file that passes
// `TEMPORAL_TLS_CLIENT_CERT_PATH: ${TEMPORAL_TLS_CLIENT_CERT_PATH:-}` through must not
// turn TLS on with no certificate. And a profile file named explicitly
// (TEMPORAL_CONFIG_FILE, --config-file) that does not exist is an error, not silently
// skipped: a worker would otherwise reach the local default without TLS.
//
// Credentials (the API key, the contents of key files) never leave client.Options:
// Settings describes the connection for logs by paths and modes only.
package temporalconn

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/contrib/envconfig"
)

// Defaults when neither a flag, the environment nor the profile names them.
const (
	DefaultAddress   = "127.0.0.1:7233"
	DefaultNamespace = "default"
)

// Request says where the settings come from and what a person asked for explicitly.
type Request struct {
	// Env is where the TEMPORAL_* variables are read; nil reads the process's.
	Env Env
	// ConfigFile and Profile, when not empty, win over TEMPORAL_CONFIG_FILE and
	// TEMPORAL_PROFILE (the CLI's --config-file and --profile).
	ConfigFile, Profile string
	// Address and Namespace, when not empty, win over the environment and the profile
	// (the CLI's --address and --namespace).
	Address, Namespace string
}

// Settings are the client options to dial with and what they say about the connection.
type Settings struct {
	// Options holds everything to dial with, credentials included. Callers add their
	// Logger, MetricsHandler and the like.
	Options client.Options

	Address, Namespace string
	// ConfigFile is the profile file that was read; empty when there was none.
	ConfigFile string
	// Profile is the profile applied from ConfigFile; empty when none was.
	Profile string
	// TLS is "off", "TLS" (the server is verified) or "mTLS" (zdm presents a client
	// certificate too).
	TLS string
	// CA is where the server's certificate is verified against: "system roots", a
	// file's path, or "inline PEM"; empty with TLS off.
	CA string
	// ServerName is the name checked in the server's certificate when it is not the
	// address's host.
	ServerName string
	// HostVerification is false when TEMPORAL_TLS_DISABLE_HOST_VERIFICATION turned the
	// check of the server's certificate off.
	HostVerification bool
	// APIKey says whether an API key is sent (never what it is).
	APIKey bool
	// Headers are the names of the gRPC headers added (TEMPORAL_GRPC_META_*), not
	// their values.
	Headers []string
}

// Load reads the settings. It fails when the profile file cannot be read or parsed, a
// profile asked for is not in it, or the TLS files cannot be loaded; the error names
// the file, the profile or the variable to fix.
func Load(req Request) (Settings, error) {
	env := req.Env
	if env == nil {
		env = OSEnv
	}
	lookup := nonEmpty{env}

	file := req.ConfigFile
	if file == "" {
		file, _ = lookup.LookupEnv("TEMPORAL_CONFIG_FILE")
	}
	fileExplicit := file != ""
	if file == "" {
		file = defaultConfigFile(lookup)
	}
	profileName := req.Profile
	if profileName == "" {
		profileName, _ = lookup.LookupEnv("TEMPORAL_PROFILE")
	}
	profileExplicit := profileName != ""
	if profileName == "" {
		profileName = envconfig.DefaultConfigFileProfile
	}

	var s Settings
	var prof envconfig.ClientConfigProfile
	if file != "" {
		data, err := os.ReadFile(file)
		switch {
		case err == nil:
			var conf envconfig.ClientConfig
			if err := conf.FromTOML(data, envconfig.ClientConfigFromTOMLOptions{}); err != nil {
				return Settings{}, fmt.Errorf("Temporal profile file %s: %w (fix it, or point TEMPORAL_CONFIG_FILE elsewhere)", file, err)
			}
			s.ConfigFile = file
			if p := conf.Profiles[profileName]; p != nil {
				prof = *p
				s.Profile = profileName
			} else if profileExplicit {
				return Settings{}, fmt.Errorf("Temporal profile %q is not in %s (it has %s): fix TEMPORAL_PROFILE or --profile",
					profileName, file, profileList(conf))
			}
		case errors.Is(err, os.ErrNotExist) && !fileExplicit && !profileExplicit:
			// No file at the default place: the environment alone says it all.
		case errors.Is(err, os.ErrNotExist):
			return Settings{}, fmt.Errorf("Temporal profile file %s does not exist: fix TEMPORAL_CONFIG_FILE or --config-file, or unset TEMPORAL_PROFILE", file)
		default:
			return Settings{}, fmt.Errorf("Temporal profile file %s: %w", file, err)
		}
	} else if profileExplicit {
		return Settings{}, fmt.Errorf("Temporal profile %q asked for, but there is no profile file: set TEMPORAL_CONFIG_FILE", profileName)
	}

	if err := prof.ApplyEnvVars(lookup); err != nil {
		return Settings{}, fmt.Errorf("TEMPORAL_* environment: %w", err)
	}
	applyLegacyTLSEnv(&prof, lookup)
	if req.Address != "" {
		prof.Address = req.Address
	}
	if req.Namespace != "" {
		prof.Namespace = req.Namespace
	}
	if prof.Address == "" {
		prof.Address = DefaultAddress
	}
	if prof.Namespace == "" {
		prof.Namespace = DefaultNamespace
	}

	opts, err := prof.ToClientOptions(envconfig.ToClientOptionsRequest{})
	if err != nil {
		return Settings{}, fmt.Errorf("Temporal TLS settings%s: %w (fix TEMPORAL_TLS_CLIENT_CERT_PATH, TEMPORAL_TLS_CLIENT_KEY_PATH, TEMPORAL_TLS_SERVER_CA_CERT_PATH or the profile's [profile.%s.tls])",
			s.from(), err, profileName)
	}
	s.Options = opts
	s.Address, s.Namespace = prof.Address, prof.Namespace
	s.APIKey = prof.APIKey != ""
	for k := range prof.GRPCMeta {
		s.Headers = append(s.Headers, k)
	}
	s.describeTLS(prof)
	return s, nil
}

// from names where the profile came from, for errors: " (profile p of FILE)".
func (s Settings) from() string {
	if s.Profile == "" {
		return ""
	}
	return fmt.Sprintf(" (profile %s of %s)", s.Profile, s.ConfigFile)
}

func profileList(conf envconfig.ClientConfig) string {
	if len(conf.Profiles) == 0 {
		return "no profile"
	}
	var names []string
	for n := range conf.Profiles {
		names = append(names, n)
	}
	return "profiles " + strings.Join(sortedStrings(names), ", ")
}

// applyLegacyTLSEnv reads the TLS variables of older temporal CLIs (TEMPORAL_TLS_CERT,
// TEMPORAL_TLS_KEY, TEMPORAL_TLS_CA and their _DATA forms), which the temporal CLI
// still honours over everything else.
func applyLegacyTLSEnv(prof *envconfig.ClientConfigProfile, env envconfig.EnvLookup) {
	fromEnv := func(name string, apply func(tls *envconfig.ClientConfigTLS, v string)) {
		if v, ok := env.LookupEnv(name); ok {
			if prof.TLS == nil {
				prof.TLS = &envconfig.ClientConfigTLS{}
			}
			apply(prof.TLS, v)
		}
	}
	fromEnv("TEMPORAL_TLS_CERT", func(t *envconfig.ClientConfigTLS, v string) { t.ClientCertPath = v })
	fromEnv("TEMPORAL_TLS_CERT_DATA", func(t *envconfig.ClientConfigTLS, v string) { t.ClientCertData = []byte(v) })
	fromEnv("TEMPORAL_TLS_KEY", func(t *envconfig.ClientConfigTLS, v string) { t.ClientKeyPath = v })
	fromEnv("TEMPORAL_TLS_KEY_DATA", func(t *envconfig.ClientConfigTLS, v string) { t.ClientKeyData = []byte(v) })
	fromEnv("TEMPORAL_TLS_CA", func(t *envconfig.ClientConfigTLS, v string) { t.ServerCACertPath = v })
	fromEnv("TEMPORAL_TLS_CA_DATA", func(t *envconfig.ClientConfigTLS, v string) { t.ServerCACertData = []byte(v) })
}

func (s *Settings) describeTLS(prof envconfig.ClientConfigProfile) {
	conn := s.Options.ConnectionOptions
	if conn.TLS == nil || conn.TLSDisabled {
		s.TLS = "off"
		return
	}
	s.TLS = "TLS"
	if len(conn.TLS.Certificates) > 0 {
		s.TLS = "mTLS"
	}
	s.HostVerification = !conn.TLS.InsecureSkipVerify
	s.ServerName = conn.TLS.ServerName
	s.CA = "system roots"
	if t := prof.TLS; t != nil {
		switch {
		case t.ServerCACertPath != "":
			s.CA = t.ServerCACertPath
		case len(t.ServerCACertData) > 0:
			s.CA = "inline PEM"
		}
	}
}

// String describes the connection for a log line or an error: address, namespace,
// profile and TLS mode, never a credential.
func (s Settings) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s, namespace %s", s.Address, s.Namespace)
	if s.Profile != "" {
		fmt.Fprintf(&b, ", profile %s of %s", s.Profile, s.ConfigFile)
	}
	b.WriteString(", ")
	b.WriteString(s.tlsText())
	if s.APIKey {
		b.WriteString(", API key")
	}
	return b.String()
}

func (s Settings) tlsText() string {
	if s.TLS == "off" {
		return "TLS off"
	}
	t := s.TLS + " (CA " + s.CA
	if s.ServerName != "" {
		t += ", server name " + s.ServerName
	}
	if !s.HostVerification {
		t += ", server certificate NOT verified"
	}
	return t + ")"
}

// LogAttrs are the settings as slog key-value pairs.
func (s Settings) LogAttrs() []any {
	attrs := []any{"temporal", s.Address, "namespace", s.Namespace}
	if s.Profile != "" {
		attrs = append(attrs, "profile", s.Profile, "config_file", s.ConfigFile)
	}
	attrs = append(attrs, "tls", s.tlsText())
	if s.APIKey {
		attrs = append(attrs, "api_key", "set")
	}
	if len(s.Headers) > 0 {
		attrs = append(attrs, "grpc_headers", strings.Join(sortedStrings(s.Headers), ","))
	}
	return attrs
}

// Explain adds what to check to an error of dialing with these settings, when it is a
// TLS or authentication failure; other errors come back as they are.
func (s Settings) Explain(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	switch {
	case strings.Contains(msg, "x509:") || strings.Contains(msg, "failed to verify certificate"):
		return fmt.Errorf("%w (zdm does not trust Temporal's certificate at %s: it must be signed by the CA of TEMPORAL_TLS_SERVER_CA_CERT_PATH, or the profile's tls.server_ca_cert_path, or a system root when neither is set, and name the address's host or TEMPORAL_TLS_SERVER_NAME)", err, s.Address)
	case strings.Contains(msg, "remote error: tls:"):
		return fmt.Errorf("%w (Temporal at %s refused zdm's TLS handshake: if it requires mTLS, TEMPORAL_TLS_CLIENT_CERT_PATH and TEMPORAL_TLS_CLIENT_KEY_PATH must hold a certificate its CA signed)", err, s.Address)
	case s.TLS != "off" && (strings.Contains(msg, "broken pipe") || strings.Contains(msg, "connection reset") || strings.Contains(msg, "EOF")):
		// Under TLS 1.3 a server that wants a client certificate and gets none closes the
		// connection after the handshake: the client only sees its next write fail.
		if s.APIKey {
			return fmt.Errorf("%w (Temporal at %s closed the TLS connection: check that TEMPORAL_API_KEY is valid for namespace %s, and whether the server requires a client certificate too)", err, s.Address, s.Namespace)
		}
		if s.TLS == "TLS" {
			return fmt.Errorf("%w (Temporal at %s closed the TLS connection: if it requires mTLS, give zdm a client certificate with TEMPORAL_TLS_CLIENT_CERT_PATH and TEMPORAL_TLS_CLIENT_KEY_PATH; if it wants an API key, set TEMPORAL_API_KEY)", err, s.Address)
		}
		return fmt.Errorf("%w (Temporal at %s closed the TLS connection: check that it accepts the client certificate of TEMPORAL_TLS_CLIENT_CERT_PATH)", err, s.Address)
	case strings.Contains(msg, "tls:") || strings.Contains(msg, "handshake"):
		return fmt.Errorf("%w (TLS with Temporal at %s failed: check TEMPORAL_TLS_* or the profile's [tls] section; TEMPORAL_TLS=false if the server has no TLS)", err, s.Address)
	case strings.Contains(msg, "Unauthenticated") || strings.Contains(msg, "PermissionDenied") ||
		strings.Contains(msg, "unauthenticated") || strings.Contains(msg, "permission denied") || strings.Contains(msg, "unauthorized"):
		return fmt.Errorf("%w (Temporal at %s refused zdm's credentials: check TEMPORAL_API_KEY or the client certificate, and that they grant namespace %s)", err, s.Address, s.Namespace)
	}
	return err
}
