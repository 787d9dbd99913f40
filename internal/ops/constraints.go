package ops

// What the constraint operations (add_check, add_unique, add_foreign_key,
// drop_constraint) share: names, the idempotent ADD, and the catalog questions.

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/zdmhq/zdm/internal/plan"
	"github.com/zdmhq/zdm/internal/schema"
	"github.com/zdmhq/zdm/internal/spec"
)

// maxIdentBytes is PostgreSQL's limit on a name (NAMEDATALEN - 1): a longer one is cut,
// silently, and would no longer match the name the migration gives.
const maxIdentBytes = 63

// constraintName checks the name of a constraint or index the operation names: any
// name PostgreSQL keeps as written (zdm quotes it), not one of zdm's own.
func constraintName(c *spec.OpCheck, sub, v string) {
	switch {
	case strings.TrimSpace(v) == "":
		c.Errorf(sub, "add the "+sub+" field, e.g. `name: accounts_balance_positive`", "is required")
	case len(v) > maxIdentBytes:
		c.Errorf(sub, "use a name of at most 63 bytes", "%q is longer than PostgreSQL keeps a name", v)
	case strings.ContainsRune(v, 0):
		c.Errorf(sub, "remove the NUL character", "%q is not a name PostgreSQL can hold", v)
	case strings.HasPrefix(v, "_zdm"):
		c.Errorf(sub, "choose a name that does not start with _zdm", "%q is reserved for zdm's own objects", v)
	}
}

// columnList checks a list of plain column names, none twice.
func columnList(c *spec.OpCheck, sub string, cols []string, example string) {
	if len(cols) == 0 {
		c.Errorf(sub, "list the columns, e.g. `"+sub+": "+example+"`", "is required")
	}
	for i, col := range cols {
		c.Ident(fmt.Sprintf("%s[%d]", sub, i), col)
		if slices.Index(cols, col) < i {
			c.Errorf(fmt.Sprintf("%s[%d]", sub, i), "list each column once", "column %q is listed twice", col)
		}
	}
}

// constraintKinds names contype values as a person writes them.
var constraintKinds = map[string]string{"c": "CHECK", "u": "UNIQUE", "p": "PRIMARY KEY", "f": "FOREIGN KEY", "x": "EXCLUDE", "t": "constraint trigger"}

// constraintList lists the table's constraints as "name (KIND)", for fixes.
func constraintList(t *schema.Table) string {
	var out []string
	for _, c := range t.Constraints {
		out = append(out, fmt.Sprintf("%s (%s)", c.Name, constraintKinds[c.Type]))
	}
	if len(out) == 0 {
		return "none"
	}
	return strings.Join(out, ", ")
}

// freeConstraintName reports a constraint name the table already holds (PostgreSQL
// keeps one constraint of a name per table), unless this run added it, or that an
// earlier operation of the migration adds to the table: the idempotent ADD of the later
// one would find it there and add nothing.
func freeConstraintName(e *Env, sub, name string) bool {
	if c := e.Table.Constraint(name); c != nil && c.AddedBy == "" && !e.Resuming {
		e.Errorf(sub, "choose another name, or drop the existing constraint in a migration before this one (drop_constraint)",
			"%s already has a constraint named %q: %s", e.Table, name, c.Def)
		return false
	}
	self := opIndexOf(e)
	for i, op := range e.M.Operations[:self] {
		var other string
		switch o := op.Op.(type) {
		case *AddCheck:
			other = o.Name
		case *AddUnique:
			other = o.Name
		case *AddForeignKey:
			other = o.Name
		}
		if other == name && e.M.TableOf(i) == e.Table.String() {
			e.Errorf(sub, "give each constraint its own name", "operations[%d] already adds a constraint named %q to %s", i, name, e.Table)
			return false
		}
	}
	return true
}

var opIndex = regexp.MustCompile(`^operations\[(\d+)\]`)

// opIndexOf is the position of the operation being planned in the migration's list.
func opIndexOf(e *Env) int {
	if m := opIndex.FindStringSubmatch(e.Field); m != nil {
		if i, err := strconv.Atoi(m[1]); err == nil && i <= len(e.M.Operations) {
			return i
		}
	}
	return len(e.M.Operations)
}

// addConstraint is the idempotent statement that adds the constraint def (what
// follows ADD CONSTRAINT name) to the table tbl (quoted), unless the table has one of
// that name: what a retried expand finds.
func addConstraint(tbl, name, def string) string {
	return fmt.Sprintf(`DO $zdm$ BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conrelid = %s::regclass AND conname = %s) THEN
    ALTER TABLE %s ADD CONSTRAINT %s %s;
  END IF;
END $zdm$`, Literal(tbl), Literal(name), tbl, Ident(name), def)
}

// dropConstraint is ALTER TABLE ... DROP CONSTRAINT IF EXISTS, in phase ("rollback",
// "contract") under lock.
func dropConstraint(phase, tbl, name, lock string) plan.Statement {
	return plan.Statement{ID: phase + "/drop-constraint/" + name,
		SQL:  fmt.Sprintf("ALTER TABLE %s DROP CONSTRAINT IF EXISTS %s", tbl, Ident(name)),
		Lock: lock}
}

// validateConstraint is the VALIDATE CONSTRAINT of a constraint added NOT VALID.
func validateConstraint(tbl, name, lock, note string) plan.Statement {
	return plan.Statement{ID: "validate/" + name,
		SQL:  fmt.Sprintf("ALTER TABLE %s VALIDATE CONSTRAINT %s", tbl, Ident(name)),
		Lock: lock, Scans: true, Note: note}
}

// sameSet says whether a and b hold the same names, in any order.
func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for _, x := range a {
		if !slices.Contains(b, x) {
			return false
		}
	}
	return true
}

// uniqueOver returns the table's valid, non-partial unique index whose key is exactly
// cols, in any order (what PostgreSQL accepts as a UNIQUE constraint or a foreign
// key's target); immediate, when set, leaves out deferrable constraints' indexes.
func uniqueOver(t *schema.Table, cols []string, immediate bool) *schema.Index {
	for i := range t.Indexes {
		ix := &t.Indexes[i]
		if !ix.Unique || !ix.Valid || ix.Partial || slices.Contains(ix.Columns, "") || !sameSet(ix.Columns, cols) {
			continue
		}
		if immediate && ix.Deferrable != "" {
			continue
		}
		return ix
	}
	return nil
}

// indexed says whether an index of t starts with cols, in any order: a lookup by them
// reads the index.
func indexed(t *schema.Table, cols []string) bool {
	for _, ix := range t.Indexes {
		if ix.Valid && !ix.Partial && len(ix.Columns) >= len(cols) && sameSet(ix.Columns[:len(cols)], cols) {
			return true
		}
	}
	return false
}

// quotedList quotes each name and joins them with commas.
func quotedList(names []string) string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = Ident(n)
	}
	return strings.Join(out, ", ")
}

// checkStep is one statement of a plan check, and what its failure means.
type checkStep struct{ says, sql string }

// checkSteps is one plan check made of several statements run in order, in the check's
// one transaction: the first failure ends it, its message prefixed with what it means.
func checkSteps(field, group, fix string, steps ...checkStep) plan.Check {
	var b strings.Builder
	b.WriteString("DO $zdm$ BEGIN\n")
	for _, s := range steps {
		if s.says == "" {
			fmt.Fprintf(&b, "  EXECUTE %s;\n", Literal(s.sql))
			continue
		}
		fmt.Fprintf(&b, "  BEGIN\n    EXECUTE %s;\n  EXCEPTION WHEN OTHERS THEN\n    RAISE EXCEPTION '%%: %%', %s, SQLERRM;\n  END;\n", Literal(s.sql), Literal(s.says))
	}
	b.WriteString("END $zdm$")
	return plan.Check{Field: field, Group: group, SQL: b.String(), Fix: fix}
}
