package planner

import (
	"fmt"
	"strings"

	"github.com/zdmhq/zdm/internal/schema"
)

// render writes the SQL of every phase.
func (p *Plan) render(t *schema.Table) {
	tbl := p.TableIdent()
	lit := Literal(tbl)

	// Expand: columns, NOT VALID checks, sync function and trigger.
	var adds []string
	for _, op := range p.Ops {
		adds = append(adds, fmt.Sprintf("ADD COLUMN IF NOT EXISTS %s %s", Ident(op.New), op.NewType))
	}
	p.Expand = append(p.Expand, Statement{
		ID:   "expand/add-columns",
		SQL:  fmt.Sprintf("ALTER TABLE %s %s", tbl, strings.Join(adds, ", ")),
		Lock: LockBriefExclusive,
		Note: "nullable, no default: no row is touched",
	})
	p.Expand = append(p.Expand, Statement{
		ID:   "expand/sync-function",
		SQL:  p.syncFunction(t),
		Lock: LockNone,
	}, Statement{
		ID: "expand/sync-trigger",
		SQL: fmt.Sprintf(`DO $zdm$ BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = %s::regclass AND tgname = %s) THEN
    CREATE TRIGGER %s BEFORE INSERT OR UPDATE ON %s FOR EACH ROW
      WHEN (current_setting('zdm.backfill', true) IS DISTINCT FROM 'on')
      EXECUTE FUNCTION %s();
  END IF;
END $zdm$`, lit, Literal(p.Trigger), Ident(p.Trigger), tbl, p.Function),
		Lock: LockShareRowExcl,
		Note: "from here every write from old or new code keeps both columns in step",
	})
	// NOT NULL checks come after the trigger: before it, old code would write NULLs.
	for _, op := range p.Ops {
		if op.CheckName == "" {
			continue
		}
		p.Expand = append(p.Expand, Statement{
			ID: "expand/not-null-check/" + op.New,
			SQL: fmt.Sprintf(`DO $zdm$ BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conrelid = %s::regclass AND conname = %s) THEN
    ALTER TABLE %s ADD CONSTRAINT %s CHECK (%s IS NOT NULL) NOT VALID;
  END IF;
END $zdm$`, lit, Literal(op.CheckName), tbl, Ident(op.CheckName), Ident(op.New)),
			Lock: LockBriefExclusive,
			Note: "NOT VALID: checks new writes only; existing rows are validated after the backfill",
		})
		p.Validate = append(p.Validate, Statement{
			ID:    "validate/" + op.CheckName,
			SQL:   fmt.Sprintf("ALTER TABLE %s VALIDATE CONSTRAINT %s", tbl, Ident(op.CheckName)),
			Lock:  LockShareUpdExcl,
			Scans: true,
			Note:  "reads and writes go on meanwhile",
		})
	}

	// Copies of the indexes on replaced columns, built once the data is there.
	for _, op := range p.Ops {
		for _, ix := range op.Indexes {
			p.Validate = append(p.Validate, Statement{
				ID: "index/" + ix.Building, SQL: ix.Create, Lock: LockShareUpdExcl, Scans: true,
				Concurrent: true, Index: pgxIdent(p.Schema, ix.Building),
				Note: "copy of " + ix.Name + " on the new column; built CONCURRENTLY, reads and writes go on",
			})
		}
	}

	// Backfill and verification.
	var sets, mismatch []string
	for _, op := range p.Ops {
		up := fmt.Sprintf("(%s)::%s", op.Up, op.NewType)
		sets = append(sets, fmt.Sprintf("%s = %s", Ident(op.New), up))
		mismatch = append(mismatch, fmt.Sprintf("%s IS DISTINCT FROM %s", Ident(op.New), up))
	}
	p.BackfillSet = strings.Join(sets, ", ")
	p.Mismatch = "(" + strings.Join(mismatch, ") OR (") + ")"

	// Contract: one transaction.
	p.Contract = append(p.Contract, Statement{
		ID:   "contract/drop-trigger",
		SQL:  fmt.Sprintf("DROP TRIGGER IF EXISTS %s ON %s", Ident(p.Trigger), tbl),
		Lock: LockBriefExclusive,
	})
	for _, op := range p.Ops {
		final := op.Final
		switch op.Kind {
		case "change_type":
			p.Contract = append(p.Contract,
				Statement{ID: "contract/drop-old/" + op.Old, SQL: fmt.Sprintf("ALTER TABLE %s DROP COLUMN %s", tbl, Ident(op.Old)), Lock: LockBriefExclusive},
				Statement{ID: "contract/rename/" + op.New, SQL: fmt.Sprintf("ALTER TABLE %s RENAME COLUMN %s TO %s", tbl, Ident(op.New), Ident(op.Old)), Lock: LockBriefExclusive})
		case "rename_column":
			p.Contract = append(p.Contract,
				Statement{ID: "contract/drop-old/" + op.Old, SQL: fmt.Sprintf("ALTER TABLE %s DROP COLUMN %s", tbl, Ident(op.Old)), Lock: LockBriefExclusive})
		}
		for _, ix := range op.Indexes {
			// The old index went with the old column; its copy takes its name.
			if ix.Constraint != "" {
				p.Contract = append(p.Contract, Statement{ID: "contract/unique/" + ix.Constraint,
					SQL:  fmt.Sprintf("ALTER TABLE %s ADD CONSTRAINT %s UNIQUE USING INDEX %s", tbl, Ident(ix.Constraint), Ident(ix.Building)),
					Lock: LockBriefExclusive, Note: "the constraint takes over the built index: no scan"})
			} else {
				p.Contract = append(p.Contract, Statement{ID: "contract/index/" + ix.Name,
					SQL:  fmt.Sprintf("ALTER INDEX %s RENAME TO %s", pgxIdent(p.Schema, ix.Building), Ident(ix.Name)),
					Lock: LockBriefExclusive})
			}
		}
		if op.Default != "" {
			p.Contract = append(p.Contract, Statement{ID: "contract/default/" + final,
				SQL:  fmt.Sprintf("ALTER TABLE %s ALTER COLUMN %s SET DEFAULT %s", tbl, Ident(final), op.Default),
				Lock: LockBriefExclusive})
		}
		if op.CheckName != "" {
			p.Contract = append(p.Contract,
				Statement{ID: "contract/set-not-null/" + final,
					SQL:  fmt.Sprintf("ALTER TABLE %s ALTER COLUMN %s SET NOT NULL", tbl, Ident(final)),
					Lock: LockBriefExclusive, Note: "no scan: the validated check already proves it"},
				Statement{ID: "contract/drop-check/" + op.CheckName,
					SQL:  fmt.Sprintf("ALTER TABLE %s DROP CONSTRAINT IF EXISTS %s", tbl, Ident(op.CheckName)),
					Lock: LockBriefExclusive})
		}
	}
	p.Contract = append(p.Contract, Statement{
		ID:   "contract/drop-function",
		SQL:  fmt.Sprintf("DROP FUNCTION IF EXISTS %s()", p.Function),
		Lock: LockNone,
	})

	// Rollback: undo expand, newest first.
	p.Rollback = append(p.Rollback,
		Statement{ID: "rollback/drop-trigger", SQL: fmt.Sprintf("DROP TRIGGER IF EXISTS %s ON %s", Ident(p.Trigger), tbl), Lock: LockBriefExclusive},
		Statement{ID: "rollback/drop-function", SQL: fmt.Sprintf("DROP FUNCTION IF EXISTS %s()", p.Function), Lock: LockNone})
	var drops []string
	for _, op := range p.Ops {
		if op.CheckName != "" {
			drops = append(drops, "DROP CONSTRAINT IF EXISTS "+Ident(op.CheckName))
		}
	}
	for i := len(p.Ops) - 1; i >= 0; i-- {
		drops = append(drops, "DROP COLUMN IF EXISTS "+Ident(p.Ops[i].New))
	}
	p.Rollback = append(p.Rollback, Statement{
		ID:   "rollback/drop-columns",
		SQL:  fmt.Sprintf("ALTER TABLE %s %s", tbl, strings.Join(drops, ", ")),
		Lock: LockBriefExclusive,
		Note: "catalog only; the table is as it was before the migration",
	})

	// Checks: the expressions must compile against the old and new shapes of a row.
	for _, op := range p.Ops {
		p.Checks = append(p.Checks, Check{Field: op.Field + ".type", Group: op.Field,
			SQL: fmt.Sprintf("EXPLAIN SELECT NULL::%s", op.NewType)})
		upField := op.Field + ".up"
		switch op.Kind {
		case "add_column":
			upField = op.Field + ".backfill"
		case "rename_column":
			upField = op.Field + ".column"
		}
		p.Checks = append(p.Checks, Check{Field: upField, Group: op.Field,
			SQL: fmt.Sprintf("EXPLAIN SELECT (%s)::%s FROM %s", op.Up, op.NewType, tbl)})
		if op.Down != "" {
			p.Checks = append(p.Checks, Check{Field: op.Field + ".down", Group: op.Field,
				SQL: fmt.Sprintf("EXPLAIN SELECT (%s)::%s FROM (SELECT %s FROM %s) AS new_row", op.Down, op.OldType, p.newRowSelect(t), tbl)})
		}
	}
}

// rowVar is a column as the sync function sees it: a PL/pgSQL variable named like the
// column, so that up/down expressions written over column names compile unchanged.
type rowVar struct{ name, typ, from string }

// oldRow is the row as old code sees it: the table's own columns.
func (p *Plan) oldRow(t *schema.Table) []rowVar {
	var out []rowVar
	for _, c := range t.Columns {
		if p.isNewColumn(c.Name) {
			continue
		}
		out = append(out, rowVar{c.Name, c.Type, "NEW." + Ident(c.Name)})
	}
	return out
}

// newRow is the row as new code sees it: renamed and retyped columns under their new
// names and types, added columns present.
func (p *Plan) newRow(t *schema.Table) []rowVar {
	var out []rowVar
	for _, v := range p.oldRow(t) {
		if op := p.opFor(v.name); op != nil {
			switch op.Kind {
			case "change_type":
				v = rowVar{op.Old, op.NewType, "NEW." + Ident(op.New)}
			case "rename_column":
				v = rowVar{op.New, op.NewType, "NEW." + Ident(op.New)}
			}
		}
		out = append(out, v)
	}
	for _, op := range p.Ops {
		if op.Kind == "add_column" {
			out = append(out, rowVar{op.New, op.NewType, "NEW." + Ident(op.New)})
		}
	}
	return out
}

// newRowSelect is newRow as a SELECT list over the old table, for checking Down: values
// of retyped and added columns are NULLs of their new type, renamed ones read the old name.
func (p *Plan) newRowSelect(t *schema.Table) string {
	var cols []string
	for _, c := range t.Columns {
		if p.isNewColumn(c.Name) {
			continue
		}
		switch op := p.opFor(c.Name); {
		case op == nil:
			cols = append(cols, Ident(c.Name))
		case op.Kind == "change_type":
			cols = append(cols, fmt.Sprintf("NULL::%s AS %s", op.NewType, Ident(op.Old)))
		default:
			cols = append(cols, fmt.Sprintf("%s AS %s", Ident(op.Old), Ident(op.New)))
		}
	}
	for _, op := range p.Ops {
		if op.Kind == "add_column" {
			cols = append(cols, fmt.Sprintf("NULL::%s AS %s", op.NewType, Ident(op.New)))
		}
	}
	return strings.Join(cols, ", ")
}

func (p *Plan) isNewColumn(name string) bool { return p.opByNew(name) != nil }

func (p *Plan) opFor(old string) *Op {
	for i := range p.Ops {
		if p.Ops[i].Old == old && old != "" {
			return &p.Ops[i]
		}
	}
	return nil
}

func (p *Plan) opByNew(name string) *Op {
	for i := range p.Ops {
		if p.Ops[i].New == name {
			return &p.Ops[i]
		}
	}
	return nil
}

// reservedVars are names a PL/pgSQL block must not redeclare.
var reservedVars = map[string]bool{"new": true, "old": true, "found": true}

func declare(vars []rowVar) string {
	var b strings.Builder
	for _, v := range vars {
		if reservedVars[strings.ToLower(v.name)] || strings.HasPrefix(strings.ToLower(v.name), "tg_") {
			continue
		}
		fmt.Fprintf(&b, "      %s %s := %s;\n", Ident(v.name), v.typ, v.from)
	}
	return b.String()
}

// syncFunction writes the trigger function that keeps old and new columns in step. For
// each operation: a write that left the new column alone (old code, or new code touching
// other columns) recomputes it from the old row; a write that set only the new column
// (new code) recomputes the old one from the new row; a write that set both (dual-write)
// is kept as written.
func (p *Plan) syncFunction(t *schema.Table) string {
	oldVars, newVars := declare(p.oldRow(t)), declare(p.newRow(t))
	var b strings.Builder
	fmt.Fprintf(&b, "CREATE OR REPLACE FUNCTION %s() RETURNS trigger LANGUAGE plpgsql AS $zdm$\n", p.Function)
	fmt.Fprintf(&b, "-- zdm migration %s: keeps old and new columns of %s in step for old and new\n-- application code. Dropped at contract or rollback.\n", p.Migration, p.TableName())
	b.WriteString("DECLARE\n")
	for i, op := range p.Ops {
		fmt.Fprintf(&b, "  zdm_new_%d %s;\n", i, op.NewType)
		if op.Down != "" {
			fmt.Fprintf(&b, "  zdm_old_%d %s;\n", i, op.OldType)
		}
	}
	b.WriteString("BEGIN\n")
	for i, op := range p.Ops {
		n := Ident(op.New)
		fmt.Fprintf(&b, "  -- %s: %s\n", op.Field, describe(op))
		fmt.Fprintf(&b, "  IF (TG_OP = 'INSERT' AND NEW.%[1]s IS NULL) OR (TG_OP = 'UPDATE' AND NEW.%[1]s IS NOT DISTINCT FROM OLD.%[1]s) THEN\n", n)
		fmt.Fprintf(&b, "    DECLARE\n%s    BEGIN\n      zdm_new_%d := (%s)::%s;\n    END;\n", oldVars, i, op.Up, op.NewType)
		fmt.Fprintf(&b, "    NEW.%s := zdm_new_%d;\n", n, i)
		if op.Down != "" {
			o := Ident(op.Old)
			fmt.Fprintf(&b, "  ELSIF (TG_OP = 'INSERT' AND NEW.%[1]s IS NULL) OR (TG_OP = 'UPDATE' AND NEW.%[1]s IS NOT DISTINCT FROM OLD.%[1]s) THEN\n", o)
			fmt.Fprintf(&b, "    DECLARE\n%s    BEGIN\n      zdm_old_%d := (%s)::%s;\n    END;\n", newVars, i, op.Down, op.OldType)
			fmt.Fprintf(&b, "    NEW.%s := zdm_old_%d;\n", o, i)
		}
		b.WriteString("  END IF;\n")
	}
	b.WriteString("  RETURN NEW;\nEND\n$zdm$")
	return b.String()
}

func describe(op Op) string {
	switch op.Kind {
	case "change_type":
		return fmt.Sprintf("%s %s -> %s in %s", op.Old, op.OldType, op.NewType, op.New)
	case "rename_column":
		return fmt.Sprintf("%s renamed to %s", op.Old, op.New)
	}
	return fmt.Sprintf("%s added, computed from the row", op.New)
}

func pgxIdent(schema, name string) string { return Ident(schema) + "." + Ident(name) }
