// Package planner turns a migration file and the live table it names into a Plan: every
// statement zdm will run, phase by phase, with the lock it takes. Each operation (package
// ops) says what it does; the planner adds what they share (the sync trigger, the NOT
// NULL checks, the copies of indexes) and orders it all. Planning runs no SQL, so a dry
// run is free and the workflow can carry the plan in its history.
package planner

import (
	"github.com/jackc/pgx/v5"

	"github.com/zdmhq/zdm/internal/ops"
	"github.com/zdmhq/zdm/internal/plan"
	"github.com/zdmhq/zdm/internal/schema"
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

// Plan is the plain plan (package plan); Change one operation as zdm plan shows it.
type (
	Plan   = plan.Plan
	Change = plan.Change
)

// Options change how Build treats the live table.
type Options struct {
	// Resuming is set when this migration already ran its expand before (a retried or
	// restarted run): the columns it adds may then already exist.
	Resuming bool
	// Catalog answers the operations' questions about types and functions; nil in
	// tests without a database. CatalogFor, when set, gives one per table instead (its
	// answers about expressions are over that table's row).
	Catalog    ops.Catalog
	CatalogFor func(*schema.Table) ops.Catalog
	// Others are the live tables the migration names besides its own table (operations'
	// own tables, tables they reference); Missing those it names that do not exist.
	Others  map[string]*schema.Table
	Missing map[string]*schema.NoTableError
	// CanQuietTriggers says whether the role may set session_replication_role.
	CanQuietTriggers bool
	// RowSecurity lists (as schema.name) the tables whose rows row-level security
	// policies filter for zdm's role: a backfill would miss the rows they hide.
	RowSecurity map[string]bool
}

// Ident quotes one identifier.
func Ident(s string) string { return pgx.Identifier{s}.Sanitize() }

// Literal renders s as a SQL string literal.
func Literal(s string) string { return ops.Literal(s) }

// TableIdent is the plan's quoted, schema-qualified table.
func TableIdent(p *Plan) string { return pgx.Identifier{p.Schema, p.Table}.Sanitize() }

// ShadowName is the column change_type fills beside col.
func ShadowName(col string) string { return ops.ShadowName(col) }

// TriggerName is the sync trigger of migration name. BEFORE row triggers fire in name
// order; the zz prefix makes ours fire last, so it syncs what other triggers wrote.
func TriggerName(name string) string { return "zz_zdm_sync_" + name }

// FunctionIdent is the sync function of migration name.
func FunctionIdent(name string) string { return pgx.Identifier{"zdm", "sync_" + name}.Sanitize() }

func pgxIdent(schema, name string) string { return pgx.Identifier{schema, name}.Sanitize() }
