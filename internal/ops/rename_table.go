package ops

import (
	"fmt"
	"strings"

	"github.com/zdmhq/zdm/internal/plan"
	"github.com/zdmhq/zdm/internal/spec"
)

// RenameTable renames a table while code that uses the old name goes on working: expand
// renames it and, in the same transaction, puts a view under the old name that selects
// every column. A simple view is automatically updatable: INSERT (the table's defaults
// fill what it leaves out), UPDATE, DELETE and RETURNING through the old name reach the
// table. The view is security_invoker, so the table's row-level security policies apply
// to whoever uses it, and it gets the table's privileges. Contract drops the view.
type RenameTable struct {
	To string `yaml:"to" json:"to"`
}

func init() { spec.RegisterOp("rename_table", func() spec.Op { return &RenameTable{} }) }

var _ Operation = (*RenameTable)(nil)

// CheckFile implements spec.Op.
func (o *RenameTable) CheckFile(c *spec.OpCheck) {
	if c.Table() == "" {
		c.Errorf("table", "name the table: `rename_table: {table: customers, to: clients}`", "is required")
	}
	tableName(c, "to", o.To)
	if _, name := spec.SplitTable(c.Table()); o.To != "" && o.To == name {
		c.Errorf("to", "give the new name", "is the table's name already")
	}
}

// tableName checks that v, in field sub, is a table name without schema.
func tableName(c *spec.OpCheck, sub, v string) {
	switch {
	case v == "":
		c.Errorf(sub, "add the "+sub+" field", "is required")
	case strings.ContainsAny(v, ".\"") || len(v) > 63 || strings.TrimSpace(v) != v:
		c.Errorf(sub, "write the table's name alone, at most 63 bytes: it stays in its schema", "%q is not a table name", v)
	case strings.HasPrefix(v, "_zdm"):
		c.Errorf(sub, "choose a name that does not start with _zdm", "%q is reserved for zdm's own objects", v)
	}
}

// Moves implements spec.Op: applications move to the new name.
func (o *RenameTable) Moves() *bool { return ptr(true) }

// Plan implements Operation.
func (o *RenameTable) Plan(e *Env) *Change {
	if !alone(e, "rename") {
		return nil
	}
	t := e.Table
	old, renamed := e.TableIdent(), quoted(t.Schema, o.To)
	var cols []string
	for _, c := range t.Columns {
		cols = append(cols, Ident(c.Name))
	}
	ch := &Change{
		Summary: fmt.Sprintf("%s renamed to %s; a view keeps the old name working until contract", t, o.To),
		Expand: []plan.Statement{{ID: "expand/rename-table/" + o.To, SQL: renameWithView(old, renamed, cols),
			Lock: plan.LockBriefExclusive,
			Note: "one transaction: the table takes the new name and a view (security_invoker, with the table's privileges) the old one; writes through either name reach the same rows"}},
		Rollback: []plan.Statement{
			{ID: "rollback/drop-view/" + t.Name, SQL: dropOwnView(old), Lock: plan.LockBriefExclusive},
			{ID: "rollback/rename-table/" + t.Name, SQL: fmt.Sprintf("ALTER TABLE IF EXISTS %s RENAME TO %s", renamed, Ident(t.Name)), Lock: plan.LockBriefExclusive},
		},
		Contract: []plan.Statement{{ID: "contract/drop-view/" + t.Name, SQL: dropOwnView(old), Lock: "ACCESS EXCLUSIVE on the view, brief (the table is not locked)",
			Note: "from here, code that still uses " + t.Name + " fails"}},
		Touches: []string{t.Schema + "." + o.To},
		Notes: []string{
			fmt.Sprintf("until contract, %s is a view over %s: code using it reads and writes the table, with its defaults, triggers and policies", t.Name, o.To),
			"functions and other code that name the table follow the view until contract; code that locks it, alters it or uses it in ON CONFLICT ... ON CONSTRAINT must move to the new name first",
		},
	}
	if !e.Resuming {
		ch.Checks = append(ch.Checks, nameFree(e.Path("to"), e.Field, t.Schema, o.To, "rename_table needs a free name"))
	}
	return ch
}

// renameWithView renames the table old to renamed (both quoted, qualified) and creates,
// in the same statement, the view under the old name with the table's privileges, its
// table-wide and column ones. A retried statement finds the new name taken and does
// nothing.
func renameWithView(old, renamed string, cols []string) string {
	_, newName, _ := strings.Cut(renamed, ".")
	return fmt.Sprintf(`DO $zdm$
DECLARE
  g record;
BEGIN
  IF to_regclass(%[1]s) IS NOT NULL THEN
    RETURN;
  END IF;
  ALTER TABLE %[2]s RENAME TO %[3]s;
  CREATE VIEW %[2]s WITH (security_invoker = true) AS SELECT %[4]s FROM %[5]s;
  FOR g IN
    SELECT x.privilege_type AS priv, NULL::name AS col, x.grantee, x.is_grantable
      FROM pg_class c, aclexplode(c.relacl) x WHERE c.oid = %[1]s::regclass
    UNION ALL
    SELECT x.privilege_type, a.attname, x.grantee, x.is_grantable
      FROM pg_attribute a, aclexplode(a.attacl) x
      WHERE a.attrelid = %[1]s::regclass AND a.attnum > 0 AND NOT a.attisdropped
  LOOP
    EXECUTE format('GRANT %%s%%s ON %%s TO %%s%%s', g.priv, coalesce(' (' || quote_ident(g.col) || ')', ''), %[6]s,
      CASE WHEN g.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(pg_get_userbyid(g.grantee)) END,
      CASE WHEN g.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END);
  END LOOP;
END $zdm$`, Literal(renamed), old, newName, strings.Join(cols, ", "), renamed, Literal(old))
}

// dropOwnView drops the view rename_table put under the table's old name (quoted,
// qualified), and nothing else of that name: before expand, it is the table.
func dropOwnView(old string) string {
	return fmt.Sprintf(`DO $zdm$ BEGIN
  IF (SELECT relkind FROM pg_class WHERE oid = to_regclass(%s)) = 'v' THEN
    DROP VIEW %s;
  END IF;
END $zdm$`, Literal(old), old)
}

// Shape implements Shaper: later operations see the table under its new name only.
func (o *RenameTable) Shape(e *Env, _ *Change, s *Shapes) {
	if e.Table == nil {
		return
	}
	t := *e.Table
	t.Name = o.To
	s.RemoveTable(e.TableName, e.Field)
	s.AddTable(&t)
}

// Undo implements Undoer: the compatibility view is kept until finalize; the rollback
// renames the table back and drops the view.
func (o *RenameTable) Undo(_ *Env, ch *Change) *Undo {
	return &Undo{
		Says:     "the view under the old name is kept until finalize drops it; revert renames the table back, with every row",
		Finalize: withPrefix(ch.Contract, "finalize/"),
	}
}
