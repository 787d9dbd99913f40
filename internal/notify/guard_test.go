package notify

import (
	"context"
	"encoding/json"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestBreachNotificationSaysWhatBreachedAndCarriesTheRecoverButtons(t *testing.T) {
	f := newFakeSlack(t)
	n, err := New(Config{Token: "xoxb-secret", Channel: "C123", APIURL: f.URL + "/"}, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	detail := `guard breached at 10%: error-ratio-read-new = 0.0476 > max 0.02; read_new back to off 307ms after the figures were read. Approve to retry the 10% step, reject to roll the migration back.`
	_, err = n.Post(context.Background(), Event{Kind: KindGate, Migration: "orders", Gate: "recover", Run: testRun, Detail: detail})
	require.NoError(t, err)
	posts := f.all()
	require.Len(t, posts, 1)
	assert.Equal(t, "Migration orders: the guard found the application unhealthy and switched read_new back; it waits at gate recover", posts[0].Text)
	raw, _ := json.Marshal(posts[0].Blocks)
	assert.Contains(t, string(raw), "error-ratio-read-new = 0.0476 \\u0026gt; max 0.02", "the figures, escaped for Slack")
	assert.Contains(t, string(raw), "approving retries the rollout step")
	var buttons int
	for _, b := range posts[0].Blocks {
		if b["type"] == "actions" {
			for _, el := range b["elements"].([]any) {
				g, err := ParseGateAction(el.(map[string]any)["value"].(string))
				require.NoError(t, err)
				assert.Equal(t, "recover", g.Gate)
				buttons++
			}
		}
	}
	assert.Equal(t, 2, buttons, "approve (retry) and reject (roll back)")
}
