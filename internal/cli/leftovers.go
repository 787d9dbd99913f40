package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"

	"github.com/zdmhq/zdm/activities"
	"github.com/zdmhq/zdm/internal/pgexec"
	"github.com/zdmhq/zdm/internal/planner"
	"github.com/zdmhq/zdm/internal/spec"
	"github.com/zdmhq/zdm/workflows"
)

// What zdm leftovers and zdm cleanup share: the claims in zdm.migrations, what Temporal
// recorded of the runs that made them (the plan, how the run ended), and which of the
// plan's objects are still in the database.

// Activity types the workflow schedules, as the worker registers them.
const (
	activityPrepare  = "Prepare"
	activityContract = "Contract"
)

// maxChainRuns bounds the continue-as-new chain a history walk follows.
const maxChainRuns = 10000

// historyTimeout bounds what one command reads from Temporal's histories.
const historyTimeout = 2 * time.Minute

// database connects to the database in DATABASE_URL, which the command needs.
func (e *env) database(ctx context.Context, command string) (*pgxpool.Pool, error) {
	dsn := e.getenv("DATABASE_URL", "")
	if dsn == "" {
		return nil, usageError("zdm %s reads zdm.migrations and the catalog: set DATABASE_URL to the database the worker migrates", command)
	}
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, usageError("DATABASE_URL is not a valid PostgreSQL connection string")
	}
	cfg.ConnConfig.RuntimeParams["application_name"] = "zdm-" + command
	cfg.MaxConns = 2
	pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	pool, err := pgxpool.NewWithConfig(pctx, cfg)
	if err == nil {
		if err = pool.Ping(pctx); err != nil {
			pool.Close()
		}
	}
	if err != nil {
		return nil, exitf(ExitFailed, "cannot reach PostgreSQL at %s:%d: %v", cfg.ConnConfig.Host, cfg.ConnConfig.Port, err)
	}
	return pool, nil
}

// claim is one row of zdm.migrations.
type claim struct {
	Name      string    `json:"name"`
	Table     string    `json:"table"`
	RunID     string    `json:"run_id"`
	Status    string    `json:"status"`
	StartedAt time.Time `json:"started_at"`
	UpdatedAt time.Time `json:"updated_at"`
	RowsDone  int64     `json:"rows_done"`
}

// readClaims reads the rows of zdm.migrations: the one of name, or with name "" those
// still running. Without zdm.migrations there are none.
func readClaims(ctx context.Context, pool *pgxpool.Pool, name string) ([]claim, error) {
	var exists bool
	if err := pool.QueryRow(ctx, `SELECT to_regclass('zdm.migrations') IS NOT NULL`).Scan(&exists); err != nil {
		return nil, fmt.Errorf("look for zdm.migrations: %w", err)
	}
	if !exists {
		return nil, nil
	}
	rows, err := pool.Query(ctx, `SELECT name, table_name, run_id, status, started_at, updated_at, rows_done
		FROM zdm.migrations WHERE CASE WHEN $1 = '' THEN status = 'running' ELSE name = $1 END ORDER BY started_at, name`, name)
	if err != nil {
		return nil, fmt.Errorf("read zdm.migrations: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (claim, error) {
		var c claim
		err := r.Scan(&c.Name, &c.Table, &c.RunID, &c.Status, &c.StartedAt, &c.UpdatedAt, &c.RowsDone)
		return c, err
	})
	if err != nil {
		return nil, fmt.Errorf("read zdm.migrations: %w", err)
	}
	// A partitioned backfill counts its rows in its partitions, not in zdm.migrations.
	for i, c := range out {
		rows, _, err := pgexec.PartitionTotals(ctx, pool, c.Name, c.RunID)
		if err != nil {
			return nil, fmt.Errorf("read zdm.backfill_partitions: %w", err)
		}
		out[i].RowsDone += rows
	}
	return out, nil
}

// record is what Temporal kept of one run of a migration: the chain of runs that
// continue-as-new made from the first run, whose ID zdm.migrations holds.
type record struct {
	// Known is false when Temporal has no history of the run (its retention passed, or
	// it ran in another namespace).
	Known bool
	// Status is that of the chain's last run: Running, or how it ended.
	Status    enumspb.WorkflowExecutionStatus
	LastRunID string
	// Input is what the run was started with (the migration file), when known.
	Input *workflows.MigrationInput
	// Plan is the result of its Prepare activity (or, when the first run's history is
	// gone, the plan a later run of the chain carried); nil when it was never planned.
	Plan *planner.Plan
	// ContractBegan says that the last run scheduled the Contract activity: past it
	// the table may have its final shape.
	ContractBegan bool
}

// Running says whether the chain has not ended.
func (r *record) Running() bool { return r.Status == enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING }

// StatusName is Temporal's name of how the chain ended: Terminated, TimedOut...
func (r *record) StatusName() string {
	if !r.Known {
		return "unknown to Temporal"
	}
	return r.Status.String()
}

// runHistory is what one run's history says.
type runHistory struct {
	input         *workflows.MigrationInput
	plan          *planner.Plan
	contractBegan bool
	closed        bool
	status        enumspb.WorkflowExecutionStatus
	next          string // the run continue-as-new started
}

// readRun reads one run's history.
func readRun(ctx context.Context, c client.Client, workflowID, runID string) (*runHistory, error) {
	it := c.GetWorkflowHistory(ctx, workflowID, runID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	var events []*historypb.HistoryEvent
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			return nil, err
		}
		events = append(events, ev)
	}
	return scanHistory(events)
}

// scanHistory reads the input, the Prepare result, whether Contract was scheduled and
// how the run ended from a run's events.
func scanHistory(events []*historypb.HistoryEvent) (*runHistory, error) {
	dc := converter.GetDefaultDataConverter()
	h := &runHistory{status: enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING}
	scheduled := map[int64]string{}
	for _, ev := range events {
		switch ev.GetEventType() {
		case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
			var in workflows.MigrationInput
			if err := dc.FromPayloads(ev.GetWorkflowExecutionStartedEventAttributes().GetInput(), &in); err == nil {
				h.input = &in
			}
		case enumspb.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
			typ := ev.GetActivityTaskScheduledEventAttributes().GetActivityType().GetName()
			scheduled[ev.GetEventId()] = typ
			if typ == activityContract {
				h.contractBegan = true
			}
		case enumspb.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
			attrs := ev.GetActivityTaskCompletedEventAttributes()
			if scheduled[attrs.GetScheduledEventId()] != activityPrepare || h.plan != nil {
				continue
			}
			var res activities.PrepareResult
			if err := dc.FromPayloads(attrs.GetResult(), &res); err != nil {
				return nil, fmt.Errorf("read the plan from the result of Prepare (event %d): %w", ev.GetEventId(), err)
			}
			h.plan = &res.Plan
		case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED:
			h.closed, h.status = true, enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED
		case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED:
			h.closed, h.status = true, enumspb.WORKFLOW_EXECUTION_STATUS_FAILED
		case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED:
			h.closed, h.status = true, enumspb.WORKFLOW_EXECUTION_STATUS_CANCELED
		case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED:
			h.closed, h.status = true, enumspb.WORKFLOW_EXECUTION_STATUS_TERMINATED
		case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_TIMED_OUT:
			h.closed, h.status = true, enumspb.WORKFLOW_EXECUTION_STATUS_TIMED_OUT
		case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW:
			h.closed, h.status = true, enumspb.WORKFLOW_EXECUTION_STATUS_CONTINUED_AS_NEW
			h.next = ev.GetWorkflowExecutionContinuedAsNewEventAttributes().GetNewExecutionRunId()
		}
	}
	if h.plan == nil && h.input != nil && h.input.State != nil && h.input.State.Plan != nil {
		// A run continued as new carries the plan in its input.
		h.plan = h.input.State.Plan
	}
	return h, nil
}

func isNotFound(err error) bool {
	var nf *serviceerror.NotFound
	return errors.As(err, &nf)
}

// readRecord reads what Temporal kept of the run of migration name whose first run is
// firstRunID: the plan from the first run's Prepare, then the chain of continue-as-new
// runs to its last, which says how it ended and whether its contract began.
func (e *env) readRecord(ctx context.Context, c client.Client, name, firstRunID string) (*record, error) {
	wid := spec.WorkflowID(name)
	rec := &record{}
	runID := firstRunID
	first, err := readRun(ctx, c, wid, runID)
	if isNotFound(err) {
		// The first run's history is gone (retention counts from each run's close): the
		// latest run may still belong to the chain and carry the plan in its input.
		resp, derr := c.DescribeWorkflowExecution(ctx, wid, "")
		if isNotFound(derr) {
			return rec, nil
		}
		if derr != nil {
			return nil, e.temporalError(name, derr)
		}
		info := resp.GetWorkflowExecutionInfo()
		if firstRunID == "" || info.GetFirstRunId() != firstRunID {
			return rec, nil
		}
		runID = info.GetExecution().GetRunId()
		first, err = readRun(ctx, c, wid, runID)
	}
	if err != nil {
		return nil, e.temporalError(name, err)
	}
	rec.Known, rec.Input, rec.Plan = true, first.input, first.plan
	h := first
	for i := 0; h.next != "" && i < maxChainRuns; i++ {
		runID = h.next
		if h, err = readRun(ctx, c, wid, runID); err != nil {
			return nil, e.temporalError(name, err)
		}
		if rec.Plan == nil {
			rec.Plan = h.plan
		}
	}
	rec.Status, rec.LastRunID, rec.ContractBegan = h.status, runID, h.contractBegan
	if rec.Input == nil {
		rec.Input = h.input
	}
	return rec, nil
}

// Object is something zdm creates in the database while a migration runs.
type Object struct {
	Kind   string `json:"kind"` // trigger, function, column, check, index
	Name   string `json:"name"`
	Table  string `json:"table,omitempty"`
	Detail string `json:"detail,omitempty"` // NOT VALID, invalid
}

func (o Object) String() string {
	s := o.Kind + " " + o.Name
	if o.Kind == "trigger" && o.Table != "" {
		s += " on " + o.Table
	}
	if o.Detail != "" {
		s += " (" + o.Detail + ")"
	}
	return s
}

// planObjects lists what the plan's expand and validate create, in the order they
// come: the objects its rollback removes.
func planObjects(p *planner.Plan) []Object {
	var out []Object
	seen := map[string]bool{}
	add := func(kind, name string) {
		if name == "" || seen[kind+"\x00"+name] {
			return
		}
		seen[kind+"\x00"+name] = true
		out = append(out, Object{Kind: kind, Name: name, Table: p.TableName()})
	}
	if len(p.Ops) > 0 || hasStatement(p.Rollback, "rollback/drop-trigger") {
		add("trigger", p.Trigger)
		add("function", p.Function+"()")
	}
	for _, op := range p.Ops {
		add("column", op.New)
	}
	for _, s := range p.Rollback {
		if c, ok := strings.CutPrefix(s.ID, "rollback/drop-column/"); ok {
			add("column", c)
		}
	}
	for _, op := range p.Ops {
		add("check", op.CheckName)
	}
	for _, s := range p.Rollback {
		if c, ok := strings.CutPrefix(s.ID, "rollback/drop-check/"); ok {
			add("check", c)
		}
	}
	for _, op := range p.Ops {
		for _, ix := range op.Indexes {
			add("index", ix.Building)
		}
	}
	return out
}

func hasStatement(stmts []planner.Statement, id string) bool {
	for _, s := range stmts {
		if s.ID == id {
			return true
		}
	}
	return false
}

// inspection is which of a plan's objects the database still holds.
type inspection struct {
	TableExists bool
	Left, Gone  []Object
}

// triggerLeft says whether the plan's sync trigger is among what is left.
func (in inspection) triggerLeft() bool {
	for _, o := range in.Left {
		if o.Kind == "trigger" {
			return true
		}
	}
	return false
}

// inspect looks up each object of the plan in the catalog.
func inspect(ctx context.Context, pool *pgxpool.Pool, p *planner.Plan) (inspection, error) {
	var in inspection
	tbl := planner.TableIdent(p)
	if err := pool.QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL`, tbl).Scan(&in.TableExists); err != nil {
		return in, fmt.Errorf("look for %s: %w", p.TableName(), err)
	}
	for _, o := range planObjects(p) {
		var found bool
		var detail string
		var err error
		switch o.Kind {
		case "trigger":
			err = pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = to_regclass($1) AND tgname = $2)`, tbl, o.Name).Scan(&found)
		case "function":
			err = pool.QueryRow(ctx, `SELECT to_regprocedure($1) IS NOT NULL`, o.Name).Scan(&found)
		case "column":
			err = pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass($1) AND attname = $2 AND attnum > 0 AND NOT attisdropped)`, tbl, o.Name).Scan(&found)
		case "check":
			var valid *bool
			err = pool.QueryRow(ctx, `SELECT (SELECT convalidated FROM pg_constraint WHERE conrelid = to_regclass($1) AND conname = $2)`, tbl, o.Name).Scan(&valid)
			found = valid != nil
			if found && !*valid {
				detail = "NOT VALID"
			}
		case "index":
			var valid *bool
			err = pool.QueryRow(ctx, `SELECT (SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass($1) AND indrelid = to_regclass($2))`,
				pgx.Identifier{p.Schema, o.Name}.Sanitize(), tbl).Scan(&valid)
			found = valid != nil
			if found && !*valid {
				detail = "invalid"
			}
		}
		if err != nil {
			return in, fmt.Errorf("look for %s: %w", o, err)
		}
		if found {
			o.Detail = detail
			in.Left = append(in.Left, o)
		} else {
			in.Gone = append(in.Gone, o)
		}
	}
	return in, nil
}

// namedObjects finds what is named after migration name when there is no plan to say
// what it created: its sync trigger (on any table) and its sync function.
func namedObjects(ctx context.Context, pool *pgxpool.Pool, name string) ([]Object, error) {
	rows, err := pool.Query(ctx, `
		SELECT 'trigger', t.tgname::text, n.nspname || '.' || c.relname
		  FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace
		 WHERE NOT t.tgisinternal AND t.tgname = left($1, 63)
		UNION ALL
		SELECT 'function', format('%I.%I(%s)', n.nspname, p.proname, pg_get_function_identity_arguments(p.oid)), ''
		  FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
		 WHERE n.nspname = 'zdm' AND p.proname = left($2, 63)`,
		planner.TriggerName(name), "sync_"+name)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Object, error) {
		var o Object
		err := r.Scan(&o.Kind, &o.Name, &o.Table)
		return o, err
	})
}

// strays lists zdm's objects in the database that no running migration explains: sync
// triggers and functions not named after one, and _zdm_ columns, checks and indexes on
// tables none holds.
func strays(ctx context.Context, pool *pgxpool.Pool, running []claim) ([]Object, error) {
	rows, err := pool.Query(ctx, `
		WITH rel AS (
		  SELECT c.oid, n.nspname || '.' || c.relname AS name
		    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		   WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\_toast%'
		)
		SELECT 'trigger', t.tgname::text, rel.name, '' FROM pg_trigger t JOIN rel ON rel.oid = t.tgrelid
		 WHERE NOT t.tgisinternal AND starts_with(t.tgname, 'zz_zdm_sync_')
		UNION ALL
		SELECT 'function', format('%I.%I(%s)', n.nspname, p.proname, pg_get_function_identity_arguments(p.oid)), '', p.proname::text
		  FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
		 WHERE n.nspname = 'zdm' AND starts_with(p.proname, 'sync_')
		UNION ALL
		SELECT 'column', a.attname::text, rel.name, '' FROM pg_attribute a JOIN rel ON rel.oid = a.attrelid
		  JOIN pg_class c ON c.oid = a.attrelid
		 WHERE c.relkind IN ('r', 'p') AND a.attnum > 0 AND NOT a.attisdropped AND starts_with(a.attname, '_zdm_')
		UNION ALL
		SELECT 'check', co.conname::text, rel.name, CASE WHEN co.convalidated THEN '' ELSE 'NOT VALID' END
		  FROM pg_constraint co JOIN rel ON rel.oid = co.conrelid
		 WHERE starts_with(co.conname, '_zdm_')
		UNION ALL
		SELECT 'index', ic.relname::text, rel.name, CASE WHEN i.indisvalid THEN '' ELSE 'invalid' END
		  FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid JOIN rel ON rel.oid = i.indrelid
		 WHERE starts_with(ic.relname, '_zdm_')
		ORDER BY 3, 1, 2`)
	if err != nil {
		return nil, fmt.Errorf("look for zdm's objects: %w", err)
	}
	type found struct {
		Object
		extra string // a function's name; a check's or index's state
	}
	all, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (found, error) {
		var f found
		err := r.Scan(&f.Kind, &f.Name, &f.Table, &f.extra)
		return f, err
	})
	if err != nil {
		return nil, fmt.Errorf("look for zdm's objects: %w", err)
	}
	triggers, functions, tables := map[string]bool{}, map[string]bool{}, map[string]bool{}
	for _, c := range running {
		triggers[truncateIdent(planner.TriggerName(c.Name))] = true
		functions[truncateIdent("sync_"+c.Name)] = true
		tables[c.Table] = true
	}
	var out []Object
	for _, f := range all {
		o := f.Object
		switch o.Kind {
		case "trigger":
			if triggers[o.Name] {
				continue
			}
		case "function":
			if functions[f.extra] {
				continue
			}
		default:
			if tables[o.Table] {
				continue
			}
			o.Detail = f.extra
		}
		out = append(out, o)
	}
	return out, nil
}

// truncateIdent is a name as PostgreSQL keeps it: at most 63 bytes.
func truncateIdent(s string) string {
	if len(s) > 63 {
		return s[:63]
	}
	return s
}

// release marks the claim of run runID finished with status.
func release(ctx context.Context, pool *pgxpool.Pool, c claim, status string) error {
	if err := pgexec.Release(ctx, pool, c.Name, status, c.RunID); err != nil {
		return err
	}
	return pgexec.FinishRun(ctx, pool, c.Name, status, c.RunID)
}
