package planner

import (
	"fmt"
	"strings"

	"github.com/zdmhq/zdm/internal/ops"
	"github.com/zdmhq/zdm/internal/schema"
	"github.com/zdmhq/zdm/internal/spec"
)

// Build plans migration m against the live table t (the migration's own table; nil when
// it names none, or the table does not exist and opts.Missing says so) and the other
// tables in opts. Problems with the file come back as spec.Errors, each naming the file,
// line, field and fix.
func Build(m *spec.Migration, t *schema.Table, opts Options) (*Plan, error) {
	p := &Plan{
		Migration:   m.Name,
		LockTimeout: m.LockTimeout.D(),
		Trigger:     TriggerName(m.Name),
		Function:    FunctionIdent(m.Name),
		RollbackTx:  true,
	}
	// Operations plan in file order against the schema as the earlier ones leave it.
	live := map[string]*schema.Table{}
	for name, o := range opts.Others {
		live[name] = o
	}
	if t != nil {
		live[t.String()] = t
	}
	shapes := ops.NewShapes(live)
	lookup := func(name string) *schema.Table { return shapes.Tables[name] }
	var errs spec.Errors
	var changes []*ops.Change
	var undos []*ops.Undo // with an undo window, one per change
	// The one table whose columns a backfill fills (and a sync trigger keeps in step).
	var synced *schema.Table
	var syncedField string
	tables, reported := map[string]bool{}, map[string]bool{}
	for i, op := range m.Operations {
		field := fmt.Sprintf("operations[%d].%s", i, op.Kind)
		o, ok := op.Op.(ops.Operation)
		if !ok {
			errs = append(errs, m.Errorf(fmt.Sprintf("operations[%d]", i), "use one of: "+strings.Join(spec.OpKinds(), ", "), "unknown operation %q", op.Kind))
			continue
		}
		name := m.TableOf(i)
		tbl := lookup(name)
		_, creates := o.(ops.Creator)
		if name != "" && tbl == nil && !creates {
			switch by := shapes.Gone[name]; {
			case by != "":
				errs = append(errs, m.Errorf(tableField(field, op), "change it in a later migration, or not at all", "table %s is dropped or renamed by %s of this migration", name, by))
			case !reported[name]:
				errs = append(errs, missingTable(m, field, op, name, opts.Missing[name]))
			}
			reported[name] = true
			continue
		}
		if tbl != nil && tbl.Kind != "" {
			errs = append(errs, m.Errorf(tableField(field, op), tbl.KindFix, "%s is %s: zdm cannot yet migrate it online", tbl, tbl.Kind))
			continue
		}
		env := &ops.Env{M: m, Field: field, Table: tbl, TableName: name, Lookup: lookup, Shapes: shapes,
			Catalog: opts.Catalog, Resuming: opts.Resuming}
		// What an earlier operation adds is not in the database yet: the plan's checks
		// may then need the expand rehearsed first.
		if shapes.Changed {
			p.ChecksAfterExpand = true
		}
		if opts.CatalogFor != nil {
			env.Catalog = opts.CatalogFor(tbl)
		}
		ch := o.Plan(env)
		errs = append(errs, env.Errs...)
		if ch == nil || len(env.Errs) > 0 {
			continue
		}
		if m.HasUndoWindow() {
			undos = append(undos, ops.PlanUndo(env, o, ch))
			if len(env.Errs) > 0 {
				errs = append(errs, env.Errs...)
				continue
			}
		}
		if sh, ok := o.(ops.Shaper); ok {
			sh.Shape(env, ch, shapes)
			if len(env.Errs) > 0 {
				errs = append(errs, env.Errs...)
				continue
			}
		}
		changes = append(changes, ch)
		p.Changes = append(p.Changes, Change{Field: env.Field, Kind: op.Kind, Table: name, Summary: ch.Summary, Carried: ch.Carried, Notes: ch.Notes, Raw: ch.Raw})
		for _, n := range append([]string{name}, ch.Touches...) {
			if n != "" && !tables[n] {
				tables[n] = true
				p.Tables = append(p.Tables, n)
			}
		}
		if ch.Sync == nil {
			continue
		}
		if synced != nil && synced != tbl {
			errs = append(errs, m.Errorf(field, "split the migration in two: one for "+synced.String()+", one for "+tbl.String(),
				"%s fills columns of %s, and %s fills columns of %s: a migration backfills one table", field, tbl, syncedField, synced))
			continue
		}
		synced, syncedField = tbl, field
		p.Ops = append(p.Ops, *ch.Sync)
	}
	// The plan's table is the one it backfills, else the migration's own, else the
	// first it touches.
	main := synced
	if main == nil && t != nil {
		main = t
	}
	if main == nil && len(p.Tables) > 0 {
		main = lookup(p.Tables[0])
	}
	if main != nil {
		p.Schema, p.Table, p.KeySource, p.EstimatedRows = main.Schema, main.Name, main.KeySource, main.EstimatedRows
	} else if len(p.Tables) > 0 {
		p.Schema, p.Table = spec.SplitTable(p.Tables[0])
	}
	p.NoBackfill = len(p.Ops) == 0 && len(errs) == 0
	if synced != nil {
		errs = append(errs, backfillable(m, synced, syncedField, opts)...)
		if quiet := userUpdateTriggers(synced); len(quiet) > 0 {
			p.QuietTriggers = true
		}
		for _, k := range synced.Key {
			p.Key = append(p.Key, KeyColumn{Name: k, Type: synced.Column(k).Type})
		}
	}
	if err := errs.Err(); err != nil {
		return nil, err
	}
	planned{p}.render(synced, changes)
	if m.HasUndoWindow() {
		planned{p}.renderUndo(synced, changes, undos, p.Changes)
		p.Undo.Window = m.UndoWindow.D()
	}
	return p, nil
}

// missingTable reports an operation whose table does not exist.
func missingTable(m *spec.Migration, field string, op spec.Operation, name string, nt *schema.NoTableError) *spec.FieldError {
	fix := "check the schema and table name"
	if nt != nil && len(nt.Similar) > 0 {
		fix = "use " + nt.Similar[0]
	}
	if nt == nil {
		sch, n := spec.SplitTable(name)
		nt = &schema.NoTableError{Schema: sch, Name: n}
	}
	return m.Errorf(tableField(field, op), fix, "%s", nt)
}

// tableField is the field that named an operation's table: its own table key, else the
// migration's.
func tableField(field string, op spec.Operation) string {
	if op.Table != "" {
		return field + ".table"
	}
	return "table"
}

// backfillable refuses a table the backfill cannot page, or would page wrongly.
func backfillable(m *spec.Migration, t *schema.Table, field string, opts Options) spec.Errors {
	var errs spec.Errors
	at := "table"
	if t.String() != m.Table {
		at = field
	}
	if len(t.Key) == 0 {
		errs = append(errs, m.Errorf(at,
			"add a primary key (CREATE UNIQUE INDEX CONCURRENTLY, then ALTER TABLE ... ADD PRIMARY KEY USING INDEX) or a unique index over NOT NULL columns",
			"table %s has no primary key or unique NOT NULL column: zdm cannot page it", t))
	}
	if len(t.Publications) > 0 {
		errs = append(errs, m.Errorf(at,
			"add the new columns on the subscribers first and run the migration without the table in the publication, or change it by hand in a maintenance window",
			"%s is published for logical replication (%s): subscribers would receive columns they do not have", t, strings.Join(t.Publications, ", ")))
	}
	if len(t.NotValidChecks) > 0 {
		errs = append(errs, m.Errorf(at,
			"ALTER TABLE ... VALIDATE CONSTRAINT it first (it reads the table without blocking writes), fixing the rows it names",
			"%s has CHECK constraint(s) %s added NOT VALID and never validated: rows that break them would fail the backfill's update", t, strings.Join(t.NotValidChecks, ", ")))
	}
	if opts.RowSecurity[t.String()] {
		errs = append(errs, m.Errorf(at,
			"run the worker as the table's owner (without FORCE ROW LEVEL SECURITY), or as a role with BYPASSRLS",
			"row-level security policies on %s hide rows from zdm's role: the backfill would leave them unfilled", t))
	}
	errs = append(errs, triggerOrder(m, t, at, TriggerName(m.Name))...)
	if quiet := userUpdateTriggers(t); len(quiet) > 0 && !opts.CanQuietTriggers {
		errs = append(errs, m.Errorf(at,
			"let zdm's role keep them quiet during the backfill (as a superuser: GRANT SET ON PARAMETER session_replication_role TO <zdm's role>), or drop them for the migration",
			"table %s has trigger(s) %s, which would fire once per backfilled row (touching updated_at columns, filling audit tables)", t, strings.Join(quiet, ", ")))
	}
	return errs
}

// triggerOrder refuses a table with a BEFORE row trigger that would fire after zdm's
// (triggers fire in name order): it could change a column after the sync.
func triggerOrder(m *spec.Migration, t *schema.Table, at, ours string) spec.Errors {
	var errs spec.Errors
	for _, tr := range t.Triggers {
		if tr.Before && tr.Row && tr.Name > ours && !strings.HasPrefix(tr.Name, "zz_zdm_sync_") {
			errs = append(errs, m.Errorf(at, "rename the trigger so that its name sorts before "+ours,
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
