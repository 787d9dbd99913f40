package activities

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"

	"github.com/zdmhq/zdm/internal/testenv"
	"github.com/zdmhq/zdm/internal/wire"
)

func TestCheckTargets(t *testing.T) {
	testenv.Need(t, "DATABASE_URL")
	_, one := testenv.DB(t, "zdm_acts")
	_, two := testenv.DB(t, "zdm_acts")
	a := &Activities{Targets: map[string]*pgxpool.Pool{"ONE_URL": one, "TWO_URL": two, "SAME_AS_ONE_URL": one}}
	ctx := context.Background()

	res, err := a.CheckTargets(ctx, wire.CheckTargetsInput{URLEnvs: []string{"TWO_URL", "ONE_URL"}})
	require.NoError(t, err)
	require.Len(t, res.Databases, 2)
	assert.NotEqual(t, res.Databases[0], res.Databases[1])

	_, err = a.CheckTargets(ctx, wire.CheckTargetsInput{URLEnvs: []string{"ONE_URL", "HOME", "PATH"}})
	var app *temporal.ApplicationError
	require.ErrorAs(t, err, &app)
	assert.Equal(t, wire.ErrUnknownTarget, app.Type())
	assert.True(t, app.NonRetryable())
	assert.Contains(t, err.Error(), "the worker serves no target HOME, PATH: nothing was started (fix: add HOME,PATH to the worker's ZDM_TARGET_ENVS")
	assert.Contains(t, err.Error(), "it serves: ONE_URL, SAME_AS_ONE_URL, TWO_URL")

	_, err = a.CheckTargets(ctx, wire.CheckTargetsInput{URLEnvs: []string{"ONE_URL", "SAME_AS_ONE_URL"}})
	require.ErrorAs(t, err, &app)
	assert.True(t, app.NonRetryable())
	assert.Contains(t, err.Error(), "ONE_URL and SAME_AS_ONE_URL both point at")

	_, err = (&Activities{}).CheckTargets(ctx, wire.CheckTargetsInput{URLEnvs: []string{"ONE_URL"}})
	assert.ErrorContains(t, err, "it serves: none (ZDM_TARGET_ENVS is not set)")
}
