package activities

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zdmhq/zdm/internal/pgexec"
	"github.com/zdmhq/zdm/internal/testenv"
)

// A migration with require_rehearsal: true that reaches the worker without zdm start's
// check is refused by Prepare until a recent successful rehearsal of the same file is
// recorded, and nothing is claimed meanwhile.
func TestPrepareRequiresARehearsal(t *testing.T) {
	_, pool := testenv.DB(t, "zdm_acts")
	_, err := pool.Exec(context.Background(), accountsDDL)
	require.NoError(t, err)
	env, _ := actsEnv(pool)
	m := parseMigration(t, renameYAML+"require_rehearsal: true\n")

	_, err = env.ExecuteActivity(nilActs.Prepare, PrepareInput{Migration: m, RunID: "run-1"})
	app := appErr(t, err)
	assert.Equal(t, ErrInvalidMigration, app.Type())
	assert.True(t, app.NonRetryable())
	assert.Contains(t, app.Error(), "accounts.yaml")
	assert.Contains(t, app.Error(), "require_rehearsal")
	assert.Contains(t, app.Error(), "run zdm rehearse -f accounts.yaml")
	assert.Zero(t, scalarOf[int64](t, pool, `SELECT count(*) FROM pg_class WHERE relname = 'migrations' AND relnamespace = to_regnamespace('zdm')`), "nothing claimed")

	// A failed rehearsal does not count; a successful one does.
	rec := pgexec.Rehearsal{Name: m.Name, File: "accounts.yaml", Checksum: m.Source.Checksum, StartedAt: time.Now(), Sample: 10, Report: json.RawMessage(`{}`)}
	_, err = pgexec.RecordRehearsal(context.Background(), pool, rec)
	require.NoError(t, err)
	_, err = env.ExecuteActivity(nilActs.Prepare, PrepareInput{Migration: m, RunID: "run-1"})
	assert.Contains(t, appErr(t, err).Error(), "no successful rehearsal")

	rec.Success = true
	_, err = pgexec.RecordRehearsal(context.Background(), pool, rec)
	require.NoError(t, err)
	_, err = env.ExecuteActivity(nilActs.Prepare, PrepareInput{Migration: m, RunID: "run-1"})
	require.NoError(t, err)
}
