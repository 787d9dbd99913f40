package ops

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/zdmhq/zdm/internal/plan"
	"github.com/zdmhq/zdm/internal/schema"
	"github.com/zdmhq/zdm/internal/spec"
)

// AddForeignKey adds a foreign key from the operation's table (the referencing one)
// without blocking writes while rows are checked: NOT VALID at expand (a brief SHARE
// ROW EXCLUSIVE lock on both tables; new writes are checked from then on), VALIDATE
// after expand (reads and writes on both tables go on; an orphan row fails the
// migration there, before any gate, and it rolls back). Contract has nothing left to
// do; rollback drops the constraint.
type AddForeignKey struct {
	Name    string   `yaml:"name" json:"name"`
	Columns []string `yaml:"columns" json:"columns"`
	Target  FKTarget `yaml:"references" json:"references"`
	// OnDelete and OnUpdate are the referential actions: NO ACTION (default),
	// RESTRICT, CASCADE, SET NULL or SET DEFAULT.
	OnDelete          string `yaml:"on_delete" json:"on_delete,omitempty"`
	OnUpdate          string `yaml:"on_update" json:"on_update,omitempty"`
	Deferrable        bool   `yaml:"deferrable" json:"deferrable,omitempty"`
	InitiallyDeferred bool   `yaml:"initially_deferred" json:"initially_deferred,omitempty"`
}

// FKTarget is the referenced table and its columns.
type FKTarget struct {
	// Table is schema.name, or name in public.
	Table   string   `yaml:"table" json:"table"`
	Columns []string `yaml:"columns" json:"columns"`
}

func init() { spec.RegisterOp("add_foreign_key", func() spec.Op { return &AddForeignKey{} }) }

var (
	_ Operation  = (*AddForeignKey)(nil)
	_ Referencer = (*AddForeignKey)(nil)
)

// referentialActions are the actions PostgreSQL takes, as it writes them.
var referentialActions = []string{"NO ACTION", "RESTRICT", "CASCADE", "SET NULL", "SET DEFAULT"}

var referencedTableRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_$]*(\.[A-Za-z_][A-Za-z0-9_$]*)?$`)

// action is a referential action as PostgreSQL writes it, NO ACTION when unset.
func action(v string) string {
	a := strings.ToUpper(strings.Join(strings.Fields(v), " "))
	if a == "" {
		return "NO ACTION"
	}
	return a
}

// References implements Referencer: the referenced table is inspected too.
func (o *AddForeignKey) References() []string {
	if !referencedTableRE.MatchString(o.Target.Table) {
		return nil
	}
	sch, name := spec.SplitTable(o.Target.Table)
	return []string{sch + "." + name}
}

// CheckFile implements spec.Op: a constraint claims no column.
func (o *AddForeignKey) CheckFile(c *spec.OpCheck) {
	constraintName(c, "name", o.Name)
	columnList(c, "columns", o.Columns, "[customer_id]")
	switch {
	case o.Target.Table == "":
		c.Errorf("references.table", "name the referenced table, e.g. `references: {table: public.customers, columns: [id]}`", "is required")
	case !referencedTableRE.MatchString(o.Target.Table):
		c.Errorf("references.table", "write it as schema.table or table, e.g. public.customers", "%q is not a table name", o.Target.Table)
	}
	columnList(c, "references.columns", o.Target.Columns, "[id]")
	if len(o.Target.Columns) > 0 && len(o.Columns) != len(o.Target.Columns) {
		c.Errorf("references.columns", "list one referenced column for each of columns, in the same order",
			"%d referenced column(s) for %d column(s)", len(o.Target.Columns), len(o.Columns))
	}
	for sub, v := range map[string]string{"on_delete": o.OnDelete, "on_update": o.OnUpdate} {
		if !slices.Contains(referentialActions, action(v)) {
			c.Errorf(sub, "use one of: "+strings.Join(referentialActions, ", "), "%q is not a referential action", v)
		}
	}
}

// Moves implements spec.Op: applications need no switch; they must already write only
// keys that exist.
func (o *AddForeignKey) Moves() *bool { return nil }

// Plan implements Operation.
func (o *AddForeignKey) Plan(e *Env) *Change {
	names := o.References()
	if len(names) == 0 {
		return nil // CheckFile refused the name
	}
	target := names[0]
	ref := e.Lookup(target)
	if ref == nil {
		e.Errorf("references.table", "create the referenced table first, or check its schema and name",
			"the referenced table %s does not exist", target)
		return nil
	}
	if ref.Kind == "a temporary table" {
		e.Errorf("references.table", "reference a permanent table", "%s is a temporary table: a foreign key of a permanent table cannot reference it", ref)
		return nil
	}
	var cols []*schema.Column
	for i, name := range o.Columns {
		cols = append(cols, e.Column(fmt.Sprintf("columns[%d]", i), name))
	}
	var refCols []*schema.Column
	for i, name := range o.Target.Columns {
		c := ref.Column(name)
		if c == nil {
			e.Errorf(fmt.Sprintf("references.columns[%d]", i), "use one of: "+strings.Join(VisibleColumns(ref), ", "), "column %q does not exist in %s", name, ref)
		}
		refCols = append(refCols, c)
	}
	freeConstraintName(e, "name", o.Name)
	if len(e.Errs) > 0 {
		return nil
	}
	key := uniqueOver(ref, o.Target.Columns, true)
	if key == nil {
		if d := uniqueOver(ref, o.Target.Columns, false); d != nil {
			e.Errorf("references.columns", fmt.Sprintf("make %s NOT DEFERRABLE, or add a unique constraint over (%s) that is not", d.Constraint, strings.Join(o.Target.Columns, ", ")),
				"%s (%s) is unique only through %s, which is %s: PostgreSQL cannot check a foreign key against a deferrable key",
				ref, strings.Join(o.Target.Columns, ", "), d.Constraint, d.Deferrable)
			return nil
		}
		e.Errorf("references.columns", fmt.Sprintf("add a primary key or unique constraint on %s (%s) first (add_unique)", ref, strings.Join(o.Target.Columns, ", ")),
			"%s (%s) is not a primary key or unique constraint: PostgreSQL requires a foreign key's referenced columns to be one",
			ref, strings.Join(o.Target.Columns, ", "))
		return nil
	}
	onDelete, onUpdate := action(o.OnDelete), action(o.OnUpdate)
	for sub, a := range map[string]string{"on_delete": onDelete, "on_update": onUpdate} {
		if a != "SET NULL" {
			continue
		}
		for _, c := range cols {
			if c.NotNull {
				e.Errorf(sub, fmt.Sprintf("use another action, or drop NOT NULL on %s first (drop_not_null)", c.Name),
					"SET NULL on column %q, which is NOT NULL: every %s of a referenced row would fail", c.Name, strings.TrimPrefix(sub, "on_"))
			}
		}
	}
	if len(e.Errs) > 0 {
		return nil
	}

	tbl := e.TableIdent()
	def := fmt.Sprintf("FOREIGN KEY (%s) REFERENCES %s (%s) ON DELETE %s ON UPDATE %s", quotedList(o.Columns), ref.Ident(),
		quotedList(o.Target.Columns), onDelete, onUpdate)
	if d := deferrable(o.Deferrable, o.InitiallyDeferred); d != "" {
		def += " " + d
	}
	both := fmt.Sprintf("SHARE ROW EXCLUSIVE on %s and %s, brief (blocks their writes while held)", e.Table, ref)
	validateLock := fmt.Sprintf("SHARE UPDATE EXCLUSIVE on %s, ROW SHARE on %s (reads and writes go on)", e.Table, ref)
	dropLock := fmt.Sprintf("ACCESS EXCLUSIVE on %s and %s, brief (catalog only)", e.Table, ref)
	if ref.String() == e.Table.String() {
		both, validateLock, dropLock = plan.LockShareRowExcl, plan.LockShareUpdExcl, plan.LockBriefExclusive
	}
	ch := &Change{
		Summary: fmt.Sprintf("FOREIGN KEY %s (%s) -> %s (%s) on delete %s, on update %s: NOT VALID at expand, validated after",
			o.Name, strings.Join(o.Columns, ", "), ref, strings.Join(o.Target.Columns, ", "), strings.ToLower(onDelete), strings.ToLower(onUpdate)),
		AfterSync: []plan.Statement{{ID: "expand/add-foreign-key/" + o.Name, SQL: addConstraint(tbl, o.Name, def+" NOT VALID"), Lock: both,
			Note: "NOT VALID: from here every write is checked; existing rows are validated next"}},
		Validate: []plan.Statement{validateConstraint(tbl, o.Name, validateLock,
			"reads and writes go on; an orphan row fails the migration here, before any gate, and it rolls back")},
		Rollback: []plan.Statement{dropConstraint("rollback", tbl, o.Name, dropLock)},
		Checks:   []plan.Check{fkTypes(e, ref, key, o)},
		Notes: []string{
			fmt.Sprintf("from expand on, a write into %s whose (%s) is not in %s fails (23503): applications must already write only existing keys",
				e.Table, strings.Join(o.Columns, ", "), ref),
			fmt.Sprintf("from expand on, deleting or updating a referenced key of %s is %s", ref, consequence(onDelete, onUpdate, e.Table.String())),
		},
	}
	if ref.String() != e.Table.String() {
		ch.Touches = []string{ref.String()}
	}
	if !indexed(e.Table, o.Columns) {
		ch.Notes = append(ch.Notes, fmt.Sprintf("no index of %s starts with (%s): every delete or key update in %s scans %s; consider a create_index on them first",
			e.Table, strings.Join(o.Columns, ", "), ref, e.Table))
	}
	if onDelete == "SET DEFAULT" || onUpdate == "SET DEFAULT" {
		ch.Notes = append(ch.Notes, "SET DEFAULT fails when the columns' defaults are not themselves a referenced key")
	}
	return ch
}

// consequence says what deletes and key updates on the referenced table do.
func consequence(onDelete, onUpdate, referencing string) string {
	say := func(a string) string {
		switch a {
		case "CASCADE":
			return "carried to the rows of " + referencing + " (CASCADE)"
		case "SET NULL", "SET DEFAULT":
			return "followed by " + a + " on the rows of " + referencing
		}
		return "refused while rows of " + referencing + " hold it (" + a + ")"
	}
	if onDelete == onUpdate {
		return say(onDelete)
	}
	return "a delete: " + say(onDelete) + "; a key update: " + say(onUpdate)
}

// fkTypes is the plan check that each referencing column can be compared with its
// referenced one the way PostgreSQL implements the key: an equality operator of the
// referenced unique index's operator family between the two types, or an implicit cast
// of the referencing type to the index's. (An = that works by casting the referenced
// side, numeric = integer, is not enough.)
func fkTypes(e *Env, ref *schema.Table, key *schema.Index, o *AddForeignKey) plan.Check {
	var conds, names []string
	for i, col := range o.Columns {
		refCol := o.Target.Columns[i]
		pos := slices.Index(key.Columns, refCol)
		fk := Literal(e.Table.Column(col).Type)
		conds = append(conds, fmt.Sprintf(`(SELECT
      EXISTS (SELECT 1 FROM pg_amop WHERE amopfamily = oc.opcfamily AND amoplefttype = oc.opcintype AND amoprighttype = b.t AND amopstrategy = 3)
      OR b.t = oc.opcintype
      OR EXISTS (SELECT 1 FROM pg_cast WHERE castsource = b.t AND casttarget = oc.opcintype AND castcontext = 'i')
      OR (SELECT typtype = 'p' FROM pg_type WHERE oid = oc.opcintype)
    FROM pg_index i JOIN pg_opclass oc ON oc.oid = i.indclass[%d],
      (SELECT CASE WHEN typtype = 'd' THEN typbasetype ELSE oid END AS t FROM pg_type WHERE oid = %s::regtype) b
    WHERE i.indexrelid = %s::regclass)`, pos, fk, Literal(quoted(ref.Schema, key.Name))))
		names = append(names, fmt.Sprintf("%s (%s) and %s (%s)", col, e.Table.Column(col).Type, refCol, ref.Column(refCol).Type))
	}
	return plan.Check{Field: e.Path("columns"), Group: e.Field,
		SQL: fmt.Sprintf(`DO $zdm$ BEGIN
  IF NOT (%s) THEN
    RAISE EXCEPTION 'key columns %s are of incompatible types';
  END IF;
END $zdm$`, strings.Join(conds, "\n    AND "), strings.ReplaceAll(strings.Join(names, ", "), "'", "''")),
		Fix: "give the referencing columns the referenced columns' types (change_type), e.g. bigint for a bigint key"}
}

// Shape implements Shaper: later operations see the constraint (a drop_constraint).
func (o *AddForeignKey) Shape(e *Env, _ *Change, s *Shapes) {
	var ref string
	if names := o.References(); len(names) > 0 {
		ref = names[0]
	}
	s.AddConstraint(e.Table, schema.Constraint{Name: o.Name, Type: "f", Columns: o.Columns, References: ref, Validated: true}, e.Field)
}

// Undo implements Undoer: contract changes nothing; revert drops the foreign key.
func (o *AddForeignKey) Undo(_ *Env, ch *Change) *Undo {
	return undoByRollback(ch, "revert drops the foreign key "+o.Name)
}
