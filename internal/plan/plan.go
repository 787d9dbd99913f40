// Package plan holds the plain values a migration plan is made of: statements with the
// locks they take, the columns the backfill fills, the key it pages by. It imports no
// database driver, so the workflow, the operations and the planner can all share it.
package plan

import (
	"strconv"
	"time"
)

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
	// Fix is what the person should do when the check fails ("" for the usual advice on
	// expressions); Says, when set, comes before the server's message.
	Fix  string `json:"fix,omitempty"`
	Says string `json:"says,omitempty"`
}

// KeyColumn is one column of the key the backfill pages by.
type KeyColumn struct {
	Name string `json:"name"`
	Type string `json:"type"`
}

// Op is the part of an operation the sync trigger and the backfill serve: a column New
// kept in step with Old (in both directions when Down is set) and filled for existing
// rows. Operations that need no backfill have none.
type Op struct {
	Kind    string `json:"kind"`
	Field   string `json:"field"` // operations[i].kind, for error messages
	Old     string `json:"old"`   // column old code uses ("" for add_column)
	New     string `json:"new"`   // column the backfill fills
	Final   string `json:"final"` // name the new data has after contract
	OldType string `json:"old_type"`
	NewType string `json:"new_type"`
	Up      string `json:"up"`   // SQL over the old row giving New
	Down    string `json:"down"` // SQL over the new row giving Old ("" for add_column)
	NotNull bool   `json:"not_null"`
	// Default is carried to the final column at contract.
	Default   string `json:"default,omitempty"`
	CheckName string `json:"check_name,omitempty"`
	// Indexes on Old, built again on New.
	Indexes []CarriedIndex `json:"indexes,omitempty"`

	// Fill is the value used where Up is NULL (add_column's default); "" for none.
	Fill string `json:"fill,omitempty"`
	// KeepWritten: a value the application wrote into New is never recomputed by the
	// trigger or overwritten by the backfill (add_column); New follows Up only while it
	// still holds what Up gave.
	KeepWritten bool `json:"keep_written,omitempty"`
	// Recomputable is false when Up cannot be computed again later with the same result
	// (volatile or stable functions, subqueries): verify then checks only that no row
	// was missed.
	NotRecomputable bool `json:"not_recomputable,omitempty"`
	// NewComparable / OldComparable are false for types without an equality operator
	// (json, xml, point): they are compared as text.
	NewIncomparable bool `json:"new_incomparable,omitempty"`
	OldIncomparable bool `json:"old_incomparable,omitempty"`
	// OldDefault is the old column's default when it can be evaluated again in the
	// trigger: an insert that left the old column to its default while setting the new
	// one is new code's.
	OldDefault string `json:"old_default,omitempty"`
	// OldDefaultVolatile: the old column's default cannot be evaluated again (a random
	// or sequence value): an insert that sets the new column is new code's, whatever
	// the old one holds.
	OldDefaultVolatile bool `json:"old_default_volatile,omitempty"`
	// InPlace is true when the new data lands under the old name at contract
	// (change_type): applications then read the original name again.
	InPlace bool `json:"in_place,omitempty"`
}

// CarriedIndex is an index on a column an operation replaces, built again on the new
// column (CONCURRENTLY, after the backfill) and given the old name at contract.
type CarriedIndex struct {
	Name       string `json:"name"`     // the index today
	Building   string `json:"building"` // the copy's name until contract
	Create     string `json:"create"`
	Constraint string `json:"constraint,omitempty"` // UNIQUE constraint to restore on it
	// Deferrable carries the constraint's DEFERRABLE [INITIALLY DEFERRED] clause.
	Deferrable string `json:"deferrable,omitempty"`
}

// Lock descriptions.
const (
	LockBriefExclusive = "ACCESS EXCLUSIVE, brief (catalog only)"
	LockShareRowExcl   = "SHARE ROW EXCLUSIVE, brief (blocks writes while held)"
	LockShareUpdExcl   = "SHARE UPDATE EXCLUSIVE (reads and writes go on)"
	LockNone           = "none"
)

// Identity names the database a migration belongs to: the cluster's system identifier
// and the database's name. It holds no host, user or password, so it may travel in
// workflow inputs and history. SystemID is "" where the role could not read it (see
// pgexec.DatabaseIdentity); the zero Identity is what plans and inputs recorded before
// zdm recorded identities carry, and names no database.
type Identity struct {
	SystemID string `json:"system_id,omitempty"`
	Database string `json:"database,omitempty"`
}

// IsZero is true for an identity never recorded: there is nothing to compare it with.
func (i Identity) IsZero() bool { return i == Identity{} }

// Same says whether i and o name the same database. A system identifier that one side
// could not read is not compared: the database names alone decide then.
func (i Identity) Same(o Identity) bool {
	if i.Database != o.Database {
		return false
	}
	return i.SystemID == "" || o.SystemID == "" || i.SystemID == o.SystemID
}

// String is how messages name the database: database "app" on cluster 7642011472967116994.
func (i Identity) String() string {
	if i.SystemID == "" {
		return "database " + strconv.Quote(i.Database) + " (cluster unknown)"
	}
	return "database " + strconv.Quote(i.Database) + " on cluster " + i.SystemID
}

// Plan is everything the workflow and its activities need to run one migration.
type Plan struct {
	Migration string `json:"migration"`
	Schema    string `json:"schema"`
	Table     string `json:"table"`
	// Tables lists (as schema.name) every table the migration changes or locks; the
	// workflow claims them all. Schema and Table name the one it backfills (else the
	// first it touches).
	Tables        []string      `json:"tables,omitempty"`
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
	// against the live table without running them. With ChecksAfterExpand (an operation
	// builds on what an earlier one adds), a check that fails on the live schema is
	// tried again on the schema as expand leaves it, rehearsed in a transaction that
	// is rolled back.
	Checks            []Check `json:"checks"`
	ChecksAfterExpand bool    `json:"checks_after_expand,omitempty"`
	// Database is the database the plan was made against (Prepare records it); every
	// activity refuses to act on another. Zero in plans recorded before it existed.
	Database Identity `json:"database,omitzero"`
	// Undo is set when the migration has an undo_window (see undo.go).
	Undo *Undo `json:"undo,omitempty"`
}

// Change is one operation as zdm plan shows it.
type Change struct {
	Field string `json:"field"`
	Kind  string `json:"kind"`
	// Table is the table it acts on (schema.name); "" for none.
	Table   string   `json:"table,omitempty"`
	Summary string   `json:"summary"`
	Carried []string `json:"carried,omitempty"`
	Notes   []string `json:"notes,omitempty"`
	// Raw marks SQL a person wrote (the sql operation), which zdm runs as written.
	Raw bool `json:"raw,omitempty"`
}

// TableName is schema.table as a person writes it.
func (p *Plan) TableName() string {
	if p.Table == "" {
		return ""
	}
	return p.Schema + "." + p.Table
}

// Claims lists what a migration claims while it runs, the table it backfills first:
// every table it touches, or for a migration on no table (an enum type, raw SQL) a
// name of its own, which no table can have.
func (p *Plan) Claims() []string {
	if p.Table == "" {
		return []string{"zdm:" + p.Migration}
	}
	out := []string{p.TableName()}
	for _, t := range p.Tables {
		if t != out[0] {
			out = append(out, t)
		}
	}
	return out
}

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
