package pgexec_test

import (
	"context"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zdmhq/zdm/internal/pgexec"
)

// The schema an older zdm made (zdm.migrations without history's columns, no
// zdm.history) is upgraded in place, its runs seeding the history; workers racing to
// upgrade it do it once and all succeed.
func TestEnsureStateUpgradesAnOlderSchema(t *testing.T) {
	pool := testPool(t)
	ctx := context.Background()
	_, err := pool.Exec(ctx, `CREATE SCHEMA zdm;
		CREATE TABLE zdm.migrations (name text PRIMARY KEY, table_name text NOT NULL, run_id text NOT NULL, status text NOT NULL,
			cursor text[], rows_done bigint NOT NULL DEFAULT 0, batches bigint NOT NULL DEFAULT 0,
			started_at timestamptz NOT NULL DEFAULT now(), updated_at timestamptz NOT NULL DEFAULT now(), finished_at timestamptz);
		INSERT INTO zdm.migrations (name, table_name, run_id, status, finished_at) VALUES ('old', 'public.t', 'run-old', 'completed', now())`)
	require.NoError(t, err)

	runs, err := pgexec.ReadRuns(ctx, pool)
	require.NoError(t, err, "the CLI reads an old schema without upgrading it")
	require.Len(t, runs, 1)
	assert.Equal(t, "old", runs[0].Name)
	assert.Empty(t, runs[0].Checksum)

	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = pgexec.EnsureState(ctx, pool) }()
	}
	wg.Wait()
	for _, err := range errs {
		require.NoError(t, err)
	}
	require.NoError(t, pgexec.EnsureState(ctx, pool), "idempotent")

	runs, err = pgexec.ReadRuns(ctx, pool)
	require.NoError(t, err)
	require.Len(t, runs, 1, "the run zdm.migrations knew is in the history once")
	assert.Equal(t, pgexec.StatusCompleted, runs[0].Status)
	assert.Equal(t, "run-old", runs[0].RunID)
}

// Without zdm's schema there is no history, and reading it creates nothing.
func TestReadRunsWithoutState(t *testing.T) {
	pool := testPool(t)
	_, err := pgexec.ReadRuns(context.Background(), pool)
	require.ErrorIs(t, err, pgexec.ErrNoState)
	var n int
	require.NoError(t, pool.QueryRow(context.Background(), `SELECT count(*) FROM pg_namespace WHERE nspname = 'zdm'`).Scan(&n))
	assert.Zero(t, n)
}

// Each run of a migration keeps its own row: claimed and recorded, finished (by run ID,
// or through the run zdm.migrations holds), run again.
func TestHistoryKeepsEveryRun(t *testing.T) {
	pool := testPool(t)
	ctx := context.Background()
	require.NoError(t, pgexec.EnsureState(ctx, pool))

	claimAndRecord := func(runID, checksum string) {
		_, err := pgexec.Claim(ctx, pool, "m", []string{"public.t"}, runID)
		require.NoError(t, err)
		rec := pgexec.RunRecord{Name: "m", RunID: runID, File: "001_m.yaml", Checksum: checksum, StartedBy: "alice"}
		require.NoError(t, pgexec.RecordRun(ctx, pool, rec))
		require.NoError(t, pgexec.RecordRun(ctx, pool, rec), "a retried Prepare records again")
	}
	claimAndRecord("run-1", "aaa")
	runs, err := pgexec.ReadRuns(ctx, pool)
	require.NoError(t, err)
	require.Len(t, runs, 1)
	assert.Equal(t, pgexec.StatusRunning, runs[0].Status)
	assert.Nil(t, runs[0].FinishedAt)

	require.NoError(t, pgexec.Release(ctx, pool, "m", pgexec.StatusRolledBack, ""))
	require.NoError(t, pgexec.FinishRun(ctx, pool, "m", pgexec.StatusRolledBack, ""))
	claimAndRecord("run-2", "bbb")
	require.NoError(t, pgexec.Release(ctx, pool, "m", pgexec.StatusCompleted, "run-2"))
	require.NoError(t, pgexec.FinishRun(ctx, pool, "m", pgexec.StatusCompleted, "run-2"))
	require.NoError(t, pgexec.FinishRun(ctx, pool, "m", pgexec.StatusFailed, ""), "a finished run is left as it is")

	runs, err = pgexec.ReadRuns(ctx, pool)
	require.NoError(t, err)
	require.Len(t, runs, 2)
	assert.Equal(t, []string{"run-1", "run-2"}, []string{runs[0].RunID, runs[1].RunID})
	assert.Equal(t, pgexec.StatusRolledBack, runs[0].Status)
	assert.Equal(t, pgexec.StatusCompleted, runs[1].Status)
	assert.Equal(t, "bbb", runs[1].Checksum)
	assert.Equal(t, "alice", runs[1].StartedBy)
	assert.Equal(t, "001_m.yaml", runs[1].File)
	require.NotNil(t, runs[1].FinishedAt)
	latest := pgexec.LatestRuns(runs)["m"]
	assert.Equal(t, "run-2", latest.RunID)
	assert.True(t, latest.Applied())

	var file, checksum, by string
	require.NoError(t, pool.QueryRow(ctx, `SELECT file, checksum, started_by FROM zdm.migrations WHERE name = 'm'`).Scan(&file, &checksum, &by))
	assert.Equal(t, []string{"001_m.yaml", "bbb", "alice"}, []string{file, checksum, by})
}

// Baseline records migrations as applied without running them, all or none, and only
// migrations that never ran.
func TestBaseline(t *testing.T) {
	pool := testPool(t)
	ctx := context.Background()
	entries := []pgexec.BaselineEntry{{Name: "a", File: "001_a.yaml", Checksum: "c1"}, {Name: "b", File: "002_b.yaml", Checksum: "c2"}}
	rec, err := pgexec.Baseline(ctx, pool, entries, "bob")
	require.NoError(t, err)
	assert.Equal(t, entries, rec)
	rec, err = pgexec.Baseline(ctx, pool, entries, "bob")
	require.NoError(t, err)
	assert.Empty(t, rec, "idempotent")

	runs, err := pgexec.ReadRuns(ctx, pool)
	require.NoError(t, err)
	require.Len(t, runs, 2)
	for _, r := range runs {
		assert.Equal(t, pgexec.StatusBaselined, r.Status)
		assert.True(t, r.Applied())
		assert.Equal(t, "bob", r.StartedBy)
	}

	_, err = pgexec.Baseline(ctx, pool, []pgexec.BaselineEntry{{Name: "a", File: "001_a.yaml", Checksum: "changed"}}, "bob")
	var conflict *pgexec.ConflictError
	require.ErrorAs(t, err, &conflict)
	assert.Contains(t, err.Error(), "001_a.yaml (migration a) was baselined on")

	_, err = pgexec.Claim(ctx, pool, "c", []string{"public.t"}, "run-c")
	require.NoError(t, err)
	require.NoError(t, pgexec.RecordRun(ctx, pool, pgexec.RunRecord{Name: "c", RunID: "run-c", File: "003_c.yaml", Checksum: "c3"}))
	more := append(entries, pgexec.BaselineEntry{Name: "new", File: "003_new.yaml", Checksum: "c4"}, pgexec.BaselineEntry{Name: "c", File: "003_c.yaml", Checksum: "c3"})
	_, err = pgexec.Baseline(ctx, pool, more, "bob")
	require.ErrorAs(t, err, &conflict)
	assert.Contains(t, err.Error(), "003_c.yaml (migration c) already has a run on this database (running")
	runs, err = pgexec.ReadRuns(ctx, pool)
	require.NoError(t, err)
	assert.Len(t, runs, 3, "a refused baseline records nothing")
}
