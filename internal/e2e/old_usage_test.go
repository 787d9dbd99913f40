package e2e

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zdmhq/zdm/internal/testenv"
	"github.com/zdmhq/zdm/internal/usage"
	"github.com/zdmhq/zdm/workflows"
)

// The done-when: an old-code query that keeps running (a cron job never moved to
// full_name) shows at the contract gate, in the progress query and in zdm status; with
// contract_requires_no_old_usage the gate refuses approval while it runs, and takes it
// once the query has stopped; contract then runs.
func TestOldCodeHoldsTheContractGateUntilItStops(t *testing.T) {
	srv := startDevServer(t)
	dsn, pool := testDB(t)
	ctx := context.Background()
	if reason, _, err := usage.Available(ctx, pool); err != nil || reason != "" {
		require.NoError(t, err)
		testenv.Missing(t, "pg_stat_statements (scripts/stack.sh pg-ensure sets it up): "+reason)
	}
	exec1(t, pool, `CREATE TABLE customers (id bigint PRIMARY KEY, name text NOT NULL, email text NOT NULL);
		INSERT INTO customers SELECT g, 'name ' || g, 'e' || g || '@x' FROM generate_series(1, 2000) g`)
	queue := "e2e-old-usage-" + randomSuffix()
	inProcessWorker(t, srv.Client, queue, dsn, false)

	name := "old-usage-" + randomSuffix()
	m := migration(t, fmt.Sprintf(`name: %s
table: customers
operations:
  - rename_column: {column: name, to: full_name}
gates: [contract]
contract_requires_no_old_usage: true
`, name))

	// Old code: a job that still reads and writes customers.name, as its own application.
	cfg, err := pgx.ParseConfig(dsn)
	require.NoError(t, err)
	cfg.RuntimeParams["application_name"] = "billing-cron"
	oldApp, err := pgx.ConnectConfig(ctx, cfg)
	require.NoError(t, err)
	defer oldApp.Close(ctx)
	var stop atomic.Bool
	var wg sync.WaitGroup
	var calls atomic.Int64
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 1; !stop.Load(); i++ {
			if _, err := oldApp.Exec(ctx, `UPDATE customers SET name = $1 WHERE id = $2`, fmt.Sprintf("renamed %d", i), i%2000+1); err != nil {
				t.Errorf("old code's update: %v", err)
				return
			}
			calls.Add(1)
			time.Sleep(50 * time.Millisecond)
		}
	}()
	defer func() { stop.Store(true); wg.Wait() }()

	run := start(t, srv.Client, queue, m, workflows.Options{OldUsageEvery: 2 * time.Second})
	waitForGate(t, srv.Client, name, "contract", 2*time.Minute)

	// The gate shows the old code, and holds.
	var p workflows.Progress
	waitFor(t, time.Minute, "the old code at the gate", func() bool {
		p = progress(t, srv.Client, name)
		return p.OldUsage != nil && len(p.OldUsage.Findings) > 0
	})
	u := p.OldUsage
	assert.Equal(t, "public.customers.name", u.Retired[0].Name())
	assert.Equal(t, "full_name", u.Retired[0].Replacement)
	require.Len(t, u.Findings, 1, "only the old code's statement: not zdm's backfill or verify: %+v", u.Findings)
	f := u.Findings[0]
	assert.Equal(t, "UPDATE customers SET name = $1 WHERE id = $2", f.Query)
	assert.Equal(t, []string{"public.customers.name (write)"}, f.Names)
	assert.Positive(t, f.Rose)
	me := scalar[string](t, pool, `SELECT current_user`)
	assert.Equal(t, me, f.User)
	assert.Contains(t, f.Clients, "billing-cron from 127.0.0.1 as "+me)
	assert.Contains(t, u.Holding, "contract_requires_no_old_usage: old code still uses what contract retires")

	h, err := srv.Client.UpdateWorkflow(ctx, updateOpts(name, workflows.UpdateApprove, workflows.Decision{Gate: "contract", By: "e2e"}))
	if err == nil {
		err = h.Get(ctx, nil)
	}
	require.Error(t, err, "approval is refused while old code runs")
	assert.Contains(t, err.Error(), "gate contract is held")
	assert.Contains(t, err.Error(), "UPDATE customers SET name = $1 WHERE id = $2")

	zdm := zdmCLI(t, srv.hostPort, dsn)
	_, out, _ := zdm("status", name)
	assert.Contains(t, out, "old code")
	assert.Contains(t, out, "UPDATE customers SET name = $1 WHERE id = $2  [by "+me)
	assert.Contains(t, out, "HELD by contract_requires_no_old_usage")
	code, _, errOut := zdm("approve", name, "--gate", "contract", "--by", "e2e-ci")
	assert.NotZero(t, code, "zdm approve is refused too")
	assert.Contains(t, errOut, "gate contract is held: contract_requires_no_old_usage: old code still uses what contract retires")
	assert.Equal(t, "contract", progress(t, srv.Client, name).AwaitingGate, "still at the gate")

	// The job is moved to full_name: once its calls stop rising the gate opens.
	stop.Store(true)
	wg.Wait()
	stoppedAt := time.Now()
	waitFor(t, time.Minute, "the gate to stop holding", func() bool {
		p = progress(t, srv.Client, name)
		return p.OldUsage != nil && p.OldUsage.Holding == ""
	})
	t.Logf("old code made %d calls; the gate stopped holding %s after it stopped", calls.Load(), time.Since(stoppedAt).Round(time.Millisecond))
	assert.Empty(t, p.OldUsage.Findings)
	approve(t, srv.Client, name, "contract")

	res, err := result(t, run, 2*time.Minute)
	require.NoError(t, err)
	assert.Equal(t, workflows.PhaseCompleted, res.Status)
	recordHistory(t, srv.Client, run, "old-usage-held.json")
	assert.False(t, scalar[bool](t, pool, `SELECT EXISTS (SELECT FROM pg_attribute WHERE attrelid = 'customers'::regclass AND attname = 'name' AND NOT attisdropped)`),
		"contract dropped the old column")
	assert.Equal(t, int64(0), scalar[int64](t, pool, `SELECT count(*) FROM customers WHERE full_name IS NULL OR full_name NOT LIKE 'name %' AND full_name NOT LIKE 'renamed %'`),
		"every row kept what the old code last wrote, under the new name")
}
