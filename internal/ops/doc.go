// Package ops holds zdm's operations, one type per file, each with its lifecycle cases in
// the test file beside it. An operation checks itself against the live table and says
// what it does in every phase (expand, backfill, validate, contract, rollback); the
// planner puts the operations of a migration together into one plan.
package ops
