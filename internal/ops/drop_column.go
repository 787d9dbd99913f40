package ops

import (
	"fmt"
	"slices"
	"strings"

	"github.com/zdmhq/zdm/internal/plan"
	"github.com/zdmhq/zdm/internal/schema"
	"github.com/zdmhq/zdm/internal/spec"
)

// DropColumn drops a column softly: it stays, with its data, until contract, so a
// rollback loses nothing; applications stop using it before contract (the read_new
// flag means "do not read it"). A NOT NULL column without default would fail the
// inserts of new code, which no longer writes it: a small trigger of zdm's then fills
// it with Down until contract. Contract drops the column (catalog only, no rewrite)
// and what hangs off it alone; whatever DROP COLUMN would need CASCADE for, or would
// break, is refused at plan.
type DropColumn struct {
	Column string `yaml:"column" json:"column"`
	// Down is an SQL expression over the row: the value the column gets in rows written
	// without it, until contract. Required for a NOT NULL column without default.
	Down string `yaml:"down" json:"down,omitempty"`
}

func init() { spec.RegisterOp("drop_column", func() spec.Op { return &DropColumn{} }) }

var _ Operation = (*DropColumn)(nil)

// CheckFile implements spec.Op.
func (o *DropColumn) CheckFile(c *spec.OpCheck) {
	c.Ident("column", o.Column)
	c.Claim("column", o.Column)
}

// Moves implements spec.Op: applications move to the table without the column.
func (o *DropColumn) Moves() *bool { return ptr(true) }

// Plan implements Operation.
func (o *DropColumn) Plan(e *Env) *Change {
	c := e.Column("column", o.Column)
	if c == nil {
		return nil
	}
	ch := &Change{Summary: fmt.Sprintf("%s dropped at contract (kept, with its data, until then)", c.Name)}
	refuse := func(what, fix string) {
		e.Errorf("column", fix, "column %q is used by %s, which dropping it would break", c.Name, what)
	}
	key := slices.Contains(e.Table.Key, c.Name)
	if key {
		e.Errorf("column", "keep the key column; zdm pages the table by it", "column %q is part of the key of %s (%s)", c.Name, e.Table, e.Table.KeySource)
	}
	if len(c.Views) > 0 {
		refuse("view(s) "+strings.Join(c.Views, ", "), "drop or change the views first")
	}
	for _, d := range c.Dependents {
		others := alsoOn(e.Table, c.Name, d)
		switch {
		case d.Type == "table constraint" && d.ConstraintType == "f":
			refuse(d.Describe, "drop the foreign key first (drop_constraint)")
		case d.Type == "table constraint" && d.ConstraintType == "p":
			refuse(d.Describe, "keep the primary key's columns")
		case (d.Type == "table constraint" || d.Type == "index") && len(others) > 0:
			refuse(fmt.Sprintf("%s (it also covers %s)", d.Describe, strings.Join(others, ", ")),
				"drop it first (drop_constraint, drop_index) and create what you need without this column")
		case d.Type == "table constraint" || d.Type == "index":
			ch.Notes = append(ch.Notes, fmt.Sprintf("%s, on this column alone, goes with it at contract", d.Describe))
		case d.Type == "rule":
			if len(c.Views) == 0 {
				refuse(d.Describe, "drop the rule first")
			}
		case d.Type == "policy":
			refuse(d.Describe, "ALTER POLICY it to not use the column first")
		case d.Type == "trigger":
			refuse(d.Describe+" (it names the column in UPDATE OF or WHEN)", "drop the trigger, or create it again without the column, first")
		case d.Type == "default value" && d.Own:
		case d.Type == "default value" || d.Type == "table column":
			refuse(d.Describe+" (a generated column computed from it)", "drop the generated column first")
		case d.Type == "sequence" && d.Own:
			ch.Notes = append(ch.Notes, fmt.Sprintf("sequence %s, owned by the column, is dropped with it at contract", d.Identity))
		default:
			refuse(d.Describe, "drop it first")
		}
	}
	tbl := e.TableIdent()
	needsDown := c.NotNull && c.Default == "" && !c.Identity && !c.Generated && !key
	down := ""
	switch {
	case needsDown && strings.TrimSpace(o.Down) == "":
		e.Errorf("down", "add down: an expression for the value rows written without the column get",
			"column %q is NOT NULL without a default: new code's inserts, which leave it out, would fail until contract", c.Name)
	case needsDown:
		down = e.Expr("down", o.Down)
	case strings.TrimSpace(o.Down) != "":
		ch.Notes = append(ch.Notes, fmt.Sprintf("down is not used: rows written without %s get its default or NULL", c.Name))
	}
	if len(e.Errs) > 0 {
		return nil
	}
	drop := plan.Statement{ID: "contract/drop-column/" + c.Name,
		SQL:  fmt.Sprintf("ALTER TABLE %s DROP COLUMN IF EXISTS %s", tbl, Ident(c.Name)),
		Lock: plan.LockBriefExclusive, Note: "catalog only: the rows are not rewritten"}
	if down != "" {
		fn := quoted("zdm", shortName("fill_"+e.M.Name+"_"+c.Name))
		// zdm_ sorts before zz_zdm_sync_: the column is filled before zdm's sync trigger
		// sees the row.
		trigger := shortName("zdm_fill_" + e.M.Name + "_" + c.Name)
		dropTrigger := plan.Statement{ID: "drop-fill-trigger/" + c.Name,
			SQL: fmt.Sprintf("DROP TRIGGER IF EXISTS %s ON %s", Ident(trigger), tbl), Lock: plan.LockBriefExclusive}
		dropFn := plan.Statement{ID: "drop-fill-function/" + c.Name, SQL: fmt.Sprintf("DROP FUNCTION IF EXISTS %s()", fn), Lock: plan.LockNone}
		ch.Expand = []plan.Statement{
			{ID: "expand/fill-function/" + c.Name, SQL: fillFunction(fn, e.Table.Name, c, down), Lock: plan.LockNone},
			{ID: "expand/fill-trigger/" + c.Name, SQL: fmt.Sprintf(`DO $zdm$ BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = %s::regclass AND tgname = %s) THEN
    CREATE TRIGGER %s BEFORE INSERT OR UPDATE ON %s FOR EACH ROW
      WHEN (NEW.%s IS NULL) EXECUTE FUNCTION %s();
  END IF;
END $zdm$`, Literal(tbl), Literal(trigger), Ident(trigger), tbl, Ident(c.Name), fn),
				Lock: plan.LockShareRowExcl, Note: "rows written without " + c.Name + " get down instead of failing NOT NULL"},
		}
		ch.Rollback = []plan.Statement{withID(dropTrigger, "rollback/"), withID(dropFn, "rollback/")}
		ch.Contract = []plan.Statement{withID(dropTrigger, "contract/"), withID(dropFn, "contract/")}
		ch.Checks = append(ch.Checks, plan.Check{Field: e.Path("down"), Group: e.Field,
			SQL: fmt.Sprintf("EXPLAIN SELECT (%s)::%s FROM %s", down, c.Type, tbl),
			Fix: fmt.Sprintf("write an SQL expression over the table's columns that yields %s", c.Type)})
	}
	ch.Contract = append(ch.Contract, drop)
	ch.Notes = append(ch.Notes, fmt.Sprintf("after contract, code that still reads or writes %s fails: applications stop using it first", c.Name))
	return ch
}

// withID is s with its ID under prefix.
func withID(s plan.Statement, prefix string) plan.Statement {
	s.ID = prefix + s.ID
	return s
}

// alsoOn lists the other columns of t that d depends on too (an index or constraint over
// several columns).
func alsoOn(t *schema.Table, col string, d schema.Dependent) []string {
	var out []string
	for _, other := range t.Columns {
		if other.Name == col {
			continue
		}
		if slices.ContainsFunc(other.Dependents, func(x schema.Dependent) bool {
			return x.Type == d.Type && x.Identity == d.Identity && x.Describe == d.Describe
		}) {
			out = append(out, other.Name)
		}
	}
	return out
}

// fillFunction is the trigger function that gives column c the value of down, an
// expression over the row shown under the table's name, where a write left it NULL.
func fillFunction(fn, table string, c *schema.Column, down string) string {
	return fmt.Sprintf(`CREATE OR REPLACE FUNCTION %s() RETURNS trigger LANGUAGE plpgsql AS $zdm$
#variable_conflict use_column
-- zdm: fills %s in rows written without it until contract drops it; dropped at contract or rollback.
BEGIN
  IF NEW.%s IS NULL THEN
    SELECT (%s)::%s INTO NEW.%s FROM (SELECT NEW.*) AS %s;
  END IF;
  RETURN NEW;
END
$zdm$`, fn, c.Name, Ident(c.Name), down, c.Type, Ident(c.Name), Ident(table))
}

// Shape implements Shaper: the column goes at contract; nothing may build on it.
func (o *DropColumn) Shape(e *Env, _ *Change, s *Shapes) { s.Replace(e, o.Column) }

// Undo implements Undoer: contract renames the column aside instead of dropping it
// (its indexes and constraints go along); rows new code writes get down there (or the
// column's default, or NULL), as they did from expand on. Revert renames it back;
// finalize drops it.
func (o *DropColumn) Undo(e *Env, ch *Change) *Undo {
	c := e.Table.Column(o.Column)
	tbl := e.TableIdent()
	aside := AsideName(c.Name)
	kept := *c
	kept.Name = aside
	fn := quoted("zdm", shortName("undo_fill_"+e.M.Name+"_"+c.Name))
	trigger := shortName("zdm_undo_fill_" + e.M.Name + "_" + c.Name)
	var contract, revert, finalize []plan.Statement
	for _, s := range ch.Contract {
		if s.ID != "contract/drop-column/"+c.Name {
			contract = append(contract, s)
		}
	}
	contract = append(contract, plan.Statement{ID: "contract/set-aside/" + c.Name,
		SQL:  ifColumn(tbl, c.Name, []string{fmt.Sprintf("ALTER TABLE %s RENAME COLUMN %s TO %s", tbl, Ident(c.Name), Ident(aside))}),
		Lock: plan.LockBriefExclusive, Note: "kept for the undo window instead of dropped"})
	dropFill := []plan.Statement{
		{ID: "drop-undo-fill-trigger/" + c.Name, SQL: fmt.Sprintf("DROP TRIGGER IF EXISTS %s ON %s", Ident(trigger), tbl), Lock: plan.LockBriefExclusive},
		{ID: "drop-undo-fill-function/" + c.Name, SQL: fmt.Sprintf("DROP FUNCTION IF EXISTS %s()", fn), Lock: plan.LockNone},
	}
	down := ""
	if len(ch.Expand) > 0 {
		// Expand installed the fill trigger: the column is filled with down.
		down = e.Expr("down", o.Down)
		contract = append(contract,
			plan.Statement{ID: "contract/undo-fill-function/" + c.Name, SQL: fillFunction(fn, e.Table.Name, &kept, down), Lock: plan.LockNone},
			plan.Statement{ID: "contract/undo-fill-trigger/" + c.Name, SQL: fmt.Sprintf(`DO $zdm$ BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = %s::regclass AND tgname = %s) THEN
    CREATE TRIGGER %s BEFORE INSERT OR UPDATE ON %s FOR EACH ROW
      WHEN (NEW.%s IS NULL) EXECUTE FUNCTION %s();
  END IF;
END $zdm$`, Literal(tbl), Literal(trigger), Ident(trigger), tbl, Ident(aside), fn),
				Lock: plan.LockShareRowExcl, Note: "rows written without " + c.Name + " get down in " + aside})
		revert = append(revert, withPrefix(dropFill, "revert/")...)
	}
	revert = append(revert, plan.Statement{ID: "revert/rename-back/" + c.Name,
		SQL:  ifColumn(tbl, aside, []string{fmt.Sprintf("ALTER TABLE %s RENAME COLUMN %s TO %s", tbl, Ident(aside), Ident(c.Name))}),
		Lock: plan.LockBriefExclusive})
	// Back to expand's state: its fill trigger again, which the rollback drops.
	revert = append(revert, withPrefix(ch.Expand, "revert/")...)
	if down != "" {
		finalize = append(finalize, withPrefix(dropFill, "finalize/")...)
	}
	finalize = append(finalize, plan.Statement{ID: "finalize/drop-column/" + c.Name,
		SQL:  fmt.Sprintf("ALTER TABLE %s DROP COLUMN IF EXISTS %s", tbl, Ident(aside)),
		Lock: plan.LockBriefExclusive, Note: "catalog only: the rows are not rewritten"})
	how := "its default or NULL"
	if down != "" {
		how = "down"
	}
	return &Undo{
		Says:     fmt.Sprintf("%s is kept as %s (new rows get %s there); revert renames it back, finalize drops it", c.Name, aside, how),
		Contract: contract, Revert: revert, Finalize: finalize,
	}
}
