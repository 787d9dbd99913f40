package flags_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/Unleash/unleash-client-go/v4"
	unleashctx "github.com/Unleash/unleash-client-go/v4/context"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// share is the fraction of n users an application's SDK sees the flag on for, and each
// user's answer.
func share(sdk *unleash.Client, name string, n int) (float64, []bool) {
	answers := make([]bool, n)
	on := 0
	for i := range n {
		answers[i] = sdk.IsEnabled(name, unleash.WithContext(unleashctx.Context{UserId: fmt.Sprintf("user-%d", i)}))
		if answers[i] {
			on++
		}
	}
	return float64(on) / float64(n), answers
}

// eventuallyShare waits until the SDK's share of users is within margin of want.
func eventuallyShare(t *testing.T, sdk *unleash.Client, name string, n int, want, margin float64) []bool {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got, answers := share(sdk, name, n)
		if got >= want-margin && got <= want+margin {
			t.Logf("rollout %.0f%%: the SDK answers on for %.1f%% of %d users", want*100, got*100, n)
			return answers
		}
		if time.Now().After(deadline) {
			t.Fatalf("the SDK answers on for %.1f%% of %d users, want %.0f%% ± %.0f%%", got*100, n, want*100, margin*100)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestRealUnleashGradualRolloutIsWhatClientsSeeAndSticky(t *testing.T) {
	c, cfg := realUnleash(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	name := uniqueFlag(t)
	t.Cleanup(func() { _ = c.Archive(context.Background(), name) })
	sdk, _ := newSDK(t, cfg)
	const users = 4000

	require.NoError(t, c.SetRollout(ctx, name, 10), "SetRollout creates a missing flag")
	require.NoError(t, c.SetRollout(ctx, name, 10), "SetRollout is idempotent")
	pct, err := c.Rollout(ctx, name)
	require.NoError(t, err)
	assert.Equal(t, 10, pct)
	at10 := eventuallyShare(t, sdk, name, users, 0.10, 0.04)

	// Sticky: the same user gets the same answer every time.
	_, again := share(sdk, name, users)
	assert.Equal(t, at10, again, "one user, one answer")

	require.NoError(t, c.SetRollout(ctx, name, 50))
	at50 := eventuallyShare(t, sdk, name, users, 0.50, 0.06)
	// Unleash's normalised hash puts a user at one position: whoever had read_new at
	// 10% keeps it at 50%, so widening a rollout never flips a user back.
	for i := range users {
		if at10[i] {
			require.True(t, at50[i], "user-%d had the flag at 10%% and lost it at 50%%", i)
		}
	}

	require.NoError(t, c.SetRollout(ctx, name, 0))
	pct, err = c.Rollout(ctx, name)
	require.NoError(t, err)
	assert.Equal(t, 0, pct)
	eventuallyShare(t, sdk, name, users, 0, 0)

	require.NoError(t, c.SetRollout(ctx, name, 100))
	pct, err = c.Rollout(ctx, name)
	require.NoError(t, err)
	assert.Equal(t, 100, pct)
	eventuallyShare(t, sdk, name, users, 1, 0)

	// And down again, straight from everyone to 1%.
	require.NoError(t, c.SetRollout(ctx, name, 1))
	eventuallyShare(t, sdk, name, users, 0.01, 0.01)

	// Off after a partial rollout, then on the plain way (a migration without rollout
	// using the same flag): on for everyone, not for the last rollout's 1%.
	require.NoError(t, c.SetRollout(ctx, name, 0))
	eventuallyShare(t, sdk, name, users, 0, 0)
	require.NoError(t, c.Set(ctx, name, true))
	pct, err = c.Rollout(ctx, name)
	require.NoError(t, err)
	assert.Equal(t, 100, pct)
	eventuallyShare(t, sdk, name, users, 1, 0)

	assert.Error(t, c.SetRollout(ctx, name, 101))
}
