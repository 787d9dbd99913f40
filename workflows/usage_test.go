package workflows_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zdmhq/zdm/internal/wire"
	"github.com/zdmhq/zdm/workflows"
)

var retiredName = []wire.Retired{{Schema: "public", Table: "customers", Column: "name", How: "column dropped", Replacement: "full_name"}}

var oldCode = wire.UsageFinding{QueryID: 42, User: "billing", Query: "UPDATE customers SET name = $1 WHERE id = $2",
	Names: []string{"public.customers.name (write)"}, Rose: 7, Clients: []string{"billing-cron from 10.0.0.7 as billing"}}

// usageAnswers answers the first look (the count at the soak's start) with the names
// contract retires, and the n-th look after it with found(n).
func usageAnswers(found func(n int) []wire.UsageFinding) func(int, wire.UsageInput) wire.UsageResult {
	return func(n int, in wire.UsageInput) wire.UsageResult {
		res := wire.UsageResult{Counts: []wire.StatementCalls{{QueryID: 42, UserID: 10, Calls: int64(n)}}}
		if n == 1 {
			res.Retired = retiredName
			return res
		}
		res.Findings = found(n - 1)
		return res
	}
}

const requireNoOldUsage = "contract_requires_no_old_usage: true\n"

// The gate opens at about 1m06s (read_new approved at 1m, two 3s settles); the soak's
// count is taken then, and zdm looks again every 30s: 1m36s, 2m06s, 2m36s...
func TestOldUsageHoldsTheContractGateUntilItsCallsStopRising(t *testing.T) {
	env := newEnv()
	m := parse(t, renameYAML+requireNoOldUsage)
	db := newFakeDB(env, m)
	db.usage = usageAnswers(func(n int) []wire.UsageFinding {
		if n <= 2 { // 1m36s and 2m06s
			return []wire.UsageFinding{oldCode}
		}
		return nil
	})
	db.install()

	var early, held, released updateOutcome
	var atHeld workflows.Progress
	env.RegisterDelayedCallback(func() {
		env.SignalWorkflow(workflows.SignalApprove, approve("read_new", "alice"))
	}, time.Minute)
	env.RegisterDelayedCallback(func() {
		env.UpdateWorkflow(workflows.UpdateApprove, "", early.callbacks(), workflows.Decision{Gate: "contract", By: "bob"})
	}, 80*time.Second)
	env.RegisterDelayedCallback(func() {
		atHeld = progressOf(t, env)
		env.UpdateWorkflow(workflows.UpdateApprove, "", held.callbacks(), workflows.Decision{Gate: "contract", By: "bob"})
		// A signal from the UI is refused the same way, and the refusal is kept.
		env.SignalWorkflow(workflows.SignalApprove, approve("contract", "carol"))
	}, 110*time.Second)
	env.RegisterDelayedCallback(func() {
		env.UpdateWorkflow(workflows.UpdateApprove, "", released.callbacks(), workflows.Decision{Gate: "contract", By: "bob"})
	}, 170*time.Second)

	runToEnd(t, env, workflows.MigrationInput{Migration: m})

	require.Error(t, early.rejected, "before zdm has looked once, the gate cannot open")
	assert.Contains(t, early.rejected.Error(), "has not looked for old code")

	require.Error(t, held.rejected, "old code ran in the last 30s")
	assert.Contains(t, held.rejected.Error(), "UPDATE customers SET name = $1 WHERE id = $2")
	assert.Contains(t, held.rejected.Error(), "billing-cron from 10.0.0.7")
	assert.Contains(t, held.rejected.Error(), "next look at")

	require.NoError(t, released.rejected, "the calls stopped rising at 2m36s")
	assert.True(t, released.accepted)

	// What the gate showed while it held.
	assert.Equal(t, "contract", atHeld.AwaitingGate)
	u := atHeld.OldUsage
	require.NotNil(t, u)
	assert.Equal(t, retiredName, u.Retired)
	assert.Equal(t, []wire.UsageFinding{oldCode}, u.Findings)
	assert.Equal(t, 1, u.Checks)
	assert.Equal(t, int64(7), u.SeenCalls)
	assert.True(t, u.Required)
	assert.Contains(t, u.Holding, "old code still uses what contract retires")
	assert.Empty(t, u.Counts, "the counts stay in the workflow")

	// The first look was the count at the soak's start, from the plan; later ones
	// compare with the look before.
	require.GreaterOrEqual(t, len(db.usageIns), 5)
	assert.True(t, db.usageIns[0].Snapshot)
	assert.NotNil(t, db.usageIns[0].Plan)
	assert.Nil(t, db.usageIns[1].Plan)
	assert.Equal(t, retiredName, db.usageIns[1].Retired)
	assert.Equal(t, []wire.StatementCalls{{QueryID: 42, UserID: 10, Calls: 1}}, db.usageIns[1].Since)

	var p workflows.Progress
	var res workflows.Result
	require.NoError(t, env.GetWorkflowResult(&res))
	p = res.Progress
	require.Len(t, p.Approvals, 2)
	assert.Equal(t, "bob", p.Approvals[1].By)
	assert.Contains(t, p.LastRefusal, "gate contract is held", "carol's signal was refused")
	assert.Equal(t, seq("SetFlag customers-dual-write off", "Contract", "Finish completed"), db.labels()[len(db.labels())-3:])
	assert.Empty(t, p.OldUsage.Holding)

	// Slack heard of the gate, then of the old code when it was first seen.
	assert.Equal(t, []string{"gate read_new", "gate contract", "gate contract", "completed"}, db.notes)
	assert.Contains(t, db.noteDetails[1], "zdm watches pg_stat_statements for statements naming public.customers.name")
	assert.Contains(t, db.noteDetails[2], "Old code still running")
	assert.Contains(t, db.noteDetails[2], "the gate stays closed while any remain")
}

// Old code that shows up after the approval holds contract itself, and Slack hears of
// it; contract runs once it has stopped.
func TestOldUsageAfterApprovalHoldsContract(t *testing.T) {
	env := newEnv()
	m := parse(t, renameYAML+requireNoOldUsage)
	db := newFakeDB(env, m)
	db.usage = usageAnswers(func(n int) []wire.UsageFinding {
		if n == 2 { // the look just before contract
			return []wire.UsageFinding{oldCode}
		}
		return nil
	})
	db.install()
	start := env.Now()

	var heldAt workflows.Progress
	env.RegisterDelayedCallback(func() {
		env.SignalWorkflow(workflows.SignalApprove, approve("read_new", "alice"))
	}, time.Minute)
	env.RegisterDelayedCallback(func() {
		env.SignalWorkflow(workflows.SignalApprove, approve("contract", "bob"))
	}, 100*time.Second)
	var labelsHeld []string
	env.RegisterDelayedCallback(func() { heldAt, labelsHeld = progressOf(t, env), db.labels() }, 120*time.Second)

	runToEnd(t, env, workflows.MigrationInput{Migration: m})

	assert.Equal(t, workflows.PhaseContracting, heldAt.Phase)
	require.NotNil(t, heldAt.OldUsage)
	assert.Contains(t, heldAt.OldUsage.Holding, "UPDATE customers SET name")
	assert.NotContains(t, labelsHeld, "Contract", "nothing contracted while it held")

	assert.Contains(t, db.notes, "held")
	contract := db.only(t, "Contract")
	assert.Len(t, db.usageIns, 4, "count, look at 1m36s, look before contract (old code), look 30s later (none)")
	assert.GreaterOrEqual(t, contract.At.Sub(start), 130*time.Second, "approved at 1m40s, held for one 30s look")
	for i, n := range db.notes {
		if n == "held" {
			assert.True(t, strings.HasPrefix(db.noteDetails[i], "contract is held: contract_requires_no_old_usage: old code still uses"), db.noteDetails[i])
		}
	}
}

// Without contract_requires_no_old_usage the gate shows what it found and still opens;
// without pg_stat_statements it says it cannot tell.
func TestOldUsageIsShownButHoldsNothingWithoutTheField(t *testing.T) {
	env := newEnv()
	m := parse(t, renameYAML)
	db := newFakeDB(env, m)
	db.usage = func(n int, in wire.UsageInput) wire.UsageResult {
		return wire.UsageResult{Retired: retiredName,
			Unavailable: "cannot tell: pg_stat_statements is not available: the extension is not installed in database \"app\" (fix: ...)"}
	}
	db.install()

	var atGate workflows.Progress
	var upd updateOutcome
	env.RegisterDelayedCallback(func() {
		env.SignalWorkflow(workflows.SignalApprove, approve("read_new", "alice"))
	}, time.Minute)
	env.RegisterDelayedCallback(func() {
		atGate = progressOf(t, env)
		env.UpdateWorkflow(workflows.UpdateApprove, "", upd.callbacks(), workflows.Decision{Gate: "contract", By: "bob"})
	}, 2*time.Minute)

	runToEnd(t, env, workflows.MigrationInput{Migration: m})

	require.NotNil(t, atGate.OldUsage)
	assert.Contains(t, atGate.OldUsage.Unavailable, "cannot tell: pg_stat_statements is not available")
	assert.Empty(t, atGate.OldUsage.Holding)
	assert.NoError(t, upd.rejected)
	assert.Contains(t, db.labels(), "Contract")
}

// Without a contract gate the soak still lasts one interval before the look that
// decides whether contract runs.
func TestOldUsageWithoutAContractGateLooksAfterOneInterval(t *testing.T) {
	env := newEnv()
	m := parse(t, noFlagsYAML+requireNoOldUsage)
	db := newFakeDB(env, m)
	db.usage = usageAnswers(func(n int) []wire.UsageFinding {
		if n == 1 {
			return []wire.UsageFinding{oldCode}
		}
		return nil
	})
	db.install()
	start := env.Now()

	runToEnd(t, env, workflows.MigrationInput{Migration: m})

	require.Len(t, db.usageIns, 3, "the count, a look after 30s (old code: held), a look 30s later (none)")
	contract := db.only(t, "Contract")
	verify := db.only(t, "Verify")
	assert.GreaterOrEqual(t, contract.At.Sub(verify.At), 60*time.Second)
	assert.Less(t, contract.At.Sub(start), 2*time.Minute)
	assert.Contains(t, db.notes, "held")
}
