package planner

import (
	"fmt"
	"strings"

	"github.com/zdmhq/zdm/internal/ops"
	"github.com/zdmhq/zdm/internal/schema"
	"github.com/zdmhq/zdm/internal/spec"
)

// Build plans migration m against the live table t. Problems with the file come back as
// spec.Errors, each naming the file, line, field and fix.
func Build(m *spec.Migration, t *schema.Table, opts Options) (*Plan, error) {
	p := &Plan{
		Migration:     m.Name,
		Schema:        t.Schema,
		Table:         t.Name,
		KeySource:     t.KeySource,
		LockTimeout:   m.LockTimeout.D(),
		EstimatedRows: t.EstimatedRows,
		Trigger:       TriggerName(m.Name),
		Function:      FunctionIdent(m.Name),
		RollbackTx:    true,
	}
	var errs spec.Errors
	if t.Kind != "" {
		errs = append(errs, m.Errorf("table", t.KindFix, "%s is %s: zdm cannot yet migrate it online", t, t.Kind))
	}
	var changes []*ops.Change
	for i, op := range m.Operations {
		o, ok := op.Op.(ops.Operation)
		if !ok {
			errs = append(errs, m.Errorf(fmt.Sprintf("operations[%d]", i), "use one of: "+strings.Join(spec.OpKinds(), ", "), "unknown operation %q", op.Kind))
			continue
		}
		env := &ops.Env{M: m, Field: fmt.Sprintf("operations[%d].%s", i, op.Kind), Table: t, Catalog: opts.Catalog, Resuming: opts.Resuming}
		ch := o.Plan(env)
		errs = append(errs, env.Errs...)
		if ch == nil || len(env.Errs) > 0 {
			continue
		}
		changes = append(changes, ch)
		p.Changes = append(p.Changes, Change{Field: env.Field, Kind: op.Kind, Summary: ch.Summary, Carried: ch.Carried, Notes: ch.Notes})
		if ch.Sync != nil {
			p.Ops = append(p.Ops, *ch.Sync)
		}
	}
	p.NoBackfill = len(p.Ops) == 0 && len(errs) == 0
	if len(p.Ops) > 0 || (len(changes) == 0 && len(errs) == 0) {
		if len(t.Key) == 0 {
			errs = append(errs, m.Errorf("table",
				"add a primary key (CREATE UNIQUE INDEX CONCURRENTLY, then ALTER TABLE ... ADD PRIMARY KEY USING INDEX) or a unique index over NOT NULL columns",
				"table %s has no primary key or unique NOT NULL column: zdm cannot page it", t))
		}
		if len(t.Publications) > 0 {
			errs = append(errs, m.Errorf("table",
				"add the new columns on the subscribers first and run the migration without the table in the publication, or change it by hand in a maintenance window",
				"%s is published for logical replication (%s): subscribers would receive columns they do not have", t, strings.Join(t.Publications, ", ")))
		}
		if len(t.NotValidChecks) > 0 {
			errs = append(errs, m.Errorf("table",
				"ALTER TABLE ... VALIDATE CONSTRAINT it first (it reads the table without blocking writes), fixing the rows it names",
				"%s has CHECK constraint(s) %s added NOT VALID and never validated: rows that break them would fail the backfill's update", t, strings.Join(t.NotValidChecks, ", ")))
		}
		if opts.RowSecurityActive {
			errs = append(errs, m.Errorf("table",
				"run the worker as the table's owner (without FORCE ROW LEVEL SECURITY), or as a role with BYPASSRLS",
				"row-level security policies on %s hide rows from zdm's role: the backfill would leave them unfilled", t))
		}
		errs = append(errs, triggerOrder(m, t, TriggerName(m.Name))...)
		if quiet := userUpdateTriggers(t); len(quiet) > 0 {
			if !opts.CanQuietTriggers {
				errs = append(errs, m.Errorf("table",
					"let zdm's role keep them quiet during the backfill (as a superuser: GRANT SET ON PARAMETER session_replication_role TO <zdm's role>), or drop them for the migration",
					"table %s has trigger(s) %s, which would fire once per backfilled row (touching updated_at columns, filling audit tables)", t, strings.Join(quiet, ", ")))
			}
			p.QuietTriggers = true
		}
	}
	for _, k := range t.Key {
		p.Key = append(p.Key, KeyColumn{Name: k, Type: t.Column(k).Type})
	}
	if err := errs.Err(); err != nil {
		return nil, err
	}
	planned{p}.render(t, changes)
	return p, nil
}

// triggerOrder refuses a table with a BEFORE row trigger that would fire after zdm's
// (triggers fire in name order): it could change a column after the sync.
func triggerOrder(m *spec.Migration, t *schema.Table, ours string) spec.Errors {
	var errs spec.Errors
	for _, tr := range t.Triggers {
		if tr.Before && tr.Row && tr.Name > ours && !strings.HasPrefix(tr.Name, "zz_zdm_sync_") {
			errs = append(errs, m.Errorf("table", "rename the trigger so that its name sorts before "+ours,
				"trigger %s on %s fires after zdm's sync trigger %s and could leave old and new columns out of step", tr.Name, t, ours))
		}
	}
	return errs
}

// userUpdateTriggers lists the table's own row triggers that an UPDATE fires.
func userUpdateTriggers(t *schema.Table) []string {
	var out []string
	for _, tr := range t.Triggers {
		if tr.Row && tr.OnUpdate && tr.Enabled && !strings.HasPrefix(tr.Name, "zz_zdm_sync_") {
			out = append(out, tr.Name)
		}
	}
	return out
}
