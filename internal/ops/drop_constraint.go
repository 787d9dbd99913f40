package ops

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/zdmhq/zdm/internal/plan"
	"github.com/zdmhq/zdm/internal/schema"
	"github.com/zdmhq/zdm/internal/spec"
)

// DropConstraint drops a CHECK, UNIQUE, FOREIGN KEY, EXCLUDE or PRIMARY KEY constraint
// of the operation's table at contract. Until then it keeps guarding the table, so the
// migration can roll back with nothing to undo.
type DropConstraint struct {
	Name string `yaml:"name" json:"name"`
}

func init() { spec.RegisterOp("drop_constraint", func() spec.Op { return &DropConstraint{} }) }

var _ Operation = (*DropConstraint)(nil)

// CheckFile implements spec.Op: a constraint claims no column.
func (o *DropConstraint) CheckFile(c *spec.OpCheck) { constraintName(c, "name", o.Name) }

// Moves implements spec.Op: applications need no switch.
func (o *DropConstraint) Moves() *bool { return nil }

// notNullName is how people name a NOT NULL, which PostgreSQL 15 keeps on the column.
var notNullName = regexp.MustCompile(`(?i)^(.+?)_?not_?null$`)

// Plan implements Operation.
func (o *DropConstraint) Plan(e *Env) *Change {
	con := e.Table.Constraint(o.Name)
	if con == nil {
		if col := o.notNullColumn(e.Table); col != "" {
			e.Errorf("name", fmt.Sprintf("use drop_not_null: {column: %s}", col),
				"NOT NULL is not a constraint in PostgreSQL 15 but a property of column %q: %s has no constraint %q", col, e.Table, o.Name)
		} else {
			e.Errorf("name", "use one of the table's constraints: "+constraintList(e.Table),
				"%s has no constraint %q", e.Table, o.Name)
		}
		return nil
	}
	kind := constraintKinds[con.Type]
	switch {
	case con.Type == "t":
		e.Errorf("name", "drop the trigger by hand (DROP TRIGGER)", "%s is a constraint trigger, not a table constraint", o.Name)
	case con.Inherited:
		e.Errorf("name", "drop it on the parent table", "%s on %s is inherited from a parent table", o.Name, e.Table)
	}
	if con.Type == "u" || con.Type == "p" {
		o.dependents(e, con)
		if con.ReplicaIdentity {
			e.Errorf("name", fmt.Sprintf("choose another replica identity first: ALTER TABLE %s REPLICA IDENTITY FULL, or USING INDEX another unique index", e.TableIdent()),
				"the index of %s is %s's replica identity: logical replication of updates and deletes would stop", o.Name, e.Table)
		}
		if con.Type == "p" && e.Table.ReplicaIdentity == "d" && len(e.Table.Publications) > 0 {
			e.Errorf("name", fmt.Sprintf("give the table another replica identity first: ALTER TABLE %s REPLICA IDENTITY USING INDEX (a unique index over NOT NULL columns) or FULL", e.TableIdent()),
				"%s is published (%s) with the primary key as its replica identity: without it every UPDATE and DELETE would fail", e.Table, strings.Join(e.Table.Publications, ", "))
		}
	}
	if len(e.Errs) > 0 {
		return nil
	}

	tbl := e.TableIdent()
	lock := plan.LockBriefExclusive
	ch := &Change{
		Summary:  fmt.Sprintf("%s %s of %s dropped at contract: %s", kind, o.Name, e.Table, con.Def),
		Contract: []plan.Statement{dropConstraint("contract", tbl, o.Name, lock)},
	}
	switch con.Type {
	case "c":
		ch.Notes = append(ch.Notes, "until contract the check keeps refusing writes that break it")
	case "f":
		if con.References != e.Table.String() {
			ch.Touches = []string{con.References}
			ch.Contract[0].Lock = fmt.Sprintf("ACCESS EXCLUSIVE on %s and %s, brief (catalog only)", e.Table, con.References)
		}
		ch.Notes = append(ch.Notes, fmt.Sprintf("until contract the foreign key keeps refusing writes without a matching row in %s, and applies its actions", con.References))
	case "u", "p", "x":
		ch.Notes = append(ch.Notes, fmt.Sprintf("dropping %s drops its index %s: queries that read it scan instead", o.Name, con.Index))
	}
	if con.Type == "p" {
		ch.Notes = append(ch.Notes, o.keyNote(e.Table, con))
	}
	return ch
}

// notNullColumn is the NOT NULL column a name that is no constraint seems to mean:
// accounts_name_not_null, name_notnull, or the column's own name.
func (o *DropConstraint) notNullColumn(t *schema.Table) string {
	names := []string{o.Name}
	if m := notNullName.FindStringSubmatch(o.Name); m != nil {
		names = append(names, m[1], strings.TrimPrefix(m[1], t.Name+"_"))
	}
	for _, n := range names {
		if c := t.Column(n); c != nil && c.NotNull {
			return c.Name
		}
	}
	return ""
}

// dependents refuses a key that foreign keys rely on (PostgreSQL would refuse the
// drop), unless this migration drops each of them earlier.
func (o *DropConstraint) dependents(e *Env, con *schema.Constraint) {
	var left []string
	for _, fk := range con.ReferencedBy {
		if !droppedBefore(e, fk) {
			left = append(left, fmt.Sprintf("%s of %s", fk.Name, fk.Table))
		}
	}
	if len(left) == 0 {
		return
	}
	e.Errorf("name", "drop the foreign key(s) first: a drop_constraint of each (with `table:` naming its table) before this one, or a migration of their own",
		"foreign key(s) %s rely on %s: PostgreSQL refuses to drop it while they exist", strings.Join(left, ", "), o.Name)
}

// droppedBefore says whether an operation of this migration before the current one
// drops constraint fk: its drop comes first in the one contract transaction.
func droppedBefore(e *Env, fk schema.ConstraintRef) bool {
	for i, op := range e.M.Operations[:opIndexOf(e)] {
		if d, ok := op.Op.(*DropConstraint); ok && d.Name == fk.Name && e.M.TableOf(i) == fk.Table {
			return true
		}
	}
	return false
}

// keyNote says what a table left without its primary key means for zdm.
func (o *DropConstraint) keyNote(t *schema.Table, con *schema.Constraint) string {
	for _, ix := range t.Indexes {
		if ix.Name == con.Index || !ix.Unique || !ix.Valid || ix.Partial {
			continue
		}
		ok := true
		for _, c := range ix.Columns {
			if col := t.Column(c); col == nil || !col.NotNull {
				ok = false
			}
		}
		if ok {
			return fmt.Sprintf("without its primary key, zdm pages %s by unique index %s in later migrations", t, ix.Name)
		}
	}
	return fmt.Sprintf("without a primary key or a unique index over NOT NULL columns, zdm cannot page %s in later migrations that backfill it", t)
}

// Undo implements Undoer. A CHECK or FOREIGN KEY is dropped at contract, as without a
// window (keeping it would keep refusing the writes the migration is for), and revert
// adds it back NOT VALID: enforced for new writes from then on, rows written during the
// window not checked. A UNIQUE, PRIMARY KEY or EXCLUDE constraint cannot come back
// without an index build that the window's writes may make fail.
func (o *DropConstraint) Undo(e *Env, ch *Change) *Undo {
	con := e.Table.Constraint(o.Name)
	if con.Type != "c" && con.Type != "f" {
		return cannotUndo(fmt.Sprintf("%s %s needs its index built again, which rows written during the window may break", constraintKinds[con.Type], o.Name),
			"move drop_constraint to a migration without undo_window")
	}
	def := con.Def
	if !strings.HasSuffix(def, " NOT VALID") {
		def += " NOT VALID"
	}
	tbl := e.TableIdent()
	return &Undo{
		Says:     fmt.Sprintf("revert adds %s back NOT VALID (checked for new writes), then validates it where no row written during the window breaks it; where one does, it stays NOT VALID", o.Name),
		Contract: ch.Contract,
		Revert: []plan.Statement{{ID: "revert/add-constraint/" + o.Name, SQL: addConstraint(tbl, o.Name, def),
			Lock: ch.Contract[0].Lock, Note: "NOT VALID: no scan"},
			{ID: "revert/validate/" + o.Name, SQL: fmt.Sprintf(`DO $zdm$ BEGIN
  ALTER TABLE %s VALIDATE CONSTRAINT %s;
EXCEPTION WHEN check_violation OR foreign_key_violation THEN
  RAISE NOTICE 'zdm: constraint %% stays NOT VALID: rows written during the undo window break it', %s;
END $zdm$`, tbl, Ident(o.Name), Literal(o.Name)),
				Lock: plan.LockShareUpdExcl, Scans: true, Concurrent: true,
				Note: "after the revert transaction, on its own: reads and writes go on; a row that breaks it leaves it NOT VALID rather than failing the revert"}},
	}
}
