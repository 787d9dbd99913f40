package ops

import (
	"fmt"
	"strings"

	"github.com/zdmhq/zdm/internal/plan"
)

// undo plans the undo of a replaced column (rename_column, change_type, alter_column).
// With a window, contract renames the old column aside (AsideName) instead of dropping
// it, with the indexes and CHECK constraints that are on it; the planner's undo trigger
// keeps it equal to down over every row new code writes. Revert swaps the names back,
// so that the table stands as before contract; finalize drops the column aside, and its
// indexes and constraints with it.
func (r replacement) undo(e *Env, ch *Change, sync *plan.Op) *Undo {
	c := r.old
	tbl := e.TableIdent()
	aside := AsideName(c.Name)
	// Everything named after the old objects, set aside at contract and given back at
	// revert, in that order.
	var setAside, giveBack, takeBack []string
	for _, d := range c.Dependents {
		if d.Type == "table constraint" && d.ConstraintType == "c" {
			copyName := shortName("_zdm_" + d.Name)
			setAside = append(setAside, fmt.Sprintf("ALTER TABLE %s RENAME CONSTRAINT %s TO %s", tbl, Ident(d.Name), Ident(AsideName(d.Name))))
			takeBack = append(takeBack, fmt.Sprintf("ALTER TABLE %s RENAME CONSTRAINT %s TO %s", tbl, Ident(d.Name), Ident(copyName)))
			giveBack = append(giveBack, fmt.Sprintf("ALTER TABLE %s RENAME CONSTRAINT %s TO %s", tbl, Ident(AsideName(d.Name)), Ident(d.Name)))
		}
	}
	for _, ix := range sync.Indexes {
		if !e.hasIndex(ix.Name) {
			// A constraint the operation adds (alter_column's unique): nothing to set aside.
			if ix.Constraint != "" {
				takeBack = append(takeBack, fmt.Sprintf("ALTER TABLE %s RENAME CONSTRAINT %s TO %s", tbl, Ident(ix.Constraint), Ident(ix.Building)))
			}
			continue
		}
		if ix.Constraint != "" {
			// Renaming a constraint renames its index too.
			setAside = append(setAside, fmt.Sprintf("ALTER TABLE %s RENAME CONSTRAINT %s TO %s", tbl, Ident(ix.Constraint), Ident(AsideName(ix.Constraint))))
			takeBack = append(takeBack, fmt.Sprintf("ALTER TABLE %s RENAME CONSTRAINT %s TO %s", tbl, Ident(ix.Constraint), Ident(ix.Building)))
			giveBack = append(giveBack, fmt.Sprintf("ALTER TABLE %s RENAME CONSTRAINT %s TO %s", tbl, Ident(AsideName(ix.Constraint)), Ident(ix.Constraint)))
			continue
		}
		setAside = append(setAside, fmt.Sprintf("ALTER INDEX %s RENAME TO %s", quoted(e.Table.Schema, ix.Name), Ident(AsideName(ix.Name))))
		takeBack = append(takeBack, fmt.Sprintf("ALTER INDEX %s RENAME TO %s", quoted(e.Table.Schema, ix.Name), Ident(ix.Building)))
		giveBack = append(giveBack, fmt.Sprintf("ALTER INDEX %s RENAME TO %s", quoted(e.Table.Schema, AsideName(ix.Name)), Ident(ix.Name)))
	}
	if c.Default != "" {
		// The column aside takes its values from the trigger; its default (a sequence's
		// nextval) would only be evaluated for nothing.
		setAside = append(setAside, fmt.Sprintf("ALTER TABLE %s ALTER COLUMN %s DROP DEFAULT", tbl, Ident(c.Name)))
	}
	setAside = append(setAside, fmt.Sprintf("ALTER TABLE %s RENAME COLUMN %s TO %s", tbl, Ident(c.Name), Ident(aside)))

	// Revert: the new column gives back the old names, the column aside takes them.
	var revert []string
	revert = append(revert, takeBack...)
	if sync.Default != "" {
		// Before contract the new column had no default: the sync trigger reads a
		// value in it on insert as new code's.
		revert = append(revert, fmt.Sprintf("ALTER TABLE %s ALTER COLUMN %s DROP DEFAULT", tbl, Ident(sync.Final)))
	}
	if sync.InPlace {
		revert = append(revert, fmt.Sprintf("ALTER TABLE %s RENAME COLUMN %s TO %s", tbl, Ident(sync.Final), Ident(sync.New)))
	}
	revert = append(revert, fmt.Sprintf("ALTER TABLE %s RENAME COLUMN %s TO %s", tbl, Ident(aside), Ident(c.Name)))
	revert = append(revert, giveBack...)
	if c.Default != "" {
		revert = append(revert, fmt.Sprintf("ALTER TABLE %s ALTER COLUMN %s SET DEFAULT %s", tbl, Ident(c.Name), c.Default))
	}
	for _, d := range c.Dependents {
		switch {
		case d.Type == "sequence" && d.Own:
			revert = append(revert, fmt.Sprintf("ALTER SEQUENCE %s OWNED BY %s.%s", d.Identity, tbl, Ident(c.Name)))
		case d.Type == "policy":
			var parts []string
			if d.Using != "" {
				parts = append(parts, "USING ("+d.Using+")")
			}
			if d.WithCheck != "" {
				parts = append(parts, "WITH CHECK ("+d.WithCheck+")")
			}
			if len(parts) > 0 {
				revert = append(revert, fmt.Sprintf("ALTER POLICY %s ON %s %s", Ident(d.Name), tbl, strings.Join(parts, " ")))
			}
		}
	}

	var contract []plan.Statement
	for _, s := range ch.Contract {
		if s.ID != "contract/drop-old/"+c.Name {
			contract = append(contract, s)
			continue
		}
		for i, sql := range setAside {
			contract = append(contract, plan.Statement{ID: fmt.Sprintf("contract/set-aside/%s/%d", c.Name, i), SQL: sql,
				Lock: plan.LockBriefExclusive, Note: "kept for the undo window instead of dropped"})
		}
	}
	return &Undo{
		Says: fmt.Sprintf("%s is kept as %s, equal to down over every write, with its indexes and checks; revert swaps the names back, finalize drops %s",
			c.Name, aside, aside),
		Contract: contract,
		Revert: []plan.Statement{{ID: "revert/swap-back/" + c.Name, SQL: ifColumn(tbl, aside, revert), Lock: plan.LockBriefExclusive,
			Note: c.Name + " comes back with every write made since contract"}},
		Finalize: []plan.Statement{{ID: "finalize/drop-aside/" + c.Name,
			SQL:  fmt.Sprintf("ALTER TABLE %s DROP COLUMN IF EXISTS %s", tbl, Ident(aside)),
			Lock: plan.LockBriefExclusive, Note: "catalog only; its indexes and checks go with it"}},
	}
}

// hasIndex says whether the live table has an index of that name.
func (e *Env) hasIndex(name string) bool {
	for _, ix := range e.Table.Indexes {
		if ix.Name == name {
			return true
		}
	}
	return false
}
