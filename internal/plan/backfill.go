package plan

import "time"

// Target is what the backfill needs of a plan: small, because it travels with every slice
// through the workflow's history.
type Target struct {
	Migration   string        `json:"migration"`
	Schema      string        `json:"schema"`
	Table       string        `json:"table"`
	Key         []KeyColumn   `json:"key"`
	Set         string        `json:"set"`
	Mismatch    string        `json:"mismatch"`
	LockTimeout time.Duration `json:"lock_timeout"`
	// QuietTriggers runs each batch with session_replication_role = replica, so that
	// the table's own triggers (updated_at, audit) do not fire for backfilled rows.
	QuietTriggers bool `json:"quiet_triggers,omitempty"`
	// Database is the database the plan was made against; the activities refuse
	// another. Zero in targets recorded before it existed.
	Database Identity `json:"database,omitzero"`
}

// TargetOf extracts the backfill target of a plan.
func TargetOf(p *Plan) Target {
	return Target{Migration: p.Migration, Schema: p.Schema, Table: p.Table, Key: p.Key,
		Set: p.BackfillSet, Mismatch: p.Mismatch, LockTimeout: p.LockTimeout, QuietTriggers: p.QuietTriggers,
		Database: p.Database}
}

// Cursor is a key value as text, one element per key column. Nil is before the first row.
type Cursor []string

// Equal says whether two cursors point at the same key.
func (a Cursor) Equal(b Cursor) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// Throttle says when the backfill should hold: a replica lagging too far behind, or a
// query of the user's saying so.
type Throttle struct {
	MaxReplicationLag time.Duration `json:"max_replication_lag,omitempty"`
	Query             string        `json:"query,omitempty"`
}

// Enabled says whether any check is set.
func (t Throttle) Enabled() bool { return t.MaxReplicationLag > 0 || t.Query != "" }

// Status of a migration in zdm.migrations.
const (
	StatusRunning    = "running"
	StatusCompleted  = "completed"
	StatusRolledBack = "rolled_back"
	StatusFailed     = "failed"
)
