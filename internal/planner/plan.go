// Package planner turns a migration file and the live table it names into a Plan: every
// statement zdm will run, phase by phase, with the lock it takes. Each operation (package
// ops) says what it does; the planner adds what they share (the sync trigger, the NOT
// NULL checks, the copies of indexes) and orders it all. Planning runs no SQL, so a dry
// run is free and the workflow can carry the plan in its history.
package planner

import (
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/zdmhq/zdm/internal/ops"
	"github.com/zdmhq/zdm/internal/plan"
)

// Shared value types, kept under their old names.
type (
	Statement    = plan.Statement
	Check        = plan.Check
	KeyColumn    = plan.KeyColumn
	Op           = plan.Op
	CarriedIndex = plan.CarriedIndex
	Identity     = plan.Identity
)

// Lock descriptions.
const (
	LockBriefExclusive = plan.LockBriefExclusive
	LockShareRowExcl   = plan.LockShareRowExcl
	LockShareUpdExcl   = plan.LockShareUpdExcl
	LockNone           = plan.LockNone
)

// Plan is everything the workflow and its activities need to run one migration.
type Plan struct {
	Migration     string        `json:"migration"`
	Schema        string        `json:"schema"`
	Table         string        `json:"table"`
	Key           []KeyColumn   `json:"key"`
	KeySource     string        `json:"key_source"`
	Ops           []Op          `json:"ops"`
	LockTimeout   time.Duration `json:"lock_timeout"`
	EstimatedRows int64         `json:"estimated_rows"`

	Trigger  string `json:"trigger"`
	Function string `json:"function"` // quoted, schema-qualified

	// Changes describe each operation for a person: what it does, what it carries to
	// the final columns, what to know.
	Changes []Change `json:"changes,omitempty"`
	// NoBackfill is set when no operation fills a column: the workflow skips the
	// backfill and its verification.
	NoBackfill bool `json:"no_backfill,omitempty"`
	// Backfill runs with session_replication_role = replica so that the table's own
	// triggers do not fire once per backfilled row.
	QuietTriggers bool `json:"quiet_triggers,omitempty"`

	// Expand runs first, statement by statement.
	Expand []Statement `json:"expand"`
	// BackfillSet is the SET list of the backfill UPDATE; Mismatch is true for a row whose
	// new columns differ from what the old ones say they should be.
	BackfillSet string `json:"backfill_set"`
	Mismatch    string `json:"mismatch"`
	// Validate checks the NOT VALID constraints once the backfill is done, and builds the
	// copies of indexes on replaced columns.
	Validate []Statement `json:"validate"`
	// Contract runs in one transaction after the last gate.
	Contract []Statement `json:"contract"`
	// Rollback undoes Expand; each statement is idempotent. With RollbackTx set it runs
	// in one transaction (statements marked Concurrent after it, each alone), so that
	// no application write meets a half-undone table.
	Rollback   []Statement `json:"rollback"`
	RollbackTx bool        `json:"rollback_tx,omitempty"`
	// Checks are EXPLAIN statements that prove the expressions and types are valid
	// against the live table without running them.
	Checks []Check `json:"checks"`
	// Database is the database the plan was made against (Prepare records it); every
	// activity refuses to act on another. Zero in plans recorded before it existed.
	Database Identity `json:"database,omitzero"`
}

// Change is one operation as zdm plan shows it.
type Change struct {
	Field   string   `json:"field"`
	Kind    string   `json:"kind"`
	Summary string   `json:"summary"`
	Carried []string `json:"carried,omitempty"`
	Notes   []string `json:"notes,omitempty"`
}

// Options change how Build treats the live table.
type Options struct {
	// Resuming is set when this migration already ran its expand before (a retried or
	// restarted run): the columns it adds may then already exist.
	Resuming bool
	// Catalog answers the operations' questions about types and functions; nil in
	// tests without a database.
	Catalog ops.Catalog
	// CanQuietTriggers says whether the role may set session_replication_role.
	CanQuietTriggers bool
	// RowSecurityActive is set when row-level security policies filter what zdm's role
	// sees of the table: the backfill would miss the rows they hide.
	RowSecurityActive bool
}

// Ident quotes one identifier.
func Ident(s string) string { return pgx.Identifier{s}.Sanitize() }

// Literal renders s as a SQL string literal.
func Literal(s string) string { return ops.Literal(s) }

// TableIdent is the plan's quoted, schema-qualified table.
func (p *Plan) TableIdent() string { return pgx.Identifier{p.Schema, p.Table}.Sanitize() }

// TableName is schema.table as a person writes it.
func (p *Plan) TableName() string { return p.Schema + "." + p.Table }

// KeyNames lists the key columns.
func (p *Plan) KeyNames() []string {
	out := make([]string, len(p.Key))
	for i, k := range p.Key {
		out[i] = k.Name
	}
	return out
}

// FlagsFinalReadNew says where the application reads once the migration is contracted:
// on the new columns for rename_column and add_column, on the original name (which then
// holds the new type) for change_type.
func (p *Plan) FlagsFinalReadNew() bool {
	for _, op := range p.Ops {
		if op.Kind == "change_type" || op.InPlace {
			return false
		}
	}
	return true
}

// ShadowName is the column change_type fills beside col.
func ShadowName(col string) string { return ops.ShadowName(col) }

// TriggerName is the sync trigger of migration name. BEFORE row triggers fire in name
// order; the zz prefix makes ours fire last, so it syncs what other triggers wrote.
func TriggerName(name string) string { return "zz_zdm_sync_" + name }

// FunctionIdent is the sync function of migration name.
func FunctionIdent(name string) string { return pgx.Identifier{"zdm", "sync_" + name}.Sanitize() }

func pgxIdent(schema, name string) string { return pgx.Identifier{schema, name}.Sanitize() }
