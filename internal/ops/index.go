package ops

import (
	"github.com/zdmhq/zdm/internal/plan"
	"github.com/zdmhq/zdm/internal/schema"
	"github.com/zdmhq/zdm/internal/sqlexpr"
)

// carryable says why an index on the column cannot be carried over, or "" when it can.
// Partial, expression and INCLUDE indexes, any method, are built again with the column
// renamed wherever the definition names it.
func carryable(ix schema.Index) string {
	switch {
	case ix.Primary || ix.ConstraintType == "p":
		return "it is the primary key"
	case ix.ConstraintType == "x":
		return "it backs an exclusion constraint"
	case !ix.Valid:
		return "it is invalid (drop it, or REINDEX CONCURRENTLY it, first)"
	}
	return ""
}

// buildingName is the name of an index's copy until contract.
func buildingName(name string) string { return shortName("_zdm_" + name) }

// carryIndex writes the CREATE INDEX CONCURRENTLY of ix with column old replaced by new,
// read and written by PostgreSQL's own parser.
func carryIndex(ix schema.Index, old, new string) (plan.CarriedIndex, error) {
	building := buildingName(ix.Name)
	create, err := sqlexpr.CopyIndex(ix.Def, building, old, new)
	if err != nil {
		return plan.CarriedIndex{}, err
	}
	c := plan.CarriedIndex{Name: ix.Name, Building: building, Create: create}
	if ix.ConstraintType == "u" {
		c.Constraint, c.Deferrable = ix.Constraint, ix.Deferrable
	}
	return c, nil
}
