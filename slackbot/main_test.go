package main

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zdmhq/zdm/internal/testenv"
)

// The bot reads the Temporal client settings as the worker and the CLI do: a profile
// file and the TEMPORAL_* variables, logged without the API key; a profile that is not
// there stops it with the fix.
func TestBotReadsTemporalProfile(t *testing.T) {
	certs := testenv.NewCerts(t)
	file := testenv.TemporalProfiles(t, `
[profile.prod]
address = "temporal.example.com:7233"
namespace = "payments"
`+certs.ProfileTLS("prod"))
	env := map[string]string{
		"SLACK_SIGNING_SECRET": "not-used-here",
		"ZDM_SLACKBOT_ADDR":    "127.0.0.1:0",
		"TEMPORAL_CONFIG_FILE": file,
		"TEMPORAL_PROFILE":     "prod",
		"TEMPORAL_API_KEY":     "bot-secret-api-key",
	}
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // start, then stop at once: the client is lazy, nothing dials
	require.NoError(t, run(ctx, func(k string) string { return env[k] }, logger))
	out := logs.String()
	assert.Contains(t, out, fmt.Sprintf(`temporal=temporal.example.com:7233 namespace=payments profile=prod config_file=%s tls="mTLS (CA %s)" api_key=set`, file, certs.CACert))
	assert.Contains(t, out, `zdm-slackbot starting" temporal=temporal.example.com:7233 namespace=payments`)
	assert.NotContains(t, out, "bot-secret-api-key")

	env["TEMPORAL_PROFILE"] = "staging"
	err := run(context.Background(), func(k string) string { return env[k] }, logger)
	require.Error(t, err)
	assert.Contains(t, err.Error(), `Temporal profile "staging" is not in `+file)
}
