package ops

import (
	"fmt"
	"strings"

	"github.com/zdmhq/zdm/internal/plan"
	"github.com/zdmhq/zdm/internal/spec"
)

// DropIndex drops an index of the operation's table CONCURRENTLY at contract: nothing
// changes before, so the migration can be rolled back until then. A concurrent drop
// cannot be rehearsed in a transaction, so whatever would make it fail is refused at
// plan: an index that is not there, one that backs a constraint, the replica identity,
// one a foreign key relies on.
type DropIndex struct {
	Name string `yaml:"name" json:"name"`
}

func init() { spec.RegisterOp("drop_index", func() spec.Op { return &DropIndex{} }) }

var _ Operation = (*DropIndex)(nil)

// CheckFile implements spec.Op.
func (o *DropIndex) CheckFile(c *spec.OpCheck) {
	c.Required("name", o.Name, "`name: accounts_email_idx`")
}

// Moves implements spec.Op: applications need no switch for an index.
func (o *DropIndex) Moves() *bool { return nil }

// Plan implements Operation.
func (o *DropIndex) Plan(e *Env) *Change {
	var names []string
	found := false
	for _, ix := range e.Table.Indexes {
		names = append(names, ix.Name)
		if ix.Name != o.Name {
			continue
		}
		found = true
		switch {
		case ix.Primary || ix.ConstraintType == "p":
			e.Errorf("name", "use drop_constraint (zdm pages the table by its primary key: keep one)", "index %s backs the primary key of %s", o.Name, e.Table)
		case ix.ConstraintType != "":
			e.Errorf("name", "use drop_constraint: the index goes with its constraint", "index %s backs the %s constraint %s", o.Name, constraintKind(ix.ConstraintType), ix.Constraint)
		}
	}
	if !found && !e.Resuming {
		fix := "the table has no index"
		if len(names) > 0 {
			fix = "use one of: " + strings.Join(names, ", ")
		}
		e.Errorf("name", fix, "index %s does not exist on %s", o.Name, e.Table)
	}
	if len(e.Errs) > 0 {
		return nil
	}
	index := quoted(e.Table.Schema, o.Name)
	return &Change{
		Summary: fmt.Sprintf("index %s on %s dropped CONCURRENTLY at contract", o.Name, e.Table),
		Contract: []plan.Statement{{ID: "contract/drop-index/" + o.Name, SQL: "DROP INDEX CONCURRENTLY IF EXISTS " + index,
			Lock: plan.LockShareUpdExcl, Concurrent: true,
			Note: "after the contract transaction, on its own: reads and writes go on while it waits for transactions using the index"}},
		Checks: []plan.Check{{Field: e.Path("name"), Group: e.Field, SQL: indexDroppable(index),
			Fix: "make another index the replica identity (ALTER TABLE ... REPLICA IDENTITY USING INDEX) or drop what relies on it first (drop_constraint for a foreign key)"}},
		Notes: []string{"nothing changes before contract: queries that rely on the index stay fast, and rollback has nothing to undo"},
	}
}

// indexDroppable is a plan-time check that fails, naming the reason, when DROP INDEX
// of index (quoted, qualified) would fail or break something: it is the table's replica
// identity, or another object (a foreign key over a unique index) depends on it.
func indexDroppable(index string) string {
	return fmt.Sprintf(`DO $zdm$
DECLARE
  ix regclass := to_regclass(%[1]s);
  what text;
BEGIN
  IF ix IS NULL THEN
    RETURN;
  END IF;
  IF (SELECT indisreplident FROM pg_index WHERE indexrelid = ix) THEN
    RAISE EXCEPTION 'index %% is the replica identity of its table: logical replication identifies rows by it', ix;
  END IF;
  SELECT string_agg(pg_describe_object(classid, objid, objsubid), ', ') INTO what
    FROM pg_depend WHERE refclassid = 'pg_class'::regclass AND refobjid = ix AND deptype = 'n';
  IF what IS NOT NULL THEN
    RAISE EXCEPTION 'index %% is needed by %%', ix, what;
  END IF;
END $zdm$`, Literal(index))
}

// constraintKind names a pg_constraint.contype.
func constraintKind(t string) string {
	switch t {
	case "p":
		return "PRIMARY KEY"
	case "u":
		return "UNIQUE"
	case "x":
		return "EXCLUDE"
	case "f":
		return "FOREIGN KEY"
	case "c":
		return "CHECK"
	}
	return t
}

// Undo implements Undoer: the index is kept (and still maintained on every write, and
// still enforcing uniqueness if it is unique) until finalize drops it.
func (o *DropIndex) Undo(_ *Env, ch *Change) *Undo {
	return &Undo{
		Says:     "the index " + o.Name + " is kept, and still maintained on every write (and enforced, if unique), until finalize drops it; revert has nothing to do",
		Finalize: withPrefix(ch.Contract, "finalize/"),
	}
}
