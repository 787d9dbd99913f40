package activities_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"

	"github.com/zdmhq/zdm/activities"
	"github.com/zdmhq/zdm/internal/flags"
	"github.com/zdmhq/zdm/internal/testenv"
)

// A worker without Unleash refuses both flag activities for good: retrying cannot give
// it a configuration.
func TestFlagActivitiesWithoutUnleashAreNotRetried(t *testing.T) {
	a := &activities.Activities{}
	for name, err := range map[string]error{
		"SetFlag":    a.SetFlag(context.Background(), activities.FlagInput{Flag: "f", On: true}),
		"SetRollout": a.SetRollout(context.Background(), activities.RolloutInput{Flag: "f", Percent: 10}),
	} {
		var app *temporal.ApplicationError
		require.True(t, errors.As(err, &app), "%s: %v", name, err)
		assert.True(t, app.NonRetryable(), name)
		assert.Equal(t, activities.ErrFlagsUnavailable, app.Type(), name)
		assert.Contains(t, app.Error(), "UNLEASH_URL", name)
	}
}

// A flag someone archived in Unleash is refused for good by both flag activities, with
// the way out: retrying cannot revive it.
func TestFlagActivitiesRefuseAnArchivedFlag(t *testing.T) {
	testenv.Need(t, "UNLEASH_URL", "UNLEASH_ADMIN_TOKEN")
	cfg, err := flags.ConfigFromEnv()
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	a := &activities.Activities{Flags: flags.New(cfg)}
	name := "zdm-test.activities-archived." + testenv.Suffix()
	require.NoError(t, a.SetFlag(ctx, activities.FlagInput{Flag: name, On: false}))
	require.NoError(t, a.Flags.Archive(ctx, name))

	for what, err := range map[string]error{
		"SetFlag":    a.SetFlag(ctx, activities.FlagInput{Flag: name, On: true}),
		"SetRollout": a.SetRollout(ctx, activities.RolloutInput{Flag: name, Percent: 10}),
	} {
		var app *temporal.ApplicationError
		require.True(t, errors.As(err, &app), "%s: %v", what, err)
		assert.True(t, app.NonRetryable(), what)
		assert.Equal(t, activities.ErrFlagsUnavailable, app.Type(), what)
		assert.ErrorIs(t, err, flags.ErrArchived, what)
		assert.Contains(t, app.Error(), "revive", what)
	}
}
