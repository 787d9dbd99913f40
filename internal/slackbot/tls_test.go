package slackbot

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"

	"github.com/zdmhq/zdm/internal/notify"
	"github.com/zdmhq/zdm/internal/temporalconn"
	"github.com/zdmhq/zdm/internal/testenv"
	"github.com/zdmhq/zdm/workflows"
)

// The bot on a Temporal that wants mutual TLS (a TLS-terminating proxy with the test's
// own CA in front of the dev server), with the client settings zdm-slackbot loads from
// TEMPORAL_TLS_*: /migration status shows the real figures and an approver's press
// moves the gate.
func TestBotOverMutualTLS(t *testing.T) {
	t.Parallel()
	c := temporalClient(t)
	dsn, _ := testDB(t, 1000)
	suffix := randomSuffix()
	queue, name := "slackbot-tls-"+suffix, "slack-tls-"+suffix
	startWorker(t, queue, dsn)
	run := startMigration(t, c, queue, name, "{batch_size: 500}", workflows.Options{})
	waitProgress(t, c, name, 30*time.Second, "gate contract", atGate("contract"))

	certs := testenv.NewCerts(t)
	proxy := testenv.StartTLSProxy(t, dev.hostPort, testenv.ProxyConfig{Certs: certs, RequireClientCert: true})
	env := map[string]string{
		"TEMPORAL_ADDRESS":                 proxy.Addr,
		"TEMPORAL_TLS_CLIENT_CERT_PATH":    certs.ClientCert,
		"TEMPORAL_TLS_CLIENT_KEY_PATH":     certs.ClientKey,
		"TEMPORAL_TLS_SERVER_CA_CERT_PATH": certs.CACert,
		"TEMPORAL_TLS_SERVER_NAME":         testenv.TLSServerName,
	}
	conn, err := temporalconn.Load(temporalconn.Request{Env: temporalconn.Getenv(func(k string) string { return env[k] }, nil)})
	require.NoError(t, err)
	require.Equal(t, "mTLS", conn.TLS)
	opts := conn.Options
	opts.Logger = quietTemporal()
	tlsClient, err := client.NewLazyClient(opts)
	require.NoError(t, err)
	t.Cleanup(tlsClient.Close)
	r := newRig(t, tlsClient, Options{})

	m, _ := r.command("status "+name, "UREADER", "status")
	j := blocksJSON(t, m)
	for _, want := range []string{"awaiting approval", "1,000 / 1,000 rows", "Waiting at gate *contract*"} {
		assert.Contains(t, j, want)
	}
	value := buttons(t, m)[notify.ActionApprove]
	require.NotEmpty(t, value, "the status carries the Approve button")

	m = r.press(notify.ActionApprove, value, "UAPPROVER", "alice", "approve")
	assert.Contains(t, m.Text, "<@UAPPROVER> approved gate *contract*")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var res workflows.Result
	require.NoError(t, run.Get(ctx, &res))
	assert.Equal(t, workflows.PhaseCompleted, res.Status)
	assert.Empty(t, proxy.Rejected(), "the proxy refused none of the bot's connections")
}
