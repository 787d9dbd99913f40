package planner

import (
	"fmt"
	"strings"

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
	}
	var errs spec.Errors
	if len(t.Key) == 0 {
		errs = append(errs, m.Errorf("table",
			"add a primary key (CREATE UNIQUE INDEX CONCURRENTLY, then ALTER TABLE ... ADD PRIMARY KEY USING INDEX) or a unique index over NOT NULL columns",
			"table %s has no primary key or unique NOT NULL column: zdm cannot page it", t))
	}
	for _, k := range t.Key {
		p.Key = append(p.Key, KeyColumn{Name: k, Type: t.Column(k).Type})
	}
	for i, op := range m.Operations {
		planned, opErrs := planOp(m, t, i, op, opts)
		errs = append(errs, opErrs...)
		if planned != nil {
			p.Ops = append(p.Ops, *planned)
		}
	}
	if err := errs.Err(); err != nil {
		return nil, err
	}
	p.render(t)
	return p, nil
}

func planOp(m *spec.Migration, t *schema.Table, i int, op spec.Operation, opts Options) (*Op, spec.Errors) {
	field := fmt.Sprintf("operations[%d].%s", i, op.Kind())
	var errs spec.Errors
	fail := func(sub, fix, format string, args ...any) {
		errs = append(errs, m.Errorf(field+sub, fix, format, args...))
	}
	// existing checks that a column the operation reads is there and can be moved.
	existing := func(sub, name string) *schema.Column {
		c := t.Column(name)
		if c == nil {
			fail(sub, "use one of: "+strings.Join(visibleColumns(t), ", "), "column %q does not exist in %s", name, t)
			return nil
		}
		for _, k := range t.Key {
			if k == name {
				fail(sub, "zdm pages the table by this column; change key columns with a dedicated tool", "column %q is part of the key of %s (%s)", name, t, t.KeySource)
				return c
			}
		}
		if c.Generated || c.Identity {
			fail(sub, "change generated and identity columns by hand", "column %q is a generated or identity column", name)
		}
		if len(c.Views) > 0 {
			fail(sub, "drop or change the views first, or leave this column alone", "column %q is used by view(s) %s, which would block dropping it at contract", name, strings.Join(c.Views, ", "))
		}
		for _, fk := range t.ForeignKeys {
			for _, fc := range fk.Columns {
				if fc == name {
					fail(sub, "drop the foreign key first and add it back NOT VALID after the migration", "column %q is used by foreign key %s on %s", name, fk.Name, fk.Table)
				}
			}
		}
		for _, ix := range t.IndexesOn(name) {
			if why := carryable(ix); why != "" {
				fail(sub, "drop the index (DROP INDEX CONCURRENTLY) and create it on the new column after the migration",
					"column %q is used by index %s, which zdm cannot carry over: %s", name, ix.Name, why)
			}
		}
		return c
	}
	// fresh checks that a column the operation adds is not there yet (unless this run
	// added it).
	fresh := func(sub, name string) {
		if t.Column(name) != nil && !opts.Resuming {
			fail(sub, "choose another name, or drop the existing column", "column %q already exists in %s", name, t)
		}
	}
	expr := func(sub, v string) {
		// Expressions and types are pasted into SQL; one statement each, always.
		if strings.Contains(v, ";") || strings.Contains(v, "$zdm$") {
			fail(sub, "write a single SQL expression", "must be one SQL expression without ';'")
		}
	}

	switch {
	case op.ChangeType != nil:
		ct := op.ChangeType
		c := existing(".column", ct.Column)
		shadow := ShadowName(ct.Column)
		fresh(".column", shadow)
		expr(".type", ct.Type)
		expr(".up", ct.Up)
		expr(".down", ct.Down)
		if c == nil {
			return nil, errs
		}
		if strings.EqualFold(strings.TrimSpace(ct.Type), c.Type) {
			fail(".type", "nothing to do: remove this operation", "column %q is already of type %s", ct.Column, c.Type)
		}
		up, down := ct.Up, ct.Down
		if strings.TrimSpace(up) == "" {
			up = Ident(ct.Column)
		}
		if strings.TrimSpace(down) == "" {
			down = Ident(ct.Column)
		}
		planned := &Op{Kind: op.Kind(), Field: field, Old: ct.Column, New: shadow, Final: ct.Column,
			OldType: c.Type, NewType: strings.TrimSpace(ct.Type), Up: up, Down: down,
			NotNull: c.NotNull, Default: c.Default, CheckName: checkName(ct.Column, c.NotNull)}
		return planned, append(errs, carry(m, t, planned)...)
	case op.RenameColumn != nil:
		rc := op.RenameColumn
		c := existing(".column", rc.Column)
		fresh(".to", rc.To)
		if c == nil {
			return nil, errs
		}
		planned := &Op{Kind: op.Kind(), Field: field, Old: rc.Column, New: rc.To, Final: rc.To,
			OldType: c.Type, NewType: c.Type, Up: Ident(rc.Column), Down: Ident(rc.To),
			NotNull: c.NotNull, Default: c.Default, CheckName: checkName(rc.To, c.NotNull)}
		return planned, append(errs, carry(m, t, planned)...)
	default:
		ac := op.AddColumn
		fresh(".column", ac.Column)
		expr(".type", ac.Type)
		expr(".backfill", ac.Backfill)
		return &Op{Kind: op.Kind(), Field: field, New: ac.Column, Final: ac.Column,
			NewType: strings.TrimSpace(ac.Type), Up: ac.Backfill,
			NotNull: ac.NotNull, CheckName: checkName(ac.Column, ac.NotNull)}, errs
	}
}

func checkName(col string, notNull bool) string {
	if !notNull {
		return ""
	}
	return "_zdm_nn_" + col
}

func visibleColumns(t *schema.Table) []string {
	var out []string
	for _, c := range t.Columns {
		if !strings.HasPrefix(c.Name, "_zdm_") {
			out = append(out, c.Name)
		}
	}
	return out
}

// carry plans the copies of the indexes on the column op replaces.
func carry(m *spec.Migration, t *schema.Table, op *Op) spec.Errors {
	var errs spec.Errors
	for _, ix := range t.IndexesOn(op.Old) {
		if carryable(ix) != "" {
			continue // reported by existing
		}
		c, err := carryIndex(ix, t.Ident(), op.Old, op.New)
		if err != nil {
			errs = append(errs, m.Errorf(op.Field+".column", "drop the index and create it again after the migration", "%s", err))
			continue
		}
		op.Indexes = append(op.Indexes, c)
	}
	return errs
}
