// Package workflows holds the migration workflow: deterministic code only. It decides the
// order of expand, backfill, verify, gates and contract, keeps progress in its state, and
// talks to people through signals, updates and queries. Everything that touches
// PostgreSQL, Unleash or Slack is an activity.
package workflows

import (
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/zdmhq/zdm/internal/plan"
	"github.com/zdmhq/zdm/internal/spec"
	"github.com/zdmhq/zdm/internal/wire"
)

// TaskQueue is where the zdm worker listens.
const TaskQueue = "zdm"

// Message names: signals for the Temporal UI, updates of the same names for the CLI.
const (
	SignalApprove = "approve"
	SignalReject  = "reject"
	SignalPause   = "pause"
	SignalResume  = "resume"
	UpdateApprove = "approve"
	UpdateReject  = "reject"
	QueryProgress = "progress"
	// During an undo window (undo.go): bring the old shape back, or drop it now.
	SignalRevert   = "revert"
	SignalFinalize = "finalize"
	UpdateRevert   = "revert"
	UpdateFinalize = "finalize"
)

// MigrationPhase is the search attribute holding the current phase.
var MigrationPhase = temporal.NewSearchAttributeKeyKeyword("MigrationPhase")

// MigrationTable is the search attribute holding the migrated table.
var MigrationTable = temporal.NewSearchAttributeKeyKeyword("MigrationTable")

// Phase is where a migration is.
type Phase string

// Phases, in the order they come.
const (
	PhaseValidating  Phase = "validating"
	PhaseExpanding   Phase = "expanding"
	PhaseBackfilling Phase = "backfilling"
	PhaseVerifying   Phase = "verifying"
	PhaseAwaiting    Phase = "awaiting_approval"
	PhaseSwitching   Phase = "switching_reads"
	PhaseContracting Phase = "contracting"
	PhaseCompleted   Phase = "completed"
	PhaseRollingBack Phase = "rolling_back"
	PhaseRolledBack  Phase = "rolled_back"
	PhaseFailed      Phase = "failed"
	// With an undo window (undo.go): contracted, the old shape kept restorable.
	PhaseUndoWindow Phase = "undo_window"
	PhaseReverting  Phase = "reverting"
	PhaseReverted   Phase = "reverted"
	PhaseFinalizing Phase = "finalizing"
)

// Final says whether the migration has ended.
func (p Phase) Final() bool {
	return p == PhaseCompleted || p == PhaseRolledBack || p == PhaseFailed || p == PhaseReverted
}

// Decision is the payload of approve and reject, from the UI, the CLI or Slack.
type Decision struct {
	Gate    string `json:"gate"`
	By      string `json:"by"`
	Comment string `json:"comment,omitempty"`
}

// PauseRequest is the optional payload of pause and resume.
type PauseRequest struct {
	By     string `json:"by,omitempty"`
	Reason string `json:"reason,omitempty"`
}

// Approval is one decision the workflow acted on.
type Approval struct {
	Gate     string    `json:"gate"`
	Approved bool      `json:"approved"`
	By       string    `json:"by"`
	Comment  string    `json:"comment,omitempty"`
	At       time.Time `json:"at"`
	Via      string    `json:"via"` // signal or update
}

// MigrationInput starts a migration. State is set only when the workflow continues as
// new in the middle of its backfill.
type MigrationInput struct {
	Migration spec.Migration `json:"migration"`
	Options   Options        `json:"options"`
	State     *State         `json:"state,omitempty"`
	// CheckedAgainst is the database zdm start checked the file against (its system
	// identifier and name, never a URL); the worker refuses to migrate another. Nil
	// when the CLI had no DATABASE_URL.
	CheckedAgainst *plan.Identity `json:"checked_against,omitempty"`
	// StartedBy is who started the migration (the CLI's $USER), for zdm's history.
	StartedBy string `json:"started_by,omitempty"`
}

// Options tune the workflow itself; zero values take defaults.
type Options struct {
	// SliceBudget is how long one backfill activity runs batches (default 5s).
	SliceBudget time.Duration `json:"slice_budget,omitempty"`
	// SlicesPerRun bounds the backfill slices of one run before it continues as new
	// (default 500; the server's suggestion also triggers it).
	SlicesPerRun int `json:"slices_per_run,omitempty"`
	// FlagMargin is added to the applications' refresh interval after each toggle
	// (default 1s).
	FlagMargin time.Duration `json:"flag_margin,omitempty"`
	// HeartbeatTimeout of backfill slices (default 10s): after a worker dies, its slice
	// is retried elsewhere once this passes.
	HeartbeatTimeout time.Duration `json:"heartbeat_timeout,omitempty"`
	// OldUsageEvery is how often the workflow looks for old code at the contract gate
	// (default 30s).
	OldUsageEvery time.Duration `json:"old_usage_every,omitempty"`
}

func (o Options) withDefaults() Options {
	if o.SliceBudget <= 0 {
		o.SliceBudget = 5 * time.Second
	}
	if o.SlicesPerRun <= 0 {
		o.SlicesPerRun = 500
	}
	if o.FlagMargin <= 0 {
		o.FlagMargin = time.Second
	}
	if o.HeartbeatTimeout <= 0 {
		o.HeartbeatTimeout = 10 * time.Second
	}
	if o.OldUsageEvery <= 0 {
		o.OldUsageEvery = 30 * time.Second
	}
	return o
}

// State is everything the workflow knows, carried across continue-as-new.
type State struct {
	Phase        Phase      `json:"phase"`
	AwaitingGate string     `json:"awaiting_gate,omitempty"`
	Plan         *plan.Plan `json:"plan,omitempty"`
	Resuming     bool       `json:"resuming,omitempty"`
	Expanded     bool       `json:"expanded,omitempty"`
	// FlagsOn are the flags this migration switched on and has not switched off.
	FlagsOn []string `json:"flags_on,omitempty"`
	// FlagSettledAt is when applications will have seen the last toggle.
	FlagSettledAt time.Time `json:"flag_settled_at,omitempty"`

	Upper          plan.Cursor   `json:"upper,omitempty"`
	Cursor         plan.Cursor   `json:"cursor,omitempty"`
	BoundsKnown    bool          `json:"bounds_known,omitempty"`
	BackfillDone   bool          `json:"backfill_done,omitempty"`
	RowsDone       int64         `json:"rows_done"`
	RowsTotal      int64         `json:"rows_total"`
	Batches        int64         `json:"batches"`
	BackfillActive time.Duration `json:"backfill_active"` // time spent in slices
	RecentRate     float64       `json:"recent_rate"`     // rows/s of the last slice
	LockRetries    int           `json:"lock_retries"`
	SlicesThisRun  int           `json:"-"`
	ContinuedAsNew int           `json:"continued_as_new"`
	Verified       bool          `json:"verified,omitempty"`
	// Verification says how the backfill was verified (sampled, or every row and why).
	Verification   string               `json:"verification,omitempty"`
	ReadsSwitched  bool                 `json:"reads_switched,omitempty"`
	Decisions      map[string]*Approval `json:"decisions,omitempty"`
	Approvals      []Approval           `json:"approvals,omitempty"`
	Paused         bool                 `json:"paused,omitempty"`
	PausedBy       string               `json:"paused_by,omitempty"`
	Throttled      string               `json:"throttled,omitempty"`
	BatchSize      int                  `json:"batch_size,omitempty"` // adapted by target_batch_time
	Governor       string               `json:"governor,omitempty"`
	GovernorState  wire.GovernorState   `json:"governor_state,omitzero"`
	LastError      string               `json:"last_error,omitempty"`
	LastRefusal    string               `json:"last_refusal,omitempty"`
	StartedAt      time.Time            `json:"started_at"`
	PhaseStartedAt time.Time            `json:"phase_started_at"`
	// OldUsage is what zdm saw of code still using what contract retires (usage.go).
	OldUsage *OldUsage `json:"old_usage,omitempty"`
	// Undo is the undo window's state (undo.go); nil without one.
	Undo *UndoState `json:"undo,omitempty"`
	// Guard is where a guarded switch's rollout and guard are (see guard.go).
	Guard *GuardState `json:"guard,omitempty"`
	// Partitions of a partitioned backfill (partitions.go); nil with one cursor.
	Partitions []PartitionState `json:"partitions,omitempty"`
	// AutoParallelism is how many partitions of a parallelism: auto backfill may run at
	// once now (autoparallel.go); 0 otherwise.
	AutoParallelism int `json:"auto_parallelism,omitempty"`
}

// Progress is the answer to the progress query.
type Progress struct {
	Migration    string        `json:"migration"`
	Table        string        `json:"table"`
	Phase        Phase         `json:"phase"`
	AwaitingGate string        `json:"awaiting_gate,omitempty"`
	Gates        []string      `json:"gates"`
	RowsDone     int64         `json:"rows_done"`
	RowsTotal    int64         `json:"rows_total"`
	Percent      float64       `json:"percent"`
	RowsPerSec   float64       `json:"rows_per_second"`
	ETA          time.Duration `json:"eta"`
	Batches      int64         `json:"batches"`
	// BatchSize is the rows per batch now (it adapts when target_batch_time is set).
	BatchSize   int    `json:"batch_size,omitempty"`
	LockRetries int    `json:"lock_retries"`
	Paused      bool   `json:"paused"`
	PausedBy    string `json:"paused_by,omitempty"`
	// Throttled says why the backfill holds (replication lag, the throttle query).
	Throttled string `json:"throttled,omitempty"`
	// Verification says how the backfill was verified.
	Verification string        `json:"verification,omitempty"`
	Approvals    []Approval    `json:"approvals"`
	LastError    string        `json:"last_error,omitempty"`
	LastRefusal  string        `json:"last_refusal,omitempty"`
	FlagsOn      []string      `json:"flags_on,omitempty"`
	StartedAt    time.Time     `json:"started_at"`
	Elapsed      time.Duration `json:"elapsed"`
	// Governor says how max_app_p99 holds the backfill, e.g. "app latency: longest lock
	// wait 34ms > 20ms; ...".
	Governor string `json:"governor,omitempty"`
	// OldUsage: statements still naming what contract retires, from pg_stat_statements.
	OldUsage *OldUsage `json:"old_usage,omitempty"`
	// UndoUntil is when the undo window ends (zero without one, or once it ended).
	UndoUntil time.Time `json:"undo_until,omitzero"`
	// Guard is the guarded switch's rollout step, last figures and breaches.
	Guard *GuardState `json:"guard,omitempty"`
	// Parallelism is the partitions the backfill runs at once; Partitions their rows
	// done and whether each is done (none with one cursor).
	Parallelism int                 `json:"parallelism,omitempty"`
	Partitions  []PartitionProgress `json:"partitions,omitempty"`
	// ParallelismAuto: the file says parallelism: auto, and Parallelism is how many
	// partitions the latency governor lets run at once now.
	ParallelismAuto bool `json:"parallelism_auto,omitempty"`
}

// Result is what a finished migration returns.
type Result struct {
	Status   Phase    `json:"status"`
	Progress Progress `json:"progress"`
}
