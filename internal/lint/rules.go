package lint

import (
	"sort"
)

// Rule is one kind of finding.
type Rule struct {
	ID    string
	Level Level // by default
	// SizeBound rules hurt in proportion to the table: on a small existing table
	// (Config.SmallTable) their findings are only info.
	SizeBound bool
	Summary   string
}

// Rules is every rule, in the order zdm lint --rules lists them.
var Rules = []*Rule{
	{ID: "psql-meta-command", Level: Info, Summary: "a psql meta-command (\\set, \\connect...): the server never sees it; skipped"},
	{ID: "missing-lock-timeout", Level: Error, Summary: "a statement that locks an existing table with no SET lock_timeout before it: it queues behind any long transaction, and every query on the table queues behind it"},
	{ID: "alter-column-type-rewrite", Level: Error, SizeBound: true, Summary: "ALTER COLUMN TYPE that rewrites the table under ACCESS EXCLUSIVE"},
	{ID: "add-column-volatile-default", Level: Error, SizeBound: true, Summary: "ADD COLUMN with a volatile default (random(), gen_random_uuid(), clock_timestamp(), nextval(), serial, identity) rewrites the table"},
	{ID: "add-column-generated-stored", Level: Error, SizeBound: true, Summary: "ADD COLUMN ... GENERATED ALWAYS AS (...) STORED rewrites the table"},
	{ID: "set-not-null-scan", Level: Error, SizeBound: true, Summary: "SET NOT NULL reads the whole table under ACCESS EXCLUSIVE unless a validated CHECK (col IS NOT NULL) proves it"},
	{ID: "add-check-not-valid", Level: Error, SizeBound: true, Summary: "ADD CONSTRAINT CHECK without NOT VALID reads the whole table under ACCESS EXCLUSIVE"},
	{ID: "add-foreign-key-not-valid", Level: Error, SizeBound: true, Summary: "ADD FOREIGN KEY without NOT VALID reads the whole table, blocking writes on both tables"},
	{ID: "add-unique-without-index", Level: Error, SizeBound: true, Summary: "ADD UNIQUE / PRIMARY KEY without USING INDEX builds its index under ACCESS EXCLUSIVE"},
	{ID: "index-not-concurrently", Level: Error, SizeBound: true, Summary: "CREATE INDEX, DROP INDEX or REINDEX without CONCURRENTLY blocks the table's writes (DROP: reads too)"},
	{ID: "concurrently-in-transaction", Level: Error, Summary: "CONCURRENTLY inside BEGIN ... COMMIT: PostgreSQL refuses it"},
	{ID: "rename-column", Level: Error, Summary: "RENAME COLUMN breaks the code still running that uses the old name"},
	{ID: "rename-table", Level: Error, Summary: "RENAME TO breaks the code still running that uses the old name"},
	{ID: "drop-column", Level: Error, Summary: "DROP COLUMN breaks the code still running that reads or writes it"},
	{ID: "drop-table", Level: Error, Summary: "DROP TABLE breaks the code still running that uses it, and loses its data for good"},
	{ID: "vacuum-full", Level: Error, SizeBound: true, Summary: "VACUUM FULL rewrites the table under ACCESS EXCLUSIVE"},
	{ID: "cluster", Level: Error, SizeBound: true, Summary: "CLUSTER rewrites the table under ACCESS EXCLUSIVE"},
	{ID: "enum-value-in-transaction", Level: Error, Summary: "ALTER TYPE ... ADD VALUE inside a transaction: refused before PostgreSQL 12, and the value is unusable until COMMIT"},
	{ID: "several-exclusive-locks-in-transaction", Level: Error, Summary: "two or more tables locked ACCESS EXCLUSIVE in one transaction: every lock is held until COMMIT, and lock order may deadlock"},
	{ID: "unbounded-backfill", Level: Error, SizeBound: true, Summary: "an UPDATE or DELETE of the whole table in a file with DDL: one transaction holds every row's lock"},
	{ID: "not-idempotent", Level: Info, Summary: "CREATE/ADD without IF NOT EXISTS or DROP without IF EXISTS: a runner that retries, or a person running the file again after a partial failure, fails on what already ran"},
	{ID: "prefer-jsonb", Level: Warning, Summary: "json: no equality, no indexes; jsonb is what you want"},
	{ID: "prefer-bigint-primary-key", Level: Warning, Summary: "an int or serial primary key runs out at 2^31; changing it later rewrites the table and every referencing one"},
	{ID: "prefer-timestamptz", Level: Warning, Summary: "timestamp without time zone reads differently in every session time zone"},
	{ID: "prefer-text", Level: Warning, Summary: "varchar(n): widening is free but shrinking rewrites; text with a CHECK on length changes with NOT VALID"},
}

func ruleByID(id string) *Rule {
	for _, r := range Rules {
		if r.ID == id {
			return r
		}
	}
	return nil
}

// RuleIDs lists the rules' ids, sorted.
func RuleIDs() []string {
	var ids []string
	for _, r := range Rules {
		ids = append(ids, r.ID)
	}
	sort.Strings(ids)
	return ids
}
