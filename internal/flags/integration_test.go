package flags_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/Unleash/unleash-client-go/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zdmhq/zdm/internal/flags"
)

// realUnleash returns a client for the Unleash server of the local stack
// (`eval "$(scripts/stack.sh env)"`). Under ZDM_INTEGRATION=1 a missing environment fails
// the test, since `make test` promises a real server; otherwise the test is skipped.
func realUnleash(t *testing.T) (*flags.Client, flags.Config) {
	t.Helper()
	integration := os.Getenv("ZDM_INTEGRATION") == "1"
	if testing.Short() && !integration {
		t.Skip("integration test: needs a real Unleash server (run make test)")
	}
	cfg, err := flags.ConfigFromEnv()
	if err == nil && os.Getenv("UNLEASH_API_TOKEN") == "" {
		err = fmt.Errorf("UNLEASH_API_TOKEN (a backend token for the client SDK) not set")
	}
	if err != nil {
		if integration {
			t.Fatalf("ZDM_INTEGRATION=1 but the Unleash environment is incomplete: %v", err)
		}
		t.Skipf("integration test needs a real Unleash: %v", err)
	}
	c := flags.New(cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, c.Health(ctx), "Unleash from UNLEASH_URL must be up (scripts/stack.sh up --deps)")
	return c, cfg
}

func uniqueFlag(t *testing.T) string {
	// Unleash names must be URL friendly; keep the test's name out of it.
	return fmt.Sprintf("zdm-test.%d.%s", time.Now().UnixNano(), strings.ToLower(strings.ReplaceAll(t.Name(), "/", "-")))
}

// sdkListener hands the SDK's errors to the test while it runs.
type sdkListener struct{ errs chan error }

func (l sdkListener) OnError(err error) {
	select {
	case l.errs <- err:
	default:
	}
}
func (l sdkListener) OnWarning(error) {}
func (l sdkListener) OnReady()        {}

// newSDK returns the Unleash client an application would use, polling every 200ms.
func newSDK(t *testing.T, cfg flags.Config) (*unleash.Client, sdkListener) {
	t.Helper()
	l := sdkListener{errs: make(chan error, 16)}
	sdk, err := unleash.NewClient(
		unleash.WithAppName("zdm-test"),
		unleash.WithUrl(strings.TrimRight(cfg.URL, "/")+"/api/"),
		unleash.WithCustomHeaders(http.Header{"Authorization": {os.Getenv("UNLEASH_API_TOKEN")}}),
		unleash.WithRefreshInterval(200*time.Millisecond),
		unleash.WithDisableMetrics(true),
		unleash.WithBackupPath(t.TempDir()),
		unleash.WithListener(l),
	)
	require.NoError(t, err)
	t.Cleanup(func() { _ = sdk.Close() })
	select {
	case <-waitReady(sdk):
	case err := <-l.errs:
		t.Fatalf("unleash SDK failed to load flags: %v", err)
	case <-time.After(15 * time.Second):
		t.Fatal("unleash SDK not ready after 15s")
	}
	return sdk, l
}

func waitReady(sdk *unleash.Client) <-chan struct{} {
	ch := make(chan struct{})
	go func() { sdk.WaitForReady(); close(ch) }()
	return ch
}

// eventually waits for the SDK to evaluate name as want, within a few refresh intervals.
func eventually(t *testing.T, sdk *unleash.Client, l sdkListener, name string, want bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if sdk.IsEnabled(name) == want {
			return
		}
		select {
		case err := <-l.errs:
			t.Logf("unleash SDK: %v", err)
		case <-time.After(100 * time.Millisecond):
		}
	}
	t.Fatalf("unleash SDK evaluates %q as %v, want %v after 10s", name, !want, want)
}

func TestRealUnleashToggleSeenByClientSDK(t *testing.T) {
	c, cfg := realUnleash(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	name := uniqueFlag(t)
	t.Cleanup(func() { _ = c.Archive(context.Background(), name) })

	require.NoError(t, c.Ensure(ctx, name, "zdm integration test"))
	require.NoError(t, c.Ensure(ctx, name, "zdm integration test"), "Ensure is idempotent")
	on, err := c.Enabled(ctx, name)
	require.NoError(t, err)
	assert.False(t, on, "a new flag is off")

	sdk, l := newSDK(t, cfg)
	assert.False(t, sdk.IsEnabled(name))

	// The flag has no strategy yet: turning it on must still make it on for clients.
	require.NoError(t, c.Set(ctx, name, true))
	require.NoError(t, c.Set(ctx, name, true), "Set is idempotent")
	on, err = c.Enabled(ctx, name)
	require.NoError(t, err)
	assert.True(t, on)
	eventually(t, sdk, l, name, true)

	require.NoError(t, c.Set(ctx, name, false))
	on, err = c.Enabled(ctx, name)
	require.NoError(t, err)
	assert.False(t, on)
	eventually(t, sdk, l, name, false)

	// On again after off: the strategy Unleash added on the first "on" still applies.
	require.NoError(t, c.Set(ctx, name, true))
	eventually(t, sdk, l, name, true)

	require.NoError(t, c.Archive(ctx, name))
	require.NoError(t, c.Archive(ctx, name), "archiving twice is fine")
	eventually(t, sdk, l, name, false)

	err = c.Ensure(ctx, name, "again")
	assert.ErrorIs(t, err, flags.ErrArchived)
	err = c.Set(ctx, name, true)
	assert.ErrorIs(t, err, flags.ErrArchived)
}

func TestRealUnleashSetCreatesMissingFlag(t *testing.T) {
	c, cfg := realUnleash(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	name := uniqueFlag(t)
	t.Cleanup(func() { _ = c.Archive(context.Background(), name) })

	_, err := c.Enabled(ctx, name)
	require.ErrorIs(t, err, flags.ErrNotFound)

	require.NoError(t, c.Set(ctx, name, true))
	on, err := c.Enabled(ctx, name)
	require.NoError(t, err)
	assert.True(t, on)

	sdk, l := newSDK(t, cfg)
	eventually(t, sdk, l, name, true)
}

func TestRealUnleashRejectsBadToken(t *testing.T) {
	_, cfg := realUnleash(t)
	cfg.AdminToken = "*:*.not-the-token"
	c := flags.New(cfg)

	err := c.Set(context.Background(), uniqueFlag(t), true)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "401")
	assert.NotContains(t, err.Error(), "not-the-token")
}
