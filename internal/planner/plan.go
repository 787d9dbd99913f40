// Package planner turns a migration file and the live table it names into a Plan: every
// statement zdm will run, phase by phase, with the lock it takes. Planning runs no SQL, so
// a dry run is free and the workflow can carry the plan in its history.
package planner

import (
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
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
	// Rollback undoes Expand; each statement is idempotent.
	Rollback []Statement `json:"rollback"`
	// Checks are EXPLAIN statements that prove the expressions and types are valid
	// against the live table without running them.
	Checks []Check `json:"checks"`
}

// KeyColumn is one column of the key the backfill pages by.
type KeyColumn struct {
	Name string `json:"name"`
	Type string `json:"type"`
}

// Op is one planned operation.
type Op struct {
	Kind      string `json:"kind"`
	Field     string `json:"field"` // operations[i].kind, for error messages
	Old       string `json:"old"`   // column old code uses ("" for add_column)
	New       string `json:"new"`   // column the backfill fills
	Final     string `json:"final"` // name the new data has after contract
	OldType   string `json:"old_type"`
	NewType   string `json:"new_type"`
	Up        string `json:"up"`   // SQL over the old row giving New
	Down      string `json:"down"` // SQL over the new row giving Old ("" for add_column)
	NotNull   bool   `json:"not_null"`
	Default   string `json:"default,omitempty"` // carried to the final column at contract
	CheckName string `json:"check_name,omitempty"`
	// Indexes on Old, built again on New.
	Indexes []CarriedIndex `json:"indexes,omitempty"`
}

// Statement is one SQL statement with what it costs the application.
type Statement struct {
	ID   string `json:"id"`
	SQL  string `json:"sql"`
	Lock string `json:"lock"`
	// Rewrites is true when the statement rewrites every row while holding Lock.
	Rewrites bool `json:"rewrites,omitempty"`
	// Scans is true when the statement reads every row while holding Lock.
	Scans bool `json:"scans,omitempty"`
	// Concurrent statements run outside a transaction (CREATE INDEX CONCURRENTLY); Index
	// is the quoted, qualified index they build, so an invalid leftover of a failed try
	// is dropped first.
	Concurrent bool   `json:"concurrent,omitempty"`
	Index      string `json:"index,omitempty"`
	Note       string `json:"note,omitempty"`
}

// Check is an EXPLAIN that must succeed.
type Check struct {
	Field string `json:"field"`
	// Group names the operation; after one failure the rest of its group is skipped.
	Group string `json:"group"`
	SQL   string `json:"sql"`
}

// Lock descriptions.
const (
	LockBriefExclusive = "ACCESS EXCLUSIVE, brief (catalog only)"
	LockShareRowExcl   = "SHARE ROW EXCLUSIVE, brief (blocks writes while held)"
	LockShareUpdExcl   = "SHARE UPDATE EXCLUSIVE (reads and writes go on)"
	LockNone           = "none"
)

// Options change how Build treats the live table.
type Options struct {
	// Resuming is set when this migration already ran its expand before (a retried or
	// restarted run): the columns it adds may then already exist.
	Resuming bool
}

// Ident quotes one identifier.
func Ident(s string) string { return pgx.Identifier{s}.Sanitize() }

// Literal renders s as a SQL string literal.
func Literal(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

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
		if op.Kind == "change_type" {
			return false
		}
	}
	return true
}

// ShadowName is the column change_type fills beside col.
func ShadowName(col string) string { return "_zdm_" + col }

// TriggerName is the sync trigger of migration name. BEFORE row triggers fire in name
// order; the zz prefix makes ours fire last, so it syncs what other triggers wrote.
func TriggerName(name string) string { return "zz_zdm_sync_" + name }

// FunctionIdent is the sync function of migration name.
func FunctionIdent(name string) string { return pgx.Identifier{"zdm", "sync_" + name}.Sanitize() }
