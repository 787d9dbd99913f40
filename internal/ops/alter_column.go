package ops

import (
	"fmt"
	"strings"

	"github.com/zdmhq/zdm/internal/plan"
	"github.com/zdmhq/zdm/internal/schema"
	"github.com/zdmhq/zdm/internal/spec"
)

// AlterColumn makes several changes to one column at once (type, nullability, default,
// a CHECK, a UNIQUE constraint) with one shadow column and one backfill: the shadow is
// filled from the old column through Up, kept in step both ways while old and new code
// run, gets the new constraints NOT VALID and its unique index CONCURRENTLY, and takes
// the column's name at contract, with everything attached to the old column carried
// over.
type AlterColumn struct {
	Column string `yaml:"column" json:"column"`
	// Type is the new type; empty keeps the column's type.
	Type string `yaml:"type" json:"type,omitempty"`
	// Up computes the new value from the old row (default: the column, cast); Down the
	// old value from a write of the new one (default: the new value, cast back).
	Up   string `yaml:"up" json:"up,omitempty"`
	Down string `yaml:"down" json:"down,omitempty"`
	// NotNull, when set, makes the column NOT NULL (true) or nullable (false).
	NotNull *bool `yaml:"not_null" json:"not_null,omitempty"`
	// Default, when set, is the column's new default; DropDefault removes it.
	Default     string `yaml:"default" json:"default,omitempty"`
	DropDefault bool   `yaml:"drop_default" json:"drop_default,omitempty"`
	// Check adds a CHECK constraint over the column (written with its name).
	Check *AlterCheck `yaml:"check" json:"check,omitempty"`
	// Unique adds a UNIQUE constraint on the column.
	Unique *AlterUnique `yaml:"unique" json:"unique,omitempty"`

	// kind names the operation in the plan (change_type plans as an alter_column of
	// the type alone).
	kind string
}

// AlterCheck is the CHECK an alter_column adds.
type AlterCheck struct {
	Name       string `yaml:"name" json:"name"`
	Constraint string `yaml:"constraint" json:"constraint"`
}

// AlterUnique is the UNIQUE constraint an alter_column adds.
type AlterUnique struct {
	Name string `yaml:"name" json:"name"`
}

func init() { spec.RegisterOp("alter_column", func() spec.Op { return &AlterColumn{} }) }

var _ Operation = (*AlterColumn)(nil)

// CheckFile implements spec.Op.
func (o *AlterColumn) CheckFile(c *spec.OpCheck) {
	c.Ident("column", o.Column)
	c.Claim("column", o.Column)
	if o.Type == "" && o.NotNull == nil && o.Default == "" && !o.DropDefault && o.Check == nil && o.Unique == nil {
		c.Errorf("", "give at least one of type, not_null, default, drop_default, check, unique", "changes nothing")
	}
	if o.Default != "" && o.DropDefault {
		c.Errorf("drop_default", "keep default or drop_default, not both", "contradicts default")
	}
	if o.Check != nil {
		c.Ident("check.name", o.Check.Name)
		c.Required("check.constraint", o.Check.Constraint, "`constraint: \"price >= 0\"`")
	}
	if o.Unique != nil {
		c.Ident("unique.name", o.Unique.Name)
	}
}

// Moves implements spec.Op: the new column takes the old name.
func (o *AlterColumn) Moves() *bool { return ptr(false) }

// Plan implements Operation.
func (o *AlterColumn) Plan(e *Env) *Change {
	shadow := ShadowName(o.Column)
	e.Fresh("column", shadow)
	c := e.Column("column", o.Column)
	if c == nil {
		return nil
	}
	var typ *schema.Type
	if strings.TrimSpace(o.Type) != "" {
		typ = e.Type("type", o.Type)
	} else {
		typ = e.Type("column", c.Type)
	}
	up, down := Ident(o.Column), Ident(o.Column)
	if strings.TrimSpace(o.Up) != "" {
		up = e.Expr("up", o.Up)
	}
	if strings.TrimSpace(o.Down) != "" {
		down = e.Expr("down", o.Down)
	}
	def := ""
	if strings.TrimSpace(o.Default) != "" {
		def = e.Expr("default", o.Default)
	}
	var check, written string
	if o.Check != nil {
		if v := e.Expr("check.constraint", o.Check.Constraint); v != "" {
			written = v
			x, err := renameColumn(v, o.Column, shadow)
			if err != nil {
				e.Errorf("check.constraint", "write one boolean expression over the column", "%s", err)
			}
			check = x
		}
		e.freshConstraint("check.name", o.Check.Name)
	}
	if o.Unique != nil {
		e.freshConstraint("unique.name", o.Unique.Name)
	}
	if typ == nil || !movable(e, "column", c) || len(e.Errs) > 0 {
		return nil
	}
	notNull := c.NotNull
	if o.NotNull != nil {
		notNull = *o.NotNull
	}
	kind := o.kind
	if kind == "" {
		kind = "alter_column"
	}
	switch {
	case kind == "change_type" && typ.Name == c.Type:
		e.Errorf("type", "nothing to do: remove this operation", "column %q is already of type %s", o.Column, c.Type)
		return nil
	case typ.Name == c.Type && notNull == c.NotNull && def == "" && !o.DropDefault && o.Check == nil && o.Unique == nil && o.Up == "":
		e.Errorf("", "remove this operation, or say what changes", "column %q already is %s%s: nothing to do", o.Column, c.Type, map[bool]string{true: " NOT NULL"}[c.NotNull])
		return nil
	}
	r := replacement{sub: "column", old: c, newName: shadow, final: o.Column, newType: typ}
	sync := &plan.Op{Kind: kind, Field: e.Field, Old: o.Column, New: shadow, Final: o.Column,
		OldType: c.Type, NewType: typ.Name, Up: up, Down: down, NotNull: notNull,
		CheckName: notNullCheckName(o.Column, notNull), InPlace: true,
		NewIncomparable: !typ.Comparable, OldIncomparable: !e.comparable(c.Type), NotRecomputable: !e.recomputable(up)}
	var what []string
	if typ.Name != c.Type {
		what = append(what, c.Type+" -> "+typ.Name)
	}
	if notNull != c.NotNull {
		what = append(what, map[bool]string{true: "NOT NULL", false: "nullable"}[notNull])
	}
	ch := &Change{
		Sync:   sync,
		Expand: []plan.Statement{addColumn(e, shadow, typ.Name, r.collation())},
	}
	r.carry(e, ch, sync)
	if !notNull {
		ch.Carried = dropMatching(ch.Carried, "NOT NULL")
	}
	tbl := e.TableIdent()
	switch {
	case def != "":
		sync.Default = def
		ch.Carried = dropMatching(ch.Carried, "default ")
		what = append(what, "default "+def)
		ch.Checks = append(ch.Checks, plan.Check{Field: e.Path("default"), Group: e.Field,
			SQL: fmt.Sprintf("EXPLAIN SELECT (%s)::%s", def, typ.Name), Fix: "write a default of the column's new type"})
	case o.DropDefault:
		sync.Default = ""
		ch.Carried = dropMatching(ch.Carried, "default ")
		what = append(what, "no default")
	}
	if o.Check != nil {
		ch.AfterSync = append(ch.AfterSync, plan.Statement{ID: "expand/check/" + o.Check.Name,
			SQL: AddCheckNotValid(tbl, o.Check.Name, check), Lock: plan.LockBriefExclusive,
			Note: "NOT VALID on the new column: checks new writes only (old code's through the trigger too)"})
		ch.Validate = append(ch.Validate, plan.Statement{ID: "validate/" + o.Check.Name,
			SQL:  fmt.Sprintf("ALTER TABLE %s VALIDATE CONSTRAINT %s", tbl, Ident(o.Check.Name)),
			Lock: plan.LockShareUpdExcl, Scans: true, Note: "a backfilled row that breaks it fails the migration here, before any gate"})
		ch.Rollback = append(ch.Rollback, plan.Statement{ID: "rollback/drop-check/" + o.Check.Name,
			SQL: fmt.Sprintf("ALTER TABLE %s DROP CONSTRAINT IF EXISTS %s", tbl, Ident(o.Check.Name)), Lock: plan.LockBriefExclusive})
		ch.Checks = append(ch.Checks, plan.Check{Field: e.Path("check.constraint"), Group: e.Field,
			SQL: fmt.Sprintf("EXPLAIN SELECT 1 FROM %s WHERE (%s)", tbl, written),
			Fix: "write one boolean expression over the column"})
		what = append(what, "CHECK "+o.Check.Name)
	}
	if o.Unique != nil {
		building := buildingName(o.Unique.Name)
		sync.Indexes = append(sync.Indexes, plan.CarriedIndex{Name: o.Unique.Name, Building: building, Constraint: o.Unique.Name,
			Create: fmt.Sprintf("CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS %s ON %s (%s)", Ident(building), tbl, Ident(shadow))})
		ch.Notes = append(ch.Notes, fmt.Sprintf("UNIQUE %s: its index is built CONCURRENTLY after the backfill; a duplicate fails the build there, before any gate", o.Unique.Name))
		what = append(what, "UNIQUE "+o.Unique.Name)
	}
	ch.Summary = fmt.Sprintf("%s: %s (one shadow column %s, one backfill; it takes the name at contract)", o.Column, strings.Join(what, ", "), shadow)
	ch.Contract = append([]plan.Statement{
		{ID: "contract/drop-old/" + o.Column, SQL: fmt.Sprintf("ALTER TABLE %s DROP COLUMN %s", tbl, Ident(o.Column)), Lock: plan.LockBriefExclusive},
		{ID: "contract/rename/" + shadow, SQL: fmt.Sprintf("ALTER TABLE %s RENAME COLUMN %s TO %s", tbl, Ident(shadow), Ident(o.Column)), Lock: plan.LockBriefExclusive},
	}, ch.Contract...)
	beforeDrop(ch)
	ch.Rollback = append(ch.Rollback, dropColumnRollback(e, shadow))
	ch.Checks = append(ch.Checks,
		plan.Check{Field: e.Path("up"), Group: e.Field, SQL: fmt.Sprintf("EXPLAIN SELECT (%s)::%s FROM %s", up, typ.Name, tbl)})
	if notNull && !c.NotNull {
		ch.Notes = append(ch.Notes, fmt.Sprintf("rows where up gives NULL fail the validation of the NOT NULL check before any gate: write up so that it never does (e.g. coalesce(%s, ...))", o.Column))
	}
	return ch
}

// freshConstraint reports a constraint name the table already uses (unless this run
// made it).
func (e *Env) freshConstraint(sub, name string) {
	if e.Resuming || name == "" {
		return
	}
	for _, ix := range e.Table.Indexes {
		if ix.Name == name || ix.Constraint == name {
			e.Errorf(sub, "choose another name", "%s is already taken on %s", name, e.Table)
			return
		}
	}
	// Every constraint of the table, those over no column and those an earlier
	// operation of the migration adds included.
	if e.Table.Constraint(name) != nil {
		e.Errorf(sub, "choose another name", "constraint %s already exists on %s", name, e.Table)
	}
}

// dropMatching removes the lines that start with prefix.
func dropMatching(lines []string, prefix string) []string {
	var out []string
	for _, l := range lines {
		if !strings.HasPrefix(l, prefix) {
			out = append(out, l)
		}
	}
	return out
}

// Shape implements Shaper: the column is replaced at contract; nothing may build on it.
func (o *AlterColumn) Shape(e *Env, _ *Change, s *Shapes) { s.Replace(e, o.Column) }

// Undo implements Undoer: the old column is renamed aside and kept equal to down over
// the new one.
func (o *AlterColumn) Undo(e *Env, ch *Change) *Undo {
	c := e.Table.Column(o.Column)
	return replacement{sub: "column", old: c, newName: ShadowName(o.Column), final: o.Column}.undo(e, ch, ch.Sync)
}
