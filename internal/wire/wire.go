// Package wire holds what the migration workflow and its activities say to each other:
// the activities' names, their inputs and outputs, and the error types the workflow
// treats as final. It holds plain values only, so that the workflow links no database
// driver and no SQL parser.
package wire

import (
	"time"

	"github.com/zdmhq/zdm/internal/governor"
	"github.com/zdmhq/zdm/internal/plan"
	"github.com/zdmhq/zdm/internal/spec"
)

// Activity names: the methods of activities.Activities, which the worker registers.
const (
	Prepare        = "Prepare"
	RunDDL         = "RunDDL"
	Rehearse       = "Rehearse"
	Contract       = "Contract"
	Finish         = "Finish"
	BackfillBounds = "BackfillBounds"
	BackfillSlice  = "BackfillSlice"
	Verify         = "Verify"
	SetFlag        = "SetFlag"
	Notify         = "Notify"
)

// Error types the workflow's retry policies treat as final.
const (
	ErrInvalidMigration = "InvalidMigration"
	ErrTableBusy        = "TableBusy"
	ErrSQL              = "SQLError"
	ErrFlagsUnavailable = "FlagsUnavailable"
	ErrMismatch         = "BackfillMismatch"
	// ErrWrongDatabase: the worker is not connected to the database the migration was
	// validated against. Final wherever a failure fails the migration; the steps that
	// must finish (contract, rollback, release) retry it until a worker on the right
	// database takes them.
	ErrWrongDatabase = "WrongDatabase"
	// ErrNotifyInvalid is a notification the workflow should not have asked for.
	ErrNotifyInvalid = "InvalidNotification"
	// ErrNotifyRefused is Slack refusing the message: bad token, missing scope, a
	// channel that does not exist or the bot is not in.
	ErrNotifyRefused = "SlackRefused"
)

// Notification events.
const (
	NotifyGate       = "gate"
	NotifyCompleted  = "completed"
	NotifyFailed     = "failed"
	NotifyRolledBack = "rolled_back"
	// NotifyHeld: contract waits because old code still uses what it retires.
	NotifyHeld = "held"
)

// PrepareInput is the migration to check and plan.
type PrepareInput struct {
	Migration spec.Migration `json:"migration"`
	// RunID identifies this run of the migration (the first run ID of the workflow).
	RunID string `json:"run_id"`
	// DryRun plans without claiming the table.
	DryRun bool `json:"dry_run,omitempty"`
	// CheckedAgainst is the database zdm start checked the file against (nil when the
	// CLI had no DATABASE_URL): the worker refuses to migrate another.
	CheckedAgainst *plan.Identity `json:"checked_against,omitempty"`
	// StartedBy is who started the migration, recorded in zdm's history.
	StartedBy string `json:"started_by,omitempty"`
}

// PrepareResult is the plan of a valid migration.
type PrepareResult struct {
	Plan     plan.Plan `json:"plan"`
	Resuming bool      `json:"resuming"`
}

// DDLInput is a list of statements of one phase.
type DDLInput struct {
	Migration   string           `json:"migration"`
	Phase       string           `json:"phase"`
	Statements  []plan.Statement `json:"statements"`
	LockTimeout time.Duration    `json:"lock_timeout"`
	// OneTransaction runs the statements in one transaction (Concurrent ones after
	// it, each alone); a rollback runs so, so that no write meets a half-undone table.
	OneTransaction bool `json:"one_transaction,omitempty"`
	// Database is the migration's database (the plan's); another is refused.
	Database plan.Identity `json:"database,omitzero"`
}

// DDLResult tells how hard the statements had to try.
type DDLResult struct {
	LockRetries int `json:"lock_retries"`
}

// ContractInput is the plan to contract.
type ContractInput struct {
	Plan plan.Plan `json:"plan"`
}

// FinishInput records how a migration ended.
type FinishInput struct {
	Migration string `json:"migration"`
	Status    string `json:"status"`
	// RunID, when set, releases the claim only if this run holds it.
	RunID string `json:"run_id,omitempty"`
	// Database is the migration's database (the plan's); another is refused. Zero
	// when the migration ended before it had a plan.
	Database plan.Identity `json:"database,omitzero"`
}

// BoundsInput asks where the backfill ends.
type BoundsInput struct {
	Target plan.Target `json:"target"`
}

// Bounds is the last key to backfill (nil for an empty table) and the committed progress
// of this run so far.
type Bounds struct {
	Upper    plan.Cursor `json:"upper"`
	Cursor   plan.Cursor `json:"cursor"`
	RowsDone int64       `json:"rows_done"`
}

// SliceInput is one slice of the backfill: batches from Cursor towards Upper for at most
// Budget.
type SliceInput struct {
	Target           plan.Target   `json:"target"`
	Cursor           plan.Cursor   `json:"cursor"`
	Upper            plan.Cursor   `json:"upper"`
	BatchSize        int           `json:"batch_size"`
	MaxRowsPerSecond int           `json:"max_rows_per_second,omitempty"`
	Pause            time.Duration `json:"pause,omitempty"`
	Budget           time.Duration `json:"budget"`
	// Throttle holds the backfill while a replica lags or the user's query says so.
	Throttle plan.Throttle `json:"throttle,omitzero"`
	// TargetBatchTime, when set, adapts the batch size towards batches this long.
	TargetBatchTime time.Duration `json:"target_batch_time,omitempty"`
	// MaxAppP99, when set, lets the governor shorten batches and pause between them to
	// keep the application's latency under it; Governor is where the last slice left it.
	MaxAppP99 time.Duration `json:"max_app_p99,omitempty"`
	Governor  GovernorState `json:"governor,omitzero"`
	// LatencyQuery, when set, is one more source of the governor: a PromQL query of the
	// application's latency in seconds, asked of PrometheusURL (the guard's server).
	LatencyQuery  string `json:"latency_query,omitempty"`
	PrometheusURL string `json:"prometheus_url,omitempty"`
	// FileBatchSize is the file's batch_size: without target_batch_time, the governor
	// shortens batches below it and never lengthens them past it.
	FileBatchSize int `json:"file_batch_size,omitempty"`
}

// GovernorState is the governor's setting carried from one slice to the next.
type GovernorState = governor.State

// SliceProgress is heartbeated after every batch and returned at the end of the slice.
type SliceProgress struct {
	Cursor   plan.Cursor   `json:"cursor"`
	Rows     int64         `json:"rows"`      // rows updated by this slice
	RowsDone int64         `json:"rows_done"` // rows updated by the whole run, as committed
	Batches  int           `json:"batches"`
	Done     bool          `json:"done"`
	Elapsed  time.Duration `json:"elapsed"`
	Retries  int           `json:"retries"`
	// Throttled says why the backfill is holding, "" when it is not.
	Throttled string `json:"throttled,omitempty"`
	// BatchSize is the size the next batch would have (it changes with
	// TargetBatchTime); the next slice starts from it.
	BatchSize int `json:"batch_size,omitempty"`
	// Governor says how the application's latency limit holds the backfill back, ""
	// when it does not; GovernorState is where the next slice starts.
	Governor      string        `json:"governor,omitempty"`
	GovernorState GovernorState `json:"governor_state,omitzero"`
}

// VerifyInput asks for a check of the whole backfilled range.
type VerifyInput struct {
	Target plan.Target `json:"target"`
	Upper  plan.Cursor `json:"upper"`
	// PageSize is how many rows one verification query reads.
	PageSize int `json:"page_size"`
	// Mode is VerifyFull (empty: every row of the range) or VerifySampled.
	Mode string `json:"mode,omitempty"`
	// Trigger is the sync trigger a sampled verification checks is still enabled.
	Trigger string `json:"trigger,omitempty"`
}

// Verification modes. Sampled relies on every batch having proven its own rows as it
// wrote them (zdm.migrations.proven_rows) and on the sync trigger for the writes since;
// it checks both, and a random sample of the table's pages, instead of reading every row
// again. Where either cannot be shown, it reads every row.
const (
	VerifyFull    = ""
	VerifySampled = "sampled"
)

// VerifyResult counts rows whose new columns differ from what the old ones say.
type VerifyResult struct {
	Mismatches int64    `json:"mismatches"`
	Sample     []string `json:"sample,omitempty"`
	// Mode is how it was done; Checked is how many rows were read; Why says why a
	// sampled verification read every row instead.
	Mode    string `json:"mode,omitempty"`
	Checked int64  `json:"checked,omitempty"`
	Why     string `json:"why,omitempty"`
}

// FlagInput switches one flag.
type FlagInput struct {
	Migration   string `json:"migration"`
	Flag        string `json:"flag"`
	On          bool   `json:"on"`
	Description string `json:"description"`
}

// NotifyInput is one message to the team's Slack channel.
type NotifyInput struct {
	Migration string `json:"migration"`
	// RunID is the workflow's first run ID (the same across continue-as-new, different
	// for each run of a migration name): the gate buttons carry it, so that a message
	// cannot decide a later run of the same migration. Empty in inputs recorded before
	// it existed: the message then has no buttons.
	RunID string `json:"run_id,omitempty"`
	Table string `json:"table,omitempty"`
	// Event is gate, completed, failed or rolled_back.
	Event string `json:"event"`
	// Gate is the gate the migration waits at (event gate); the message carries
	// Approve and Reject buttons for it.
	Gate string `json:"gate,omitempty"`
	// Detail is shown as it is: why it failed, who rejected and why.
	Detail    string        `json:"detail,omitempty"`
	RowsDone  int64         `json:"rows_done,omitempty"`
	RowsTotal int64         `json:"rows_total,omitempty"`
	Elapsed   time.Duration `json:"elapsed,omitempty"`
}
