package testenv

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// TemporalProfiles writes body, a temporal CLI profile file (TOML), in a directory of
// the test's own and returns its path.
func TemporalProfiles(t testing.TB, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "temporal.toml")
	require.NoError(t, os.WriteFile(p, []byte(body), 0o600))
	return p
}

// ProfileTLS is the tls table of profile in a temporal CLI profile file: mTLS with c's
// client certificate, trusting c's CA.
func (c *Certs) ProfileTLS(profile string) string {
	return fmt.Sprintf("[profile.%s.tls]\nclient_cert_path = %q\nclient_key_path = %q\nserver_ca_cert_path = %q\n",
		profile, c.ClientCert, c.ClientKey, c.CACert)
}
