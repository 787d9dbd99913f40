// Package spec owns the migration file: its YAML shape, its defaults, and the checks that
// need no database. A Migration is what the CLI sends to the workflow; it carries the
// positions of its fields so that errors found later, against the live schema, can still
// name the file and line a person has to fix.
package spec

import (
	"fmt"
	"strings"
	"time"
)

// Migration is one migration file.
type Migration struct {
	Name        string      `yaml:"name" json:"name"`
	Table       string      `yaml:"table" json:"table"`
	Operations  []Operation `yaml:"-" json:"operations"`
	Backfill    Backfill    `yaml:"backfill" json:"backfill"`
	LockTimeout Duration    `yaml:"lock_timeout" json:"lock_timeout"`
	Flags       *Flags      `yaml:"flags" json:"flags,omitempty"`
	// Guard, when set, watches the application's health while read_new rolls out and
	// until contract, and switches read_new back on a breach (see guard.go).
	Guard *Guard `yaml:"guard" json:"guard,omitempty"`
	// Gates lists the human approvals the workflow waits for, in the order they come.
	Gates []string `yaml:"gates" json:"gates"`
	// ContractRequiresNoOldUsage holds the contract gate (and contract itself) while
	// statements naming what contract retires still run (pg_stat_statements).
	ContractRequiresNoOldUsage bool `yaml:"contract_requires_no_old_usage" json:"contract_requires_no_old_usage,omitempty"`
	// UndoWindow keeps the old shape restorable for this long after contract (zdm
	// revert brings it back); 0 drops it at contract. See undo.go.
	UndoWindow Duration `yaml:"undo_window" json:"undo_window,omitempty"`
	// RequireRehearsal makes zdm start (and the worker) refuse the migration without a
	// successful zdm rehearse of the same file less than RehearsalMaxAge ago.
	RequireRehearsal bool     `yaml:"require_rehearsal" json:"require_rehearsal,omitempty"`
	RehearsalMaxAge  Duration `yaml:"rehearsal_max_age" json:"rehearsal_max_age,omitempty"`

	// Source says where the migration came from; it is filled by Parse.
	Source Source `yaml:"-" json:"source"`
}

// Source is the file a migration was read from and the line of each field in it, keyed by
// field path ("operations[0].change_type.type").
type Source struct {
	File  string         `json:"file"`
	Lines map[string]int `json:"lines,omitempty"`
	// Checksum is the SHA-256 of the file's bytes, in hex: zdm's history keeps it, so
	// that a file edited after it was applied is noticed.
	Checksum string `json:"checksum,omitempty"`
	// Relative is the file's path inside the migrations directory zdm migrate read it
	// from, as the history records it; empty for a file started on its own.
	Relative string `json:"relative,omitempty"`
}

// HistoryFile is the file as zdm's history records it: its path inside the migrations
// directory, else the path it was read from.
func (s Source) HistoryFile() string {
	if s.Relative != "" {
		return s.Relative
	}
	return s.File
}

// Backfill tunes the batched copy of existing rows.
type Backfill struct {
	// BatchSize is the number of rows one transaction updates.
	BatchSize int `yaml:"batch_size" json:"batch_size,omitempty"`
	// MaxRowsPerSecond throttles the backfill; 0 means as fast as batches go.
	MaxRowsPerSecond int `yaml:"max_rows_per_second" json:"max_rows_per_second,omitempty"`
	// Pause is slept between batches, leaving room to other writers.
	Pause Duration `yaml:"pause" json:"pause,omitempty"`
	// TargetBatchTime, when set, adapts the batch size so that each batch takes about
	// this long (its row locks are held that long); BatchSize is where it starts.
	TargetBatchTime Duration `yaml:"target_batch_time" json:"target_batch_time,omitempty"`
	// MaxReplicationLag holds the backfill while a streaming replica lags further
	// behind than this (pg_stat_replication.replay_lag); 0 turns the check off.
	MaxReplicationLag Duration `yaml:"max_replication_lag" json:"max_replication_lag,omitempty"`
	// ThrottleQuery is a query returning one boolean: while it is true, the backfill
	// waits (e.g. "SELECT count(*) > 20 FROM pg_stat_activity WHERE state = 'active'").
	ThrottleQuery string `yaml:"throttle_query" json:"throttle_query,omitempty"`
	// Verify is how the backfill is verified: VerifySampled (the default) or
	// VerifyEveryRow.
	Verify string `yaml:"verify" json:"verify,omitempty"`
	// MaxAppP99 is the application latency the backfill keeps under (governor.go):
	// it shortens batches and pauses between them when the application waits on it.
	MaxAppP99 AppLatencyLimit `yaml:"max_app_p99" json:"max_app_p99,omitempty"`
	// LatencyQuery is a PromQL query giving the application's own latency in seconds
	// (its p99, say), read once a second from guard.prometheus_url as one more source of
	// the governor (latency_query.go).
	LatencyQuery string `yaml:"latency_query" json:"latency_query,omitempty"`
	// Parallelism splits the key range into this many partitions backfilled at once
	// (1 to MaxParallelism; 0 or 1 is one cursor over the whole range), each slice an
	// activity any worker may run. MaxRowsPerSecond is shared among the partitions.
	// `auto` lets the latency governor choose how many run at once (parallelism.go).
	Parallelism Parallelism `yaml:"parallelism" json:"parallelism,omitempty"`
}

// Values of backfill.verify. Sampled relies on each batch proving its rows as it writes
// them and on the sync trigger for writes since, checks both, and reads a random sample
// of the table; every_row reads every backfilled row again after the backfill.
const (
	VerifySampled  = "sampled"
	VerifyEveryRow = "every_row"
)

// Flags names the Unleash flags that switch the application between old and new columns.
type Flags struct {
	DualWrite string `yaml:"dual_write" json:"dual_write,omitempty"`
	ReadNew   string `yaml:"read_new" json:"read_new,omitempty"`
	// AppRefresh is how often the applications' Unleash clients fetch flags; after each
	// toggle zdm waits this long (plus a margin) before relying on it.
	AppRefresh Duration `yaml:"app_refresh" json:"app_refresh,omitempty"`
	// Rollout is the percents of traffic read_new reaches, step by step (default: one
	// step of 100); Soak is how long each step runs before the next (see guard.go).
	Rollout []int    `yaml:"rollout" json:"rollout,omitempty"`
	Soak    Duration `yaml:"soak" json:"soak,omitempty"`
}

// Gate names.
const (
	GateReadNew  = "read_new"
	GateContract = "contract"
	// GateFinalize, with an undo window, holds the leftovers until a person finalizes.
	GateFinalize = "finalize"
)

// Defaults.
const (
	DefaultBatchSize = 10000
	MaxBatchSize     = 1000000
	MaxParallelism   = 16
	// DefaultLockTimeout bounds how long the application's queries on a table queue
	// behind a DDL statement waiting for its lock; tries are retried with backoff and
	// made only when no holder would outlast them (internal/pgexec, lockwait.go).
	// Chosen from BenchmarkContractUnderLoad: at 50ms the contract got through on its
	// first try under pgbench -R 300; at 20ms transactions of the load itself started to
	// count as holders to wait for.
	DefaultLockTimeout = 50 * time.Millisecond
	DefaultAppRefresh  = 15 * time.Second
	// DefaultRehearsalMaxAge is how recent a rehearsal require_rehearsal accepts.
	DefaultRehearsalMaxAge = 7 * 24 * time.Hour
)

// Duration is a time.Duration written as "500ms", "2s" or "1m" in files.
type Duration time.Duration

// UnmarshalText reads a Go duration string.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(strings.TrimSpace(string(b)))
	if err != nil {
		return fmt.Errorf("%q is not a duration", string(b))
	}
	*d = Duration(v)
	return nil
}

// MarshalText writes the duration as a Go duration string.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// D returns the duration as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// RehearsalAge is the oldest rehearsal require_rehearsal accepts: rehearsal_max_age,
// else DefaultRehearsalMaxAge.
func (m *Migration) RehearsalAge() time.Duration {
	if m.RehearsalMaxAge > 0 {
		return m.RehearsalMaxAge.D()
	}
	return DefaultRehearsalMaxAge
}

// QualifiedTable splits Table into schema and name, the schema defaulting to public.
func (m *Migration) QualifiedTable() (schema, name string) { return SplitTable(m.Table) }

// SplitTable splits schema.name, the schema defaulting to public.
func SplitTable(t string) (schema, name string) {
	if i := strings.IndexByte(t, '.'); i >= 0 {
		return t[:i], t[i+1:]
	}
	return "public", t
}

// TableOf is the table operation i acts on, as schema.name: its own, else the
// migration's; "" for an operation on no table.
func (m *Migration) TableOf(i int) string {
	op := m.Operations[i]
	if op.Table != "" {
		return qualify(op.Table)
	}
	if _, free := op.Op.(Tableless); free {
		return ""
	}
	return qualify(m.Table)
}

// Tables lists every table the operations act on, in the order they first appear.
func (m *Migration) Tables() []string {
	var out []string
	seen := map[string]bool{}
	for i := range m.Operations {
		if t := m.TableOf(i); t != "" && !seen[t] {
			seen[t] = true
			out = append(out, t)
		}
	}
	return out
}

func qualify(t string) string {
	if t == "" || strings.IndexByte(t, '.') >= 0 {
		return t
	}
	return "public." + t
}

// HasGate says whether the migration waits for a person at gate g.
func (m *Migration) HasGate(g string) bool {
	for _, x := range m.Gates {
		if x == g {
			return true
		}
	}
	return false
}

// WorkflowID is the Temporal workflow ID of the migration called name.
func WorkflowID(name string) string { return "zdm-" + name }
