package ops

import (
	"fmt"
	"strings"

	"github.com/zdmhq/zdm/internal/plan"
	"github.com/zdmhq/zdm/internal/schema"
)

// carryable says why an index on the column cannot be carried over, or "" when it can.
func carryable(ix schema.Index) string {
	switch {
	case ix.Primary || ix.ConstraintType == "p":
		return "it is the primary key"
	case ix.ConstraintType == "x":
		return "it backs an exclusion constraint"
	case ix.Partial:
		return "it is a partial index"
	case ix.Include:
		return "it has INCLUDE columns"
	case !ix.Valid:
		return "it is invalid (drop it, or REINDEX CONCURRENTLY it, first)"
	}
	for _, c := range ix.Columns {
		if c == "" {
			return "it indexes an expression"
		}
	}
	return ""
}

// buildingName is the name of an index's copy until contract.
func buildingName(name string) string {
	n := "_zdm_" + name
	if len(n) > 63 {
		n = n[:63]
	}
	return n
}

// carryIndex writes the CREATE INDEX CONCURRENTLY of ix with column old replaced by new.
func carryIndex(ix schema.Index, tableIdent, old, new string) (plan.CarriedIndex, error) {
	def := ix.Def
	using := strings.Index(def, " USING ")
	if using < 0 {
		return plan.CarriedIndex{}, fmt.Errorf("cannot read the definition of index %s", ix.Name)
	}
	open := strings.IndexByte(def[using:], '(')
	if open < 0 {
		return plan.CarriedIndex{}, fmt.Errorf("cannot read the definition of index %s", ix.Name)
	}
	open += using
	closeAt, elems := splitTopLevel(def, open+1)
	if closeAt < 0 {
		return plan.CarriedIndex{}, fmt.Errorf("cannot read the definition of index %s", ix.Name)
	}
	for i, e := range elems {
		e = strings.TrimSpace(e)
		id, rest := leadingIdent(e)
		if id == old {
			e = Ident(new) + rest
		}
		elems[i] = e
	}
	unique := ""
	if ix.Unique {
		unique = "UNIQUE "
	}
	building := buildingName(ix.Name)
	c := plan.CarriedIndex{
		Name:     ix.Name,
		Building: building,
		Create: fmt.Sprintf("CREATE %sINDEX CONCURRENTLY IF NOT EXISTS %s ON %s USING %s (%s)%s",
			unique, Ident(building), tableIdent, ix.Method, strings.Join(elems, ", "), def[closeAt+1:]),
	}
	if ix.ConstraintType == "u" {
		c.Constraint, c.Deferrable = ix.Constraint, ix.Deferrable
	}
	return c, nil
}

// splitTopLevel splits s from start at top-level commas up to the parenthesis that
// closes the list, and returns that parenthesis' index.
func splitTopLevel(s string, start int) (int, []string) {
	depth, quoted, from := 0, false, start
	var out []string
	for i := start; i < len(s); i++ {
		switch ch := s[i]; {
		case quoted:
			if ch == '"' {
				quoted = false
			}
		case ch == '"':
			quoted = true
		case ch == '(':
			depth++
		case ch == ')' && depth > 0:
			depth--
		case ch == ')':
			return i, append(out, s[from:i])
		case ch == ',' && depth == 0:
			out = append(out, s[from:i])
			from = i + 1
		}
	}
	return -1, nil
}

// leadingIdent reads the identifier an index element starts with, unquoted, and what
// follows it (opclass, collation, order).
func leadingIdent(e string) (string, string) {
	if strings.HasPrefix(e, `"`) {
		var b strings.Builder
		for i := 1; i < len(e); i++ {
			if e[i] == '"' {
				if i+1 < len(e) && e[i+1] == '"' {
					b.WriteByte('"')
					i++
					continue
				}
				return b.String(), e[i+1:]
			}
			b.WriteByte(e[i])
		}
		return "", e
	}
	i := 0
	for i < len(e) && (e[i] == '_' || e[i] == '$' || e[i] >= 'a' && e[i] <= 'z' || e[i] >= 'A' && e[i] <= 'Z' || e[i] >= '0' && e[i] <= '9') {
		i++
	}
	return e[:i], e[i:]
}
