package ops

import (
	"fmt"
	"strings"

	"github.com/zdmhq/zdm/internal/plan"
	"github.com/zdmhq/zdm/internal/schema"
	"github.com/zdmhq/zdm/internal/sqlexpr"
)

// replacement describes a column that an operation replaces by a new one: the old
// column is dropped at contract and the new one (New, renamed to Final when they
// differ) takes over everything attached to it.
type replacement struct {
	sub     string // the field naming the old column, for errors
	old     *schema.Column
	newName string
	final   string
	newType *schema.Type
}

// movable checks that the column can be replaced at all: it is not part of the key, not
// generated or an identity, and the table is one zdm can migrate.
func movable(e *Env, sub string, c *schema.Column) bool {
	ok := true
	for _, k := range e.Table.Key {
		if k == c.Name {
			e.Errorf(sub, "zdm pages the table by this column; change key columns with a dedicated tool", "column %q is part of the key of %s (%s)", c.Name, e.Table, e.Table.KeySource)
			ok = false
		}
	}
	if c.Generated || c.Identity {
		e.Errorf(sub, "change generated and identity columns by hand", "column %q is a generated or identity column", c.Name)
		ok = false
	}
	return ok
}

// carry plans, for each object attached to the old column, how it reaches the final
// column, or refuses the migration with the fix. It reads what is attached from the
// catalog (pg_depend, pg_attribute); an attachment it does not know is refused.
func (r replacement) carry(e *Env, ch *Change, sync *plan.Op) {
	c := r.old
	tbl := e.TableIdent()
	refuse := func(what, fix string) {
		e.Errorf(r.sub, fix, "column %q is used by %s, which zdm cannot carry to the new column", c.Name, what)
	}
	if len(c.Views) > 0 {
		refuse("view(s) "+strings.Join(c.Views, ", "), "drop or change the views first, or leave this column alone")
	}
	for _, d := range c.Dependents {
		switch {
		case d.Type == "table constraint" && d.ConstraintType == "c":
			r.carryCheck(e, ch, d)
		case d.Type == "table constraint" && d.ConstraintType == "f":
			refuse(d.Describe, "drop the foreign key first and add it back NOT VALID, then VALIDATE it, after the migration")
		case d.Type == "table constraint" && (d.ConstraintType == "u" || d.ConstraintType == "p"):
			// The constraint's index carries it.
			for _, ix := range e.Table.Indexes {
				if d.Name != "" && ix.Constraint == d.Name {
					r.carryIndex(e, ch, sync, schema.Dependent{Type: "index", Name: ix.Name, Describe: "index " + ix.Name})
				}
			}
		case d.Type == "table constraint":
			refuse(d.Describe, "drop the constraint first and create it again after the migration")
		case d.Type == "index":
			r.carryIndex(e, ch, sync, d)
		case d.Type == "rule":
			// Views are named above, from the same catalog rows.
			if len(c.Views) == 0 {
				refuse(d.Describe, "drop the rule first and create it again after the migration")
			}
		case d.Type == "policy":
			r.carryPolicy(e, ch, d)
		case d.Type == "trigger":
			refuse(d.Describe, "drop the trigger (it names the column in UPDATE OF or WHEN) and create it again on the final column after the migration")
		case d.Type == "default value" && d.Own:
			// Carried at contract with the column's default, below.
		case d.Type == "default value" || d.Type == "table column":
			refuse(d.Describe+" (a generated column computed from it)", "drop the generated column, migrate, and add it back computed from the final column")
		case d.Type == "sequence" && d.Own:
			ch.Contract = append(ch.Contract, plan.Statement{
				ID:   contractBeforeDrop + "sequence-owner/" + d.Name,
				SQL:  fmt.Sprintf("ALTER SEQUENCE %s OWNED BY %s.%s", d.Identity, tbl, Ident(r.newName)),
				Lock: plan.LockBriefExclusive,
				Note: "the serial's sequence moves to the new column before the old one is dropped (it would be dropped with it)",
			})
			ch.Carried = append(ch.Carried, fmt.Sprintf("sequence %s: owned by the final column", d.Identity))
		case d.Type == "statistics object":
			refuse(d.Describe, "DROP STATISTICS it before the migration and CREATE STATISTICS again on the final column after it")
		default:
			refuse(d.Describe, "remove it before the migration and create it again after")
		}
	}
	if c.Default != "" {
		if r.newType != nil && r.newType.Name != c.Type {
			// The default lands on the new type at contract: prove now that it fits.
			ch.Checks = append(ch.Checks, plan.Check{Field: e.Path(r.sub), Group: e.Field,
				SQL:  fmt.Sprintf("EXPLAIN SELECT (%s)::%s", c.Default, r.newType.Name),
				Fix:  fmt.Sprintf("give %s a default of the new type first (ALTER TABLE ... ALTER COLUMN %s SET DEFAULT ...), or DROP DEFAULT", c.Name, c.Name),
				Says: fmt.Sprintf("the default of %s, %s, does not fit %s", c.Name, c.Default, r.newType.Name)})
		}
		sync.Default = c.Default
		// The trigger tells a defaulted old column from a written one by comparing it
		// with its default, where the default gives the same value again (a constant);
		// PostgreSQL decides (built-in functions such as nextval or gen_random_uuid
		// are in no pg_depend row to read).
		if !e.recomputable(c.Default) {
			sync.OldDefaultVolatile = true
		} else {
			sync.OldDefault = c.Default
		}
		ch.Carried = append(ch.Carried, "default "+c.Default)
	}
	if c.NotNull {
		ch.Carried = append(ch.Carried, "NOT NULL (a NOT VALID check while the backfill runs, SET NOT NULL at contract without a scan)")
	}
	for _, g := range c.Grants {
		grantee := "PUBLIC"
		if g.Grantee != "" {
			grantee = Ident(g.Grantee)
		}
		opt := ""
		if g.Grantable {
			opt = " WITH GRANT OPTION"
		}
		ch.AfterSync = append(ch.AfterSync, plan.Statement{
			ID:   fmt.Sprintf("expand/grant/%s/%s/%s", r.newName, strings.ToLower(g.Privilege), g.Grantee),
			SQL:  fmt.Sprintf("GRANT %s (%s) ON %s TO %s%s", g.Privilege, Ident(r.newName), tbl, grantee, opt),
			Lock: plan.LockNone,
			Note: "the column privilege of " + c.Name + ", so that new code may use the new column",
		})
		ch.Carried = append(ch.Carried, fmt.Sprintf("GRANT %s (%s) TO %s", g.Privilege, c.Name, grantee))
	}
	if c.Comment != "" {
		ch.Contract = append(ch.Contract, plan.Statement{
			ID:   "contract/comment/" + r.final,
			SQL:  fmt.Sprintf("COMMENT ON COLUMN %s.%s IS %s", tbl, Ident(r.final), Literal(c.Comment)),
			Lock: plan.LockBriefExclusive,
		})
		ch.Carried = append(ch.Carried, "comment")
	}
	if c.StatTarget != nil {
		ch.Contract = append(ch.Contract, plan.Statement{
			ID:   "contract/statistics/" + r.final,
			SQL:  fmt.Sprintf("ALTER TABLE %s ALTER COLUMN %s SET STATISTICS %d", tbl, Ident(r.final), *c.StatTarget),
			Lock: plan.LockShareUpdExcl,
		})
		ch.Carried = append(ch.Carried, fmt.Sprintf("statistics target %d", *c.StatTarget))
	}
	if c.Collation != "" {
		ch.Carried = append(ch.Carried, "collation "+c.Collation)
	}
	if last := e.Table.Columns[len(e.Table.Columns)-1].Name; last != c.Name {
		ch.Notes = append(ch.Notes, fmt.Sprintf("column %s moves to the end of the table's column list (SELECT * and COPY without a column list see the new order)", r.final))
	}
}

// collation is the COLLATE clause the new column gets: the old column's, when the new
// type takes one.
func (r replacement) collation() string {
	if r.old.Collation != "" && (r.newType == nil || r.newType.Collatable) {
		return r.old.Collation
	}
	return ""
}

// carryCheck builds the CHECK constraint again over the new column: NOT VALID once the
// trigger runs, validated after the backfill, renamed to the old name at contract (the
// old one goes with the old column).
func (r replacement) carryCheck(e *Env, ch *Change, d schema.Dependent) {
	expr, err := renameColumn(d.Expr, r.old.Name, r.newName)
	if err != nil {
		e.Errorf(r.sub, "drop the constraint first and create it again after the migration", "cannot read CHECK constraint %s: %s", d.Name, err)
		return
	}
	tbl := e.TableIdent()
	copyName := shortName("_zdm_" + d.Name)
	ch.AfterSync = append(ch.AfterSync, plan.Statement{
		ID:   "expand/check/" + copyName,
		SQL:  AddCheckNotValid(tbl, copyName, expr),
		Lock: plan.LockBriefExclusive,
		Note: "copy of " + d.Name + " on the new column; NOT VALID: checks new writes only",
	})
	if d.Validated {
		ch.Validate = append(ch.Validate, plan.Statement{
			ID: "validate/" + copyName, SQL: fmt.Sprintf("ALTER TABLE %s VALIDATE CONSTRAINT %s", tbl, Ident(copyName)),
			Lock: plan.LockShareUpdExcl, Scans: true, Note: "reads and writes go on meanwhile",
		})
	}
	ch.Contract = append(ch.Contract, plan.Statement{
		ID:   "contract/check/" + d.Name,
		SQL:  fmt.Sprintf("ALTER TABLE %s RENAME CONSTRAINT %s TO %s", tbl, Ident(copyName), Ident(d.Name)),
		Lock: plan.LockBriefExclusive,
	})
	ch.Rollback = append(ch.Rollback, plan.Statement{
		ID:   "rollback/drop-check/" + copyName,
		SQL:  fmt.Sprintf("ALTER TABLE %s DROP CONSTRAINT IF EXISTS %s", tbl, Ident(copyName)),
		Lock: plan.LockBriefExclusive,
	})
	ch.Carried = append(ch.Carried, fmt.Sprintf("CHECK %s: rebuilt NOT VALID on the new column, validated after the backfill", d.Name))
}

// contractBeforeDrop starts the IDs of contract statements that must run before the old
// column is dropped (the drop would take the object with it, or be refused by it).
const contractBeforeDrop = "contract/before-drop/"

// carryPolicy moves a row-level security policy to the new column at contract, in the
// contract's one transaction: no moment exists where the table has no policy.
func (r replacement) carryPolicy(e *Env, ch *Change, d schema.Dependent) {
	var parts []string
	for _, x := range []struct{ clause, expr string }{{"USING", d.Using}, {"WITH CHECK", d.WithCheck}} {
		if x.expr == "" {
			continue
		}
		expr, err := renameColumn(x.expr, r.old.Name, r.newName)
		if err != nil {
			e.Errorf(r.sub, "ALTER POLICY it to not use the column before the migration, and back after", "cannot read %s: %s", d.Describe, err)
			return
		}
		parts = append(parts, fmt.Sprintf("%s (%s)", x.clause, expr))
	}
	if len(parts) == 0 {
		return
	}
	ch.Contract = append(ch.Contract, plan.Statement{
		ID:   contractBeforeDrop + "policy/" + d.Name,
		SQL:  fmt.Sprintf("ALTER POLICY %s ON %s %s", Ident(d.Name), e.TableIdent(), strings.Join(parts, " ")),
		Lock: plan.LockBriefExclusive,
		Note: "the policy reads the new column before the old one is dropped, in the same transaction",
	})
	ch.Carried = append(ch.Carried, fmt.Sprintf("row-level security policy %s: its expressions read the new column from contract on", d.Name))
}

// renameColumn rewrites the references to column from in expr to column to.
func renameColumn(expr, from, to string) (string, error) {
	x, err := sqlexpr.ParseExpr(expr)
	if err != nil {
		return "", err
	}
	return x.RewriteColumnRefs(func(parts []string) []string {
		if n := len(parts); n > 0 && parts[n-1] == from {
			out := append([]string(nil), parts...)
			out[n-1] = to
			return out
		}
		return nil
	})
}

// carryIndex plans the copy of an index on the old column.
func (r replacement) carryIndex(e *Env, ch *Change, sync *plan.Op, d schema.Dependent) {
	var ix *schema.Index
	for i := range e.Table.Indexes {
		if e.Table.Indexes[i].Name == d.Name {
			ix = &e.Table.Indexes[i]
		}
	}
	for _, have := range sync.Indexes {
		if ix != nil && have.Name == ix.Name {
			return
		}
	}
	if ix == nil {
		e.Errorf(r.sub, "drop the index (DROP INDEX CONCURRENTLY) and create it on the new column after the migration", "column %q is used by %s, which zdm cannot read", r.old.Name, d.Describe)
		return
	}
	if why := carryable(*ix); why != "" {
		e.Errorf(r.sub, "drop the index (DROP INDEX CONCURRENTLY) and create it on the new column after the migration",
			"column %q is used by index %s, which zdm cannot carry over: %s", r.old.Name, ix.Name, why)
		return
	}
	c, err := carryIndex(*ix, r.old.Name, r.newName)
	if err != nil {
		e.Errorf(r.sub, "drop the index and create it again after the migration", "%s", err)
		return
	}
	for _, have := range sync.Indexes {
		if have.Name == c.Name {
			return // reached both as the column's index and as its constraint's
		}
	}
	sync.Indexes = append(sync.Indexes, c)
	how := "rebuilt CONCURRENTLY on the new column after the backfill, renamed at contract"
	if c.Constraint != "" {
		how = "rebuilt CONCURRENTLY, then the UNIQUE constraint " + c.Constraint + " USING it at contract"
		if c.Deferrable != "" {
			how += " (" + c.Deferrable + ")"
		}
	}
	ch.Carried = append(ch.Carried, fmt.Sprintf("index %s: %s", ix.Name, how))
}
