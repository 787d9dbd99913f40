package planner

import (
	"fmt"
	"strings"

	"github.com/zdmhq/zdm/internal/ops"
	"github.com/zdmhq/zdm/internal/schema"
	"github.com/zdmhq/zdm/internal/sqlexpr"
)

// planned is a plan being written: the planner's methods on it.
type planned struct{ *Plan }

// TableIdent is the plan's quoted, schema-qualified table.
func (p planned) TableIdent() string { return TableIdent(p.Plan) }

// render writes the SQL of every phase: the operations' own statements, and what they
// share (the sync function and trigger, NOT NULL checks, copies of indexes).
func (p planned) render(t *schema.Table, changes []*ops.Change) {
	tbl := p.TableIdent()
	lit := Literal(tbl)
	syncing := len(p.Ops) > 0

	for _, ch := range changes {
		p.Expand = append(p.Expand, ch.Expand...)
	}
	if syncing {
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
	}
	for _, ch := range changes {
		p.Expand = append(p.Expand, ch.AfterSync...)
	}
	// NOT NULL checks come after the trigger: before it, old code would write NULLs.
	for _, op := range p.Ops {
		if op.CheckName == "" {
			continue
		}
		p.Expand = append(p.Expand, Statement{
			ID:   "expand/not-null-check/" + op.New,
			SQL:  ops.AddCheckNotValid(tbl, op.CheckName, Ident(op.New)+" IS NOT NULL"),
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
	for _, ch := range changes {
		p.Validate = append(p.Validate, ch.Validate...)
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
		n := Ident(op.New)
		if op.KeepWritten {
			sets = append(sets, fmt.Sprintf("%s = coalesce(%s, %s)", n, n, fill(op)))
		} else {
			sets = append(sets, fmt.Sprintf("%s = %s", n, fill(op)))
		}
		if op.KeepWritten || op.NotRecomputable {
			// Values the application wrote, or that cannot be computed again, are not
			// compared: verify proves that no row was missed.
			mismatch = append(mismatch, fmt.Sprintf("%s IS NULL AND %s IS NOT NULL", n, fill(op)))
		} else {
			mismatch = append(mismatch, "NOT ("+same(n, fill(op), op.NewIncomparable)+")")
		}
	}
	if syncing {
		p.BackfillSet = strings.Join(sets, ", ")
		p.Mismatch = "(" + strings.Join(mismatch, ") OR (") + ")"
	}

	// Contract: one transaction.
	if syncing {
		p.Contract = append(p.Contract, Statement{
			ID:   "contract/drop-trigger",
			SQL:  fmt.Sprintf("DROP TRIGGER IF EXISTS %s ON %s", Ident(p.Trigger), tbl),
			Lock: LockBriefExclusive,
		})
	}
	for _, ch := range changes {
		p.Contract = append(p.Contract, ch.Contract...)
	}
	for _, op := range p.Ops {
		final := op.Final
		for _, ix := range op.Indexes {
			// The old index went with the old column; its copy takes its name.
			if ix.Constraint != "" {
				def := ""
				if ix.Deferrable != "" {
					def = " " + ix.Deferrable
				}
				p.Contract = append(p.Contract, Statement{ID: "contract/unique/" + ix.Constraint,
					SQL:  fmt.Sprintf("ALTER TABLE %s ADD CONSTRAINT %s UNIQUE USING INDEX %s%s", tbl, Ident(ix.Constraint), Ident(ix.Building), def),
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
	if syncing {
		p.Contract = append(p.Contract, Statement{
			ID:   "contract/drop-function",
			SQL:  fmt.Sprintf("DROP FUNCTION IF EXISTS %s()", p.Function),
			Lock: LockNone,
		})
	}

	// Rollback: undo expand in one transaction, newest first.
	if syncing {
		p.Rollback = append(p.Rollback,
			Statement{ID: "rollback/drop-trigger", SQL: fmt.Sprintf("DROP TRIGGER IF EXISTS %s ON %s", Ident(p.Trigger), tbl), Lock: LockBriefExclusive},
			Statement{ID: "rollback/drop-function", SQL: fmt.Sprintf("DROP FUNCTION IF EXISTS %s()", p.Function), Lock: LockNone})
	}
	for _, op := range p.Ops {
		if op.CheckName != "" {
			p.Rollback = append(p.Rollback, Statement{ID: "rollback/drop-check/" + op.CheckName,
				SQL:  fmt.Sprintf("ALTER TABLE %s DROP CONSTRAINT IF EXISTS %s", tbl, Ident(op.CheckName)),
				Lock: LockBriefExclusive})
		}
	}
	for i := len(changes) - 1; i >= 0; i-- {
		p.Rollback = append(p.Rollback, changes[i].Rollback...)
	}

	// Checks: the expressions must compile against the old and new shapes of a row.
	for _, ch := range changes {
		p.Checks = append(p.Checks, ch.Checks...)
	}
	for _, op := range p.Ops {
		if op.Down != "" && op.Kind != "rename_column" {
			p.Checks = append(p.Checks, Check{Field: op.Field + ".down", Group: op.Field,
				SQL: fmt.Sprintf("EXPLAIN SELECT (%s)::%s FROM %s", op.Down, op.OldType, p.rowSource(t, "NULL", true))})
		}
	}
}

// fill is the value the backfill and the trigger give op.New: Up cast to the new type,
// or Fill where Up is NULL.
func fill(op Op) string {
	v := fmt.Sprintf("(%s)::%s", op.Up, op.NewType)
	if op.Fill != "" {
		v = fmt.Sprintf("coalesce(%s, (%s)::%s)", v, op.Fill, op.NewType)
	}
	return v
}

// same compares two values of one type: IS NOT DISTINCT FROM, or as text for types
// without an equality operator (json, xml, point).
func same(a, b string, incomparable bool) string {
	if incomparable {
		return fmt.Sprintf("(%s)::text IS NOT DISTINCT FROM (%s)::text", a, b)
	}
	return fmt.Sprintf("%s IS NOT DISTINCT FROM %s", a, b)
}

// rowSource is a FROM item that shows row (NEW or OLD in the trigger; "NULL" for a plan
// check over the table itself) under the table's name, the way the backfill's UPDATE
// shows it: expressions written over the table, qualified by its name or not, with
// subqueries, read the same in both. Stored generated columns, which a BEFORE trigger
// does not see yet, are computed from their expressions. With newShape, columns
// appear as new code sees them: a retyped column under its own name with the new type,
// added and renamed ones present.
func (p planned) rowSource(t *schema.Table, row string, newShape bool) string {
	var cols []string
	for _, c := range t.Columns {
		if p.isNewColumn(c.Name) {
			continue
		}
		switch op := p.opFor(c.Name); {
		case newShape && op != nil && op.InPlace:
			if row == "NULL" {
				cols = append(cols, fmt.Sprintf("NULL::%s AS %s", op.NewType, Ident(c.Name)))
			} else {
				cols = append(cols, fmt.Sprintf("zdm_row.%s AS %s", Ident(op.New), Ident(c.Name)))
			}
		case c.Generated && row != "NULL":
			cols = append(cols, fmt.Sprintf("(%s) AS %s", c.Default, Ident(c.Name)))
		default:
			cols = append(cols, "zdm_row."+Ident(c.Name))
		}
	}
	if newShape {
		for _, op := range p.Ops {
			if op.InPlace {
				continue
			}
			if row == "NULL" {
				if op.Old != "" {
					cols = append(cols, fmt.Sprintf("zdm_row.%s AS %s", Ident(op.Old), Ident(op.New)))
				} else {
					cols = append(cols, fmt.Sprintf("NULL::%s AS %s", op.NewType, Ident(op.New)))
				}
			} else {
				cols = append(cols, "zdm_row."+Ident(op.New))
			}
		}
	}
	from := fmt.Sprintf("(SELECT %s.*) AS zdm_row", row)
	if row == "NULL" {
		from = p.TableIdent() + " AS zdm_row"
	}
	return fmt.Sprintf("(SELECT %s FROM %s) AS %s", strings.Join(cols, ", "), from, Ident(p.Table))
}

// inline rewrites expr, written over the table's row, to read the trigger's record row
// ("new" or "old") directly: a PL/pgSQL expression, with no query per write. It can when
// the expression has no subquery and every column it names is a stored column of the row,
// bare or qualified by the table's name; otherwise the row query (rowSource) is used.
// With newShape, names are those new code sees.
func (p planned) inline(t *schema.Table, expr, row string, newShape bool) (string, bool) {
	fields := map[string]string{}
	for _, c := range t.Columns {
		switch op := p.opFor(c.Name); {
		case p.isNewColumn(c.Name):
		case c.Generated:
			// Not computed yet in a BEFORE trigger: only the row query computes it.
		case newShape && op != nil && op.InPlace:
			fields[c.Name] = op.New
		default:
			fields[c.Name] = c.Name
		}
	}
	if newShape {
		for _, op := range p.Ops {
			if op.Kind != "change_type" {
				fields[op.New] = op.New
			}
		}
	}
	x, err := sqlexpr.ParseExpr(expr)
	if err != nil || x.HasSubquery() {
		return "", false
	}
	ok := true
	out, err := x.RewriteColumnRefs(func(parts []string) []string {
		name := parts[len(parts)-1]
		if len(parts) > 2 || (len(parts) == 2 && parts[0] != p.Table) {
			ok = false
			return nil
		}
		f, known := fields[name]
		if !known {
			ok = false
			return nil
		}
		return []string{row, f}
	})
	if err != nil || !ok {
		return "", false
	}
	return out, true
}

func (p planned) isNewColumn(name string) bool { return p.opByNew(name) != nil }

func (p planned) opFor(old string) *Op {
	for i := range p.Ops {
		if p.Ops[i].Old == old && old != "" {
			return &p.Ops[i]
		}
	}
	return nil
}

func (p planned) opByNew(name string) *Op {
	for i := range p.Ops {
		if p.Ops[i].New == name {
			return &p.Ops[i]
		}
	}
	return nil
}

// syncFunction writes the trigger function that keeps old and new columns in step. For
// each operation: a write that left the new column alone (old code, or new code touching
// other columns) recomputes it from the row; a write that set only the new column (new
// code) recomputes the old one from the new row; a write that set both (dual-write) is
// kept as written. Expressions are evaluated by a SELECT over the row shown under the
// table's name, exactly as the backfill's UPDATE evaluates them.
func (p planned) syncFunction(t *schema.Table) string {
	oldRow, oldRowOld, newRow := p.rowSource(t, "NEW", false), p.rowSource(t, "OLD", false), p.rowSource(t, "NEW", true)
	var b strings.Builder
	fmt.Fprintf(&b, "CREATE OR REPLACE FUNCTION %s() RETURNS trigger LANGUAGE plpgsql AS $zdm$\n", p.Function)
	// Column names win over PL/pgSQL's own (found, new, old) inside the expressions.
	b.WriteString("#variable_conflict use_column\n")
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
		n := "NEW." + Ident(op.New)
		fmt.Fprintf(&b, "  -- %s: %s\n", op.Field, describe(op))
		var unwritten string
		switch {
		case op.KeepWritten:
			// New follows the row only while it still holds what the expression gives
			// for the row as it was: a value new code wrote (or a volatile one) is kept.
			was, ok := p.inline(t, fill(op), "old", false)
			if !ok {
				was = fmt.Sprintf("(SELECT %s FROM %s)", fill(op), oldRowOld)
			}
			unwritten = fmt.Sprintf("%s IS NULL OR (TG_OP = 'UPDATE' AND %s AND %s)", n,
				same(n, "OLD."+Ident(op.New), op.NewIncomparable),
				same("OLD."+Ident(op.New), was, op.NewIncomparable))
		default:
			unwritten = fmt.Sprintf("(TG_OP = 'INSERT' AND %s IS NULL) OR (TG_OP = 'UPDATE' AND %s)", n, same(n, "OLD."+Ident(op.New), op.NewIncomparable))
		}
		fmt.Fprintf(&b, "  IF %s THEN\n", unwritten)
		if v, ok := p.inline(t, fill(op), "new", false); ok {
			fmt.Fprintf(&b, "    zdm_new_%d := %s;\n", i, v)
		} else {
			fmt.Fprintf(&b, "    SELECT %s INTO zdm_new_%d FROM %s;\n", fill(op), i, oldRow)
		}
		fmt.Fprintf(&b, "    %s := zdm_new_%d;\n", n, i)
		if op.Down != "" {
			o := "NEW." + Ident(op.Old)
			insertUnwritten := o + " IS NULL"
			if op.OldDefaultVolatile {
				// A volatile default (random, sequence) filled the old column: new
				// code's value wins; dual-write code wrote the two in step anyway.
				insertUnwritten = "TRUE"
			} else if op.OldDefault != "" {
				// A default fills the old column before any trigger runs: an insert
				// that set the new column and left the old one at its default is new
				// code's.
				insertUnwritten += " OR " + same(o, fmt.Sprintf("(%s)::%s", op.OldDefault, op.OldType), op.OldIncomparable)
			}
			fmt.Fprintf(&b, "  ELSIF (TG_OP = 'INSERT' AND (%s)) OR (TG_OP = 'UPDATE' AND %s) THEN\n", insertUnwritten, same(o, "OLD."+Ident(op.Old), op.OldIncomparable))
			if v, ok := p.inline(t, fmt.Sprintf("(%s)::%s", op.Down, op.OldType), "new", true); ok {
				fmt.Fprintf(&b, "    zdm_old_%d := %s;\n", i, v)
			} else {
				fmt.Fprintf(&b, "    SELECT (%s)::%s INTO zdm_old_%d FROM %s;\n", op.Down, op.OldType, i, newRow)
			}
			fmt.Fprintf(&b, "    %s := zdm_old_%d;\n", o, i)
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
