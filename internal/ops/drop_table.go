package ops

import (
	"fmt"
	"strings"

	"github.com/zdmhq/zdm/internal/plan"
	"github.com/zdmhq/zdm/internal/spec"
)

// DropTable drops a table softly: expand renames it to a name of zdm's, so that
// anything still using it fails loudly while a rollback (which renames it back, data
// and all) can still undo it; contract drops it. Applications must have stopped using
// the table before expand.
type DropTable struct{}

func init() { spec.RegisterOp("drop_table", func() spec.Op { return &DropTable{} }) }

var _ Operation = (*DropTable)(nil)

// CheckFile implements spec.Op: the table is the operation's (or the file's) table.
func (o *DropTable) CheckFile(c *spec.OpCheck) {
	if c.Table() == "" {
		c.Errorf("table", "name the table: `drop_table: {table: audit_old}`", "is required")
	}
}

// Moves implements spec.Op: applications stopped using the table before the migration.
func (o *DropTable) Moves() *bool { return nil }

// DroppedName is the name drop_table gives table until contract drops it.
func DroppedName(table string) string { return shortName("_zdm_dropped_" + table) }

// Plan implements Operation.
func (o *DropTable) Plan(e *Env) *Change {
	if !alone(e, "drop") {
		return nil
	}
	t := e.Table
	var views []string
	for _, c := range t.Columns {
		for _, v := range c.Views {
			if !strings.Contains(","+strings.Join(views, ",")+",", ","+v+",") {
				views = append(views, v)
			}
		}
	}
	if len(views) > 0 {
		e.Errorf("table", "drop the views first", "%s is read by view(s) %s", t, strings.Join(views, ", "))
	}
	var refs []string
	for _, fk := range t.ForeignKeys {
		if fk.Incoming {
			refs = append(refs, fmt.Sprintf("%s on %s", fk.Name, fk.Table))
		}
	}
	if len(refs) > 0 {
		e.Errorf("table", "drop them first (drop_constraint)", "%s is referenced by foreign key(s) %s", t, strings.Join(refs, ", "))
	}
	if len(e.Errs) > 0 {
		return nil
	}
	tbl := e.TableIdent()
	hidden := DroppedName(t.Name)
	hiddenIdent := quoted(t.Schema, hidden)
	ch := &Change{
		Summary: fmt.Sprintf("%s renamed to %s at expand, dropped at contract", t, hidden),
		Expand: []plan.Statement{{ID: "expand/hide-table/" + t.Name,
			SQL:  fmt.Sprintf("ALTER TABLE IF EXISTS %s RENAME TO %s", tbl, Ident(hidden)),
			Lock: plan.LockBriefExclusive, Note: "from here, anything still using " + t.Name + " fails: rollback can still undo it"}},
		Rollback: []plan.Statement{{ID: "rollback/unhide-table/" + t.Name,
			SQL:  fmt.Sprintf("ALTER TABLE IF EXISTS %s RENAME TO %s", hiddenIdent, Ident(t.Name)),
			Lock: plan.LockBriefExclusive}},
		Contract: []plan.Statement{{ID: "contract/drop-table/" + t.Name,
			SQL:  "DROP TABLE IF EXISTS " + hiddenIdent,
			Lock: "ACCESS EXCLUSIVE on the renamed table (nobody uses it), brief; and on each table its foreign keys reference (their triggers go with it)",
			Note: "the data is gone from here"}},
		Checks: []plan.Check{{Field: e.Path("table"), Group: e.Field, SQL: tableDroppable(tbl),
			Fix: "drop or change what uses the table first"}},
		Notes: []string{
			fmt.Sprintf("applications must have stopped using %s before expand: from expand on, every use of it fails (until rollback renames it back)", t),
			"functions and other code that name the table are not checked: they fail once it is renamed",
		},
	}
	if !e.Resuming {
		ch.Checks = append(ch.Checks, nameFree(e.Path("table"), e.Field, t.Schema, hidden, "zdm hides the table under that name until contract"))
	}
	for _, c := range t.Constraints {
		if c.Type == "f" && c.References != "" && c.References != t.String() {
			ch.Notes = append(ch.Notes, fmt.Sprintf("its foreign key %s goes with it at contract, briefly locking %s, which is claimed too", c.Name, c.References))
			ch.Touches = append(ch.Touches, c.References)
		}
	}
	return ch
}

// nameFree is a plan-time check that fails when a relation named schema.name exists.
func nameFree(field, group, schemaName, name, why string) plan.Check {
	return plan.Check{Field: field, Group: group, Fix: "drop or rename it, or choose another name",
		SQL: fmt.Sprintf(`DO $zdm$ BEGIN
  IF to_regclass(%s) IS NOT NULL THEN
    RAISE EXCEPTION 'relation %%.%% already exists: %%', %s, %s, %s;
  END IF;
END $zdm$`, Literal(quoted(schemaName, name)), Literal(schemaName), Literal(name), Literal(why))}
}

// tableDroppable is a plan-time check that fails, naming the reason, when DROP TABLE of
// tbl (quoted, qualified) would fail: a view reads it as a whole (views that name
// columns are refused from the catalog before), or another table's default uses a
// sequence the table owns.
func tableDroppable(tbl string) string {
	return fmt.Sprintf(`DO $zdm$
DECLARE
  t regclass := to_regclass(%s);
  what text;
BEGIN
  IF t IS NULL THEN
    RETURN;
  END IF;
  SELECT string_agg(DISTINCT r.ev_class::regclass::text, ', ') INTO what
    FROM pg_depend d JOIN pg_rewrite r ON r.oid = d.objid
    WHERE d.classid = 'pg_rewrite'::regclass AND d.refclassid = 'pg_class'::regclass AND d.refobjid = t AND r.ev_class <> t;
  IF what IS NOT NULL THEN
    RAISE EXCEPTION 'table %% is read by view(s) %%', t, what;
  END IF;
  SELECT string_agg(DISTINCT format('%%s (default of %%s.%%s)', s.objid::regclass, ad.adrelid::regclass, a.attname), ', ') INTO what
    FROM pg_depend s
    JOIN pg_depend u ON u.refclassid = 'pg_class'::regclass AND u.refobjid = s.objid AND u.classid = 'pg_attrdef'::regclass
    JOIN pg_attrdef ad ON ad.oid = u.objid
    JOIN pg_attribute a ON a.attrelid = ad.adrelid AND a.attnum = ad.adnum
    WHERE s.classid = 'pg_class'::regclass AND s.refclassid = 'pg_class'::regclass AND s.refobjid = t
      AND s.deptype IN ('a', 'i') AND ad.adrelid <> t;
  IF what IS NOT NULL THEN
    RAISE EXCEPTION 'table %% owns sequence(s) that other tables use: %%', t, what;
  END IF;
END $zdm$`, Literal(tbl))
}

// Shape implements Shaper: the table is gone for later operations.
func (o *DropTable) Shape(e *Env, _ *Change, s *Shapes) { s.RemoveTable(e.TableName, e.Field) }

// Undo implements Undoer: the table renamed aside at expand is kept until finalize; the
// rollback gives it its name back. It received no write since expand.
func (o *DropTable) Undo(_ *Env, ch *Change) *Undo {
	return &Undo{
		Says:     "the table stays renamed aside until finalize drops it; revert gives it its name back, with its rows as of expand (nobody could write it since)",
		Finalize: withPrefix(ch.Contract, "finalize/"),
	}
}
