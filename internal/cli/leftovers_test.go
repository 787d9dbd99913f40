package cli

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/converter"

	"github.com/zdmhq/zdm/activities"
	"github.com/zdmhq/zdm/internal/planner"
	"github.com/zdmhq/zdm/internal/schema"
	"github.com/zdmhq/zdm/internal/spec"
	"github.com/zdmhq/zdm/workflows"
)

func payloads(t *testing.T, v any) *commonpb.Payloads {
	p, err := converter.GetDefaultDataConverter().ToPayloads(v)
	require.NoError(t, err)
	return p
}

// leftoverPlan plans a rename_column and a NOT NULL add_column on a table with an index
// on the renamed column.
func leftoverPlan(t *testing.T) (*spec.Migration, *planner.Plan) {
	m, err := spec.Parse("m.yaml", []byte(`name: orders
table: orders
operations:
  - rename_column: {column: name, to: full_name}
  - add_column: {column: email_lower, type: text, backfill: "lower(email)", not_null: true, default: "''"}
flags: {dual_write: orders-dw, read_new: orders-rn}
`))
	require.NoError(t, err)
	tbl := &schema.Table{Schema: "public", Name: "orders", Key: []string{"id"}, KeySource: "primary key orders_pkey",
		Columns: []schema.Column{{Name: "id", Type: "bigint", NotNull: true}, {Name: "name", Type: "text", NotNull: true,
			Dependents: []schema.Dependent{{Type: "index", Name: "orders_name_idx", Describe: "index orders_name_idx"}}}, {Name: "email", Type: "text"}},
		Indexes: []schema.Index{{Name: "orders_name_idx", Columns: []string{"name"}, Valid: true, Method: "btree",
			Def: "CREATE INDEX orders_name_idx ON public.orders USING btree (name)"}}}
	p, err := planner.Build(m, tbl, planner.Options{})
	require.NoError(t, err)
	return m, p
}

func event(id int64, typ enumspb.EventType, set func(*historypb.HistoryEvent)) *historypb.HistoryEvent {
	ev := &historypb.HistoryEvent{EventId: id, EventType: typ}
	set(ev)
	return ev
}

func scheduled(id int64, activity string) *historypb.HistoryEvent {
	return event(id, enumspb.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED, func(ev *historypb.HistoryEvent) {
		ev.Attributes = &historypb.HistoryEvent_ActivityTaskScheduledEventAttributes{ActivityTaskScheduledEventAttributes: &historypb.ActivityTaskScheduledEventAttributes{
			ActivityType: &commonpb.ActivityType{Name: activity}}}
	})
}

func completed(id, scheduledID int64, result *commonpb.Payloads) *historypb.HistoryEvent {
	return event(id, enumspb.EVENT_TYPE_ACTIVITY_TASK_COMPLETED, func(ev *historypb.HistoryEvent) {
		ev.Attributes = &historypb.HistoryEvent_ActivityTaskCompletedEventAttributes{ActivityTaskCompletedEventAttributes: &historypb.ActivityTaskCompletedEventAttributes{
			ScheduledEventId: scheduledID, Result: result}}
	})
}

func TestScanHistoryReadsThePlanFromPrepareAndHowTheRunEnded(t *testing.T) {
	m, p := leftoverPlan(t)
	events := []*historypb.HistoryEvent{
		event(1, enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED, func(ev *historypb.HistoryEvent) {
			ev.Attributes = &historypb.HistoryEvent_WorkflowExecutionStartedEventAttributes{WorkflowExecutionStartedEventAttributes: &historypb.WorkflowExecutionStartedEventAttributes{
				Input: payloads(t, workflows.MigrationInput{Migration: *m})}}
		}),
		scheduled(5, "Prepare"),
		scheduled(6, "Notify"),
		completed(7, 6, payloads(t, nil)),
		completed(8, 5, payloads(t, activities.PrepareResult{Plan: *p})),
		scheduled(9, "RunDDL"),
		event(10, enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED, func(*historypb.HistoryEvent) {}),
	}
	h, err := scanHistory(events)
	require.NoError(t, err)
	require.NotNil(t, h.plan)
	assert.Equal(t, p.Rollback, h.plan.Rollback)
	assert.Equal(t, "orders-dw", h.input.Migration.Flags.DualWrite)
	assert.True(t, h.closed)
	assert.Equal(t, enumspb.WORKFLOW_EXECUTION_STATUS_TERMINATED, h.status)
	assert.False(t, h.contractBegan)
	assert.Empty(t, h.next)

	// A later run of the chain: the plan comes with its input; it may reach contract.
	st := workflows.State{Plan: p}
	h, err = scanHistory([]*historypb.HistoryEvent{
		event(1, enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED, func(ev *historypb.HistoryEvent) {
			ev.Attributes = &historypb.HistoryEvent_WorkflowExecutionStartedEventAttributes{WorkflowExecutionStartedEventAttributes: &historypb.WorkflowExecutionStartedEventAttributes{
				Input: payloads(t, workflows.MigrationInput{Migration: *m, State: &st})}}
		}),
		scheduled(5, "Contract"),
	})
	require.NoError(t, err)
	require.NotNil(t, h.plan)
	assert.Equal(t, p.Trigger, h.plan.Trigger)
	assert.True(t, h.contractBegan)
	assert.False(t, h.closed, "a run without a close event is running")

	h, err = scanHistory([]*historypb.HistoryEvent{
		event(9, enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW, func(ev *historypb.HistoryEvent) {
			ev.Attributes = &historypb.HistoryEvent_WorkflowExecutionContinuedAsNewEventAttributes{WorkflowExecutionContinuedAsNewEventAttributes: &historypb.WorkflowExecutionContinuedAsNewEventAttributes{
				NewExecutionRunId: "run-2"}}
		}),
	})
	require.NoError(t, err)
	assert.Equal(t, "run-2", h.next)
}

func TestPlanObjectsNameWhatTheRollbackRemoves(t *testing.T) {
	_, p := leftoverPlan(t)
	var got []string
	for _, o := range planObjects(p) {
		got = append(got, o.Kind+" "+o.Name)
	}
	assert.Equal(t, []string{
		"trigger zz_zdm_sync_orders", `function "zdm"."sync_orders"()`,
		"column full_name", "column email_lower",
		"check _zdm_nn_full_name", "check _zdm_nn_email_lower",
		"index _zdm_orders_name_idx",
	}, got)
}

func TestCleanupOfDecidesFromTheRecordAndTheCatalog(t *testing.T) {
	_, p := leftoverPlan(t)
	trigger := Object{Kind: "trigger", Name: p.Trigger}
	l := &Leftover{Name: "orders", Table: "public.orders", RunID: "run-1"}
	for _, tc := range []struct {
		name string
		rec  record
		in   inspection
		want cleanupAction
		says string
	}{
		{"terminated after expand", record{Known: true, Plan: p}, inspection{TableExists: true, Left: []Object{trigger}}, cleanupRollback, "runs the rollback its plan recorded"},
		{"terminated mid-expand", record{Known: true, Plan: p}, inspection{TableExists: true}, cleanupRollback, "runs the rollback"},
		{"never planned", record{Known: true}, inspection{}, cleanupRelease, "changed nothing but its claim"},
		{"contract committed", record{Known: true, Plan: p, ContractBegan: true}, inspection{TableExists: true}, cleanupComplete, "marks it completed"},
		{"contract did not commit", record{Known: true, Plan: p, ContractBegan: true}, inspection{TableExists: true, Left: []Object{trigger}}, cleanupRollback, "did not commit"},
		{"unknown to Temporal", record{}, inspection{}, cleanupRefuse, "UPDATE zdm.migrations SET status = 'rolled_back', finished_at = now() WHERE name = 'orders' AND run_id = 'run-1'"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			act, says := cleanupOf(l, &tc.rec, tc.in)
			assert.Equal(t, tc.want, act)
			assert.Contains(t, says, tc.says)
		})
	}
}

func TestCleanupStatementsGuardThenThePlansRollback(t *testing.T) {
	m, p := leftoverPlan(t)
	l := &Leftover{Name: "orders", Table: "public.orders", RunID: "run-'1", action: cleanupRollback, plan: p,
		input: &workflows.MigrationInput{Migration: *m}}
	stmts := cleanupStatements(l)
	require.Len(t, stmts, len(p.Rollback)+1)
	assert.Equal(t, p.Rollback, stmts[1:], "exactly the recorded rollback")
	g := stmts[0]
	assert.Equal(t, "cleanup/guard", g.ID)
	assert.False(t, g.Concurrent)
	assert.Contains(t, g.SQL, "WHERE name = 'orders' AND run_id = 'run-''1' AND status = 'running' FOR UPDATE")
	assert.NotContains(t, g.SQL, "LOCK TABLE")

	l.ContractBegan = true
	g = cleanupStatements(l)[0]
	assert.Contains(t, g.SQL, `LOCK TABLE "public"."orders" IN ACCESS EXCLUSIVE MODE`)
	assert.Contains(t, g.SQL, `tgname = 'zz_zdm_sync_orders'`)

	l.TableGone = true
	stmts = cleanupStatements(l)
	require.Len(t, stmts, 2)
	assert.Equal(t, "rollback/drop-function", stmts[1].ID)

	assert.Contains(t, l.flagsWarning(), "if orders-dw or orders-rn is still on in Unleash")
	assert.Equal(t, spec.DefaultLockTimeout, l.lockTimeout())
	assert.Nil(t, cleanupStatements(&Leftover{action: cleanupComplete, plan: p}))
}

func TestCleanupActsOnlyOnTheDatabaseOfThePlan(t *testing.T) {
	planned := planner.Identity{SystemID: "7642011472967116994", Database: "app"}
	assert.Empty(t, otherDatabase("orders", planned, planned))
	assert.Empty(t, otherDatabase("orders", planned, planner.Identity{Database: "app"}), "a system identifier the role cannot read is not compared")
	assert.Equal(t, `migration orders was planned against database "app" on cluster 7642011472967116994, but DATABASE_URL names database "app_staging" on cluster 7642011472967116994: zdm cleanup does nothing here; point DATABASE_URL at the database the migration ran on`,
		otherDatabase("orders", planned, planner.Identity{SystemID: "7642011472967116994", Database: "app_staging"}))
}

func TestConfirmedTakesOnlyYes(t *testing.T) {
	assert.True(t, confirmed(strings.NewReader("y\n")))
	assert.True(t, confirmed(strings.NewReader(" YES \n")))
	assert.False(t, confirmed(strings.NewReader("\n")))
	assert.False(t, confirmed(strings.NewReader("no\n")))
	assert.False(t, confirmed(strings.NewReader("")))
}

func TestRenderLeftovers(t *testing.T) {
	var b bytes.Buffer
	RenderLeftovers(&b, LeftoversView{})
	assert.Equal(t, "no leftover migrations: every migration zdm.migrations holds as running has a running workflow\n\nno zdm objects outside a running migration\n", b.String())

	b.Reset()
	RenderLeftovers(&b, LeftoversView{
		Migrations: []Leftover{{Name: "orders", Table: "public.orders", RunID: "run-1", Workflow: "TimedOut", Planned: true,
			ClaimedSince: time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC),
			Left:         []Object{{Kind: "trigger", Name: "zz_zdm_sync_orders", Table: "public.orders"}, {Kind: "check", Name: "_zdm_nn_email_lower", Detail: "NOT VALID"}},
			Gone:         []Object{{Kind: "index", Name: "_zdm_orders_name_idx"}}, Cleanup: "zdm cleanup orders runs the rollback"}},
		Unexplained: []Object{{Kind: "function", Name: "zdm.sync_old()"}, {Kind: "column", Name: "_zdm_x", Table: "public.t"}},
	})
	assert.Equal(t, `migration orders on public.orders
  workflow      zdm-orders TimedOut (run run-1), not running
  claim         zdm.migrations says running since 2026-05-01 09:00:00 UTC: no other migration of public.orders can start
  left behind   trigger zz_zdm_sync_orders on public.orders
                check _zdm_nn_email_lower (NOT VALID)
  already gone  index _zdm_orders_name_idx
  clean up      zdm cleanup orders runs the rollback

zdm objects no running migration explains (find out where they come from before removing them by hand):
  function zdm.sync_old()
  column _zdm_x on public.t
`, b.String())
}

func TestLeftoversAndCleanupNeedTheDatabase(t *testing.T) {
	h := newHarness(t)
	assert.Equal(t, ExitUsage, h.run("leftovers"))
	assert.Contains(t, h.err.String(), "zdm leftovers reads zdm.migrations and the catalog: set DATABASE_URL")
	assert.Equal(t, ExitUsage, h.run("cleanup", "orders", "--yes"))
	assert.Contains(t, h.err.String(), "zdm cleanup reads zdm.migrations and the catalog: set DATABASE_URL")
	assert.Equal(t, ExitUsage, h.run("cleanup"))
	assert.Zero(t, h.dialed)
}
