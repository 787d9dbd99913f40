package workflows_test

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/testsuite"

	"github.com/zdmhq/zdm/activities"
	"github.com/zdmhq/zdm/internal/ops"
	"github.com/zdmhq/zdm/internal/pgexec"
	"github.com/zdmhq/zdm/internal/planner"
	"github.com/zdmhq/zdm/internal/spec"
	"github.com/zdmhq/zdm/internal/wire"
	"github.com/zdmhq/zdm/workflows"
)

// acts names the activities for mocks the way the workflow does: through a nil receiver.
var acts *activities.Activities

// renameYAML moves the application from customers.name to full_name and adds email_lower,
// behind two flags and both gates. Flags settle 3s after a toggle (2s refresh + 1s margin).
const renameYAML = `name: customers-full-name
table: customers
operations:
  - rename_column: {column: name, to: full_name}
  - add_column: {column: email_lower, type: text, backfill: "lower(email)", not_null: true, default: "''"}
backfill: {batch_size: 5000}
flags: {dual_write: customers-dual-write, read_new: customers-read-new, app_refresh: 2s}
gates: [read_new, contract]
`

// settleTime is how long the workflow waits after a toggle with renameYAML's flags.
const settleTime = 3 * time.Second

// changeTypeYAML widens accounts.balance; after contract the original name holds the new
// type, so the application must end up reading the old name again. The read_new flag has
// no gate: the workflow switches it as soon as dual_write has settled.
const changeTypeYAML = `name: accounts-balance-bigint
table: public.accounts
operations:
  - change_type: {column: balance, type: bigint}
flags: {dual_write: accounts-dual-write, read_new: accounts-read-new, app_refresh: 1s}
gates: [contract]
`

// noFlagsYAML has neither flags nor gates: the workflow runs straight through.
const noFlagsYAML = `name: orders-note-lower
table: orders
operations:
  - add_column: {column: note_lower, type: text, backfill: "lower(note)"}
gates: []
`

// newEnv is a test environment that logs only with go test -v.
func newEnv() *testsuite.TestWorkflowEnvironment {
	var s testsuite.WorkflowTestSuite
	if !testing.Verbose() {
		s.SetLogger(log.NewStructuredLogger(slog.New(slog.DiscardHandler)))
	}
	return s.NewTestWorkflowEnvironment()
}

func parse(t *testing.T, yaml string) spec.Migration {
	t.Helper()
	m, err := spec.Parse("migration.yaml", []byte(yaml))
	require.NoError(t, err)
	return *m
}

// planFor is the plan Prepare would return for m: its SQL is illustrative, since the
// workflow only passes statements through, but each phase has statements of its own so a
// test can tell which list reached which activity.
func planFor(m spec.Migration) planner.Plan {
	sch, tbl := m.QualifiedTable()
	p := planner.Plan{
		Migration:     m.Name,
		Schema:        sch,
		Table:         tbl,
		Key:           []planner.KeyColumn{{Name: "id", Type: "bigint"}},
		KeySource:     "primary key",
		LockTimeout:   m.LockTimeout.D(),
		EstimatedRows: 36000, // reltuples overshoots: the table has 30000 rows
		Trigger:       planner.TriggerName(m.Name),
		Function:      planner.FunctionIdent(m.Name),
	}
	ident := planner.TableIdent(&p)
	for _, op := range m.Operations {
		switch c := op.Op.(type) {
		case *ops.RenameColumn:
			p.Ops = append(p.Ops, planner.Op{Kind: "rename_column", Old: c.Column, New: c.To, Final: c.To, OldType: "text", NewType: "text", Up: c.Column, Down: c.To})
		case *ops.AddColumn:
			o := planner.Op{Kind: "add_column", New: c.Column, Final: c.Column, NewType: c.Type, Up: c.Backfill, NotNull: c.NotNull}
			if c.NotNull {
				o.CheckName = c.Column + "_not_null"
			}
			p.Ops = append(p.Ops, o)
		case *ops.ChangeType:
			p.Ops = append(p.Ops, planner.Op{Kind: "change_type", Old: c.Column, New: planner.ShadowName(c.Column), Final: c.Column, OldType: "integer", NewType: c.Type,
				Up: c.Column + "::" + c.Type, Down: c.Column + "::integer"})
		}
	}
	for _, op := range p.Ops {
		p.Expand = append(p.Expand, planner.Statement{ID: "expand/add/" + op.New,
			SQL: fmt.Sprintf("ALTER TABLE %s ADD COLUMN IF NOT EXISTS %s %s", ident, planner.Ident(op.New), op.NewType), Lock: planner.LockBriefExclusive})
		p.Rollback = append(p.Rollback, planner.Statement{ID: "rollback/drop/" + op.New,
			SQL: fmt.Sprintf("ALTER TABLE %s DROP COLUMN IF EXISTS %s", ident, planner.Ident(op.New)), Lock: planner.LockBriefExclusive})
		if op.CheckName != "" {
			p.Validate = append(p.Validate, planner.Statement{ID: "validate/" + op.CheckName,
				SQL: fmt.Sprintf("ALTER TABLE %s VALIDATE CONSTRAINT %s", ident, planner.Ident(op.CheckName)), Lock: planner.LockShareUpdExcl})
		}
		if op.Old != "" {
			p.Contract = append(p.Contract, planner.Statement{ID: "contract/drop/" + op.Old,
				SQL: fmt.Sprintf("ALTER TABLE %s DROP COLUMN %s", ident, planner.Ident(op.Old)), Lock: planner.LockBriefExclusive})
		}
	}
	p.Expand = append(p.Expand, planner.Statement{ID: "expand/sync-trigger", SQL: "CREATE TRIGGER " + planner.Ident(p.Trigger) + " ...", Lock: planner.LockShareRowExcl})
	p.Rollback = append([]planner.Statement{{ID: "rollback/drop-trigger", SQL: "DROP TRIGGER IF EXISTS " + planner.Ident(p.Trigger) + " ON " + ident, Lock: planner.LockShareRowExcl}}, p.Rollback...)
	p.Contract = append(p.Contract, planner.Statement{ID: "contract/drop-trigger", SQL: "DROP TRIGGER " + planner.Ident(p.Trigger) + " ON " + ident, Lock: planner.LockShareRowExcl})
	p.BackfillSet = "full_name = name"
	p.Mismatch = "full_name IS DISTINCT FROM name"
	return p
}

// step is one activity call the fake database saw.
type step struct {
	Label string    // activity name, with the phase, flag or status that tells calls apart
	At    time.Time // workflow clock when the activity returned
	Input any
}

// fakeDB stands in for the activities. Every call is recorded; results come from the plan,
// the bounds and the slice function; fail injects an error by step label.
type fakeDB struct {
	env    *testsuite.TestWorkflowEnvironment
	plan   planner.Plan
	bounds activities.Bounds
	// slice answers the n-th BackfillSlice call of this environment, counting from 1.
	slice func(n int, in activities.SliceInput) activities.SliceProgress
	// sliceTakes is how long each slice takes on the workflow clock.
	sliceTakes time.Duration
	fail       map[string]error

	mu     sync.Mutex
	steps  []step
	slices int
	// notes are the Slack notifications, kept apart from the steps that change things.
	notes  []string
	noteAt map[string]time.Time
	// usage answers the n-th UsageCheck, counting from 1 (nil: contract retires
	// nothing); usageIns are the inputs it saw.
	usage    func(n int, in wire.UsageInput) wire.UsageResult
	usageIns []wire.UsageInput
	// noteDetails are the notifications' details, in order.
	noteDetails []string
}

// newFakeDB mocks every activity in env for migration m. By default the table has keys up
// to 30000 and the third slice finishes it.
func newFakeDB(env *testsuite.TestWorkflowEnvironment, m spec.Migration) *fakeDB {
	db := &fakeDB{
		env:    env,
		plan:   planFor(m),
		bounds: activities.Bounds{Upper: pgexec.Cursor{"30000"}},
		slice:  slicesOf(10000, 3),
		fail:   map[string]error{},
	}
	return db
}

// slicesOf returns slices that each update rows rows in 2s, the last-th being done.
func slicesOf(rows int64, last int) func(int, activities.SliceInput) activities.SliceProgress {
	return func(n int, _ activities.SliceInput) activities.SliceProgress {
		return activities.SliceProgress{
			Cursor:   pgexec.Cursor{fmt.Sprint(int64(n) * rows)},
			Rows:     rows,
			RowsDone: int64(n) * rows,
			Batches:  2,
			Done:     n == last,
			Elapsed:  2 * time.Second,
			Retries:  1,
		}
	}
}

// install registers the mocks; call it after setting the fields.
func (db *fakeDB) install() {
	db.env.OnActivity(acts.Prepare, mock.Anything, mock.Anything).Return(db.Prepare)
	db.env.OnActivity(acts.RunDDL, mock.Anything, mock.Anything).Return(db.RunDDL)
	db.env.OnActivity(acts.Rehearse, mock.Anything, mock.Anything).Return(db.Rehearse)
	db.env.OnActivity(acts.SetFlag, mock.Anything, mock.Anything).Return(db.SetFlag)
	db.env.OnActivity(acts.BackfillBounds, mock.Anything, mock.Anything).Return(db.BackfillBounds)
	slice := db.env.OnActivity(acts.BackfillSlice, mock.Anything, mock.Anything).Return(db.BackfillSlice)
	if db.sliceTakes > 0 {
		slice.After(db.sliceTakes)
	}
	db.env.OnActivity(acts.Verify, mock.Anything, mock.Anything).Return(db.Verify)
	db.env.OnActivity(acts.Contract, mock.Anything, mock.Anything).Return(db.Contract)
	db.env.OnActivity(acts.Finish, mock.Anything, mock.Anything).Return(db.Finish)
	db.env.OnActivity(acts.UsageCheck, mock.Anything, mock.Anything).Return(func(_ context.Context, in wire.UsageInput) (*wire.UsageResult, error) {
		db.mu.Lock()
		defer db.mu.Unlock()
		db.usageIns = append(db.usageIns, in)
		res := wire.UsageResult{CheckedAt: db.env.Now()}
		if db.usage != nil {
			res = db.usage(len(db.usageIns), in)
		}
		return &res, nil
	})
	db.env.OnActivity(acts.Notify, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.NotifyInput) error {
		db.mu.Lock()
		defer db.mu.Unlock()
		note := strings.TrimSpace(in.Event + " " + in.Gate)
		db.notes = append(db.notes, note)
		db.noteDetails = append(db.noteDetails, in.Detail)
		if db.noteAt == nil {
			db.noteAt = map[string]time.Time{}
		}
		db.noteAt[note] = db.env.Now()
		return nil
	})
}

func (db *fakeDB) record(label string, in any) error {
	db.mu.Lock()
	defer db.mu.Unlock()
	db.steps = append(db.steps, step{Label: label, At: db.env.Now(), Input: in})
	return db.fail[label]
}

func (db *fakeDB) Prepare(_ context.Context, in activities.PrepareInput) (*activities.PrepareResult, error) {
	if err := db.record("Prepare", in); err != nil {
		return nil, err
	}
	return &activities.PrepareResult{Plan: db.plan}, nil
}

func (db *fakeDB) RunDDL(_ context.Context, in activities.DDLInput) (*activities.DDLResult, error) {
	if err := db.record("RunDDL "+in.Phase, in); err != nil {
		return nil, err
	}
	return &activities.DDLResult{LockRetries: 1}, nil
}

func (db *fakeDB) Rehearse(_ context.Context, in activities.DDLInput) (*activities.DDLResult, error) {
	if err := db.record("Rehearse "+in.Phase, in); err != nil {
		return nil, err
	}
	return &activities.DDLResult{}, nil
}

func (db *fakeDB) SetFlag(_ context.Context, in activities.FlagInput) error {
	state := "off"
	if in.On {
		state = "on"
	}
	return db.record("SetFlag "+in.Flag+" "+state, in)
}

func (db *fakeDB) BackfillBounds(_ context.Context, in activities.BoundsInput) (*activities.Bounds, error) {
	if err := db.record("BackfillBounds", in); err != nil {
		return nil, err
	}
	b := db.bounds
	return &b, nil
}

func (db *fakeDB) BackfillSlice(_ context.Context, in activities.SliceInput) (*activities.SliceProgress, error) {
	if err := db.record("BackfillSlice", in); err != nil {
		return nil, err
	}
	db.mu.Lock()
	db.slices++
	n := db.slices
	db.mu.Unlock()
	p := db.slice(n, in)
	return &p, nil
}

func (db *fakeDB) Verify(_ context.Context, in activities.VerifyInput) (*activities.VerifyResult, error) {
	if err := db.record("Verify", in); err != nil {
		return nil, err
	}
	return &activities.VerifyResult{}, nil
}

func (db *fakeDB) Contract(_ context.Context, in activities.ContractInput) (*activities.DDLResult, error) {
	if err := db.record("Contract", in); err != nil {
		return nil, err
	}
	return &activities.DDLResult{LockRetries: 2}, nil
}

func (db *fakeDB) Finish(_ context.Context, in activities.FinishInput) error {
	return db.record("Finish "+in.Status, in)
}

// labels lists the calls so far, in order.
func (db *fakeDB) labels() []string {
	db.mu.Lock()
	defer db.mu.Unlock()
	out := make([]string, len(db.steps))
	for i, s := range db.steps {
		out[i] = s.Label
	}
	return out
}

// calls returns the recorded calls with the given label.
func (db *fakeDB) calls(label string) []step {
	db.mu.Lock()
	defer db.mu.Unlock()
	var out []step
	for _, s := range db.steps {
		if s.Label == label {
			out = append(out, s)
		}
	}
	return out
}

// only returns the single call with the given label.
func (db *fakeDB) only(t *testing.T, label string) step {
	t.Helper()
	c := db.calls(label)
	require.Len(t, c, 1, "calls of %s in %v", label, db.labels())
	return c[0]
}

func (db *fakeDB) sliceCount() int {
	db.mu.Lock()
	defer db.mu.Unlock()
	return db.slices
}

// repeat is n copies of label, for expected sequences.
func repeat(label string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = label
	}
	return out
}

// seq concatenates labels and lists of labels.
func seq(parts ...any) []string {
	var out []string
	for _, p := range parts {
		switch v := p.(type) {
		case string:
			out = append(out, v)
		case []string:
			out = append(out, v...)
		default:
			panic(fmt.Sprintf("seq: %T", p))
		}
	}
	return out
}

// progressOf queries the workflow. Delayed callbacks call it, so it reports a failed query
// with assert rather than stopping the test goroutine mid-callback.
func progressOf(t *testing.T, env *testsuite.TestWorkflowEnvironment) workflows.Progress {
	t.Helper()
	var p workflows.Progress
	v, err := env.QueryWorkflow(workflows.QueryProgress)
	if !assert.NoError(t, err) {
		return p
	}
	assert.NoError(t, v.Get(&p))
	return p
}

// approve is the JSON a person types in the Temporal UI's signal dialog.
func approve(gate, by string) map[string]any { return map[string]any{"gate": gate, "by": by} }

// updateOutcome collects what the test environment reports for one update.
type updateOutcome struct {
	accepted bool
	rejected error
	result   any
	err      error
	done     bool
}

func (o *updateOutcome) callbacks() *testsuite.TestUpdateCallback {
	return &testsuite.TestUpdateCallback{
		OnAccept:   func() { o.accepted = true },
		OnReject:   func(err error) { o.rejected = err; o.done = true },
		OnComplete: func(res any, err error) { o.result, o.err, o.done = res, err, true },
	}
}

func labelsContain(labels []string, prefix string) bool {
	for _, l := range labels {
		if strings.HasPrefix(l, prefix) {
			return true
		}
	}
	return false
}

// runToEnd runs the workflow and requires that it completed without error.
func runToEnd(t *testing.T, env *testsuite.TestWorkflowEnvironment, in workflows.MigrationInput) {
	t.Helper()
	env.ExecuteWorkflow(workflows.MigrationWorkflow, in)
	require.True(t, env.IsWorkflowCompleted())
	require.NoError(t, env.GetWorkflowError())
}
