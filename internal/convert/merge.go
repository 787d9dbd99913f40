package convert

import (
	"fmt"
	"strings"

	pg_query "github.com/pganalyze/pg_query_go/v6"
)

// merge folds the statements that change one column into one operation, as zdm
// changes a column once per migration: ADD COLUMN then SET NOT NULL or DROP DEFAULT (the
// Rails and Django way to add a filled column) become one add_column; an UPDATE that
// fills a column added by the file becomes that add_column's backfill; several ALTER
// COLUMNs become one alter_column. A change it cannot fold is left commented out, for a
// migration of its own. Then every column step gets its fields.
func (c *converter) merge() {
	seen := map[string]*step{}
	for _, st := range c.steps {
		if st.dropped || st.disabled {
			if st.kind == "sql" && st.disabled {
				c.foldUpdate(st, seen)
			}
			continue
		}
		if st.column == "" {
			continue
		}
		key := st.table + "." + st.column
		prev := seen[key]
		if prev == nil {
			seen[key] = st
			continue
		}
		if combine(prev, st) {
			st.dropped = true
			st.comments = append(st.comments, fmt.Sprintf("merged into the operation of line %d: zdm changes a column once per migration", prev.stmt.Line))
			continue
		}
		st.disabled = true
		st.comments = append(st.comments, fmt.Sprintf("TODO(zdm convert): %s is already changed by line %d, and zdm changes a column once per migration: move this to a migration of its own", key, prev.stmt.Line))
		c.note(st.stmt, "%s is changed again: left commented out, for a migration of its own", key)
	}
	for _, st := range c.steps {
		switch {
		case st.dropped:
		case st.col != nil:
			c.columnFields(st)
		case st.add != nil:
			c.addFields(st)
		}
	}
}

// combine folds the column change of cur into prev, false when it cannot.
func combine(prev, cur *step) bool {
	ch := cur.col
	if ch == nil {
		return false
	}
	switch {
	case prev.add != nil:
		if ch.typ != "" {
			return false
		}
		if ch.notNull != nil {
			prev.add.notNull = *ch.notNull
		}
		if ch.def != nil {
			prev.add.def = *ch.def // rows added before it keep what the backfill gives
		}
		if ch.dropDefault {
			prev.add.def = "" // existing rows keep the value ADD COLUMN gave them: the backfill's
		}
		return true
	case prev.col != nil:
		p := prev.col
		if ch.typ != "" {
			if p.typ != "" {
				return false
			}
			p.typ, p.using = ch.typ, ch.using
		}
		if ch.notNull != nil {
			p.notNull = ch.notNull
		}
		if ch.def != nil || ch.dropDefault {
			p.def, p.dropDefault = ch.def, ch.dropDefault
		}
		return true
	}
	return false
}

// foldUpdate makes `UPDATE t SET c = expr [WHERE c IS NULL]`, over a column c the file
// added without a value, that column's backfill: zdm then fills the rows in batches
// instead of one long transaction.
func (c *converter) foldUpdate(st *step, seen map[string]*step) {
	u := st.node.GetUpdateStmt()
	if u == nil || len(u.GetTargetList()) != 1 || len(u.GetFromClause()) > 0 || len(u.GetReturningList()) > 0 || u.GetWithClause() != nil {
		return
	}
	target := u.GetTargetList()[0].GetResTarget()
	col := target.GetName()
	if len(target.GetIndirection()) > 0 {
		return
	}
	if w := u.GetWhereClause(); w != nil {
		nt := w.GetNullTest()
		ref := names(nt.GetArg().GetColumnRef().GetFields())
		if nt == nil || nt.GetNulltesttype() != pg_query.NullTestType_IS_NULL || len(ref) != 1 || ref[0] != col {
			return
		}
	}
	prev := seen[rangeVar(u.GetRelation())+"."+col]
	if prev == nil || prev.add == nil || prev.add.backfill != "NULL" {
		return
	}
	v, err := expr(target.GetVal())
	if err != nil {
		return
	}
	prev.add.backfill = v
	st.disabled, st.dropped = false, true
	st.comments = []string{fmt.Sprintf("folded into the add_column of line %d as its backfill: zdm fills existing rows in batches, and old code's writes by trigger", prev.stmt.Line)}
	c.dropNote(st)
}

// dropNote takes back the note rawSQL made for a step merge then folded.
func (c *converter) dropNote(st *step) {
	out := c.notes[:0]
	for _, n := range c.notes {
		if n.Line != st.stmt.Line {
			out = append(out, n)
		}
	}
	c.notes = out
}

// fills says whether a step's operation fills a table's columns by backfill (an
// added column without a value to fill is a catalog change).
func fills(st *step) bool {
	switch st.kind {
	case "add_column":
		return st.add == nil || st.add.backfill != "NULL" || st.add.def != ""
	case "change_type", "alter_column", "rename_column":
		return true
	}
	return false
}

// backfilled is the table most of the operations that fill columns act on (the first
// of them on a tie); "" when none does.
func (c *converter) backfilled() string {
	count := map[string]int{}
	best := ""
	for _, st := range c.steps {
		if st.dropped || st.disabled || !fills(st) {
			continue
		}
		count[st.table]++
		if best == "" || count[st.table] > count[best] {
			best = st.table
		}
	}
	return best
}

// oneBackfill keeps the operations that fill columns to one table, as zdm backfills
// one table per migration: the others are left commented out, for another conversion
// with Options.Table. When Options.Table names one of those, the migration is theirs.
func (c *converter) oneBackfill() {
	main := c.backfilled()
	c.fillTable = main
	want := c.opts.Table
	if want != "" && !strings.Contains(want, ".") {
		want = "public." + want
	}
	// A table whose filling operations wait for their own migration takes every other
	// operation on it along (an index on a column that migration adds must follow it).
	deferred := map[string]bool{}
	for _, st := range c.steps {
		if !st.dropped && !st.disabled && fills(st) && st.table != main {
			deferred[st.table] = true
		}
	}
	for _, st := range c.steps {
		if st.dropped || st.disabled {
			continue
		}
		switch {
		case want != "" && want != main:
			if st.table != want {
				st.disabled = true
				st.comments = append(st.comments, "in the migration converted without --table")
			}
		case deferred[st.table]:
			st.disabled = true
			st.comments = append(st.comments, fmt.Sprintf("TODO(zdm convert): zdm backfills one table per migration, and this file fills %s too: run zdm convert again with --table %s for the migration of %s", main, st.table, st.table))
			c.note(st.stmt, "%s of %s left commented out: run zdm convert again with --table %s", st.kind, st.table, st.table)
		}
	}
	if want != "" && want != main {
		c.fillTable = want
	}
}
