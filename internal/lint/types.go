package lint

import (
	"strings"

	pg_query "github.com/pganalyze/pg_query_go/v6"
)

// colType is a column type as the catalog knows it: the internal name (int4,
// varchar, numeric, timestamptz) and its modifiers (varchar's length; numeric's
// precision and scale; a time type's precision), nil when there are none.
type colType struct {
	name  string
	mods  []int
	array bool
}

func (t colType) String() string {
	s := t.name
	if len(t.mods) > 0 {
		var m []string
		for _, x := range t.mods {
			m = append(m, itoa(int64(x)))
		}
		s += "(" + strings.Join(m, ",") + ")"
	}
	if t.array {
		s += "[]"
	}
	return s
}

// aliases maps what a person may write (and what the parser leaves as written) to the
// catalog's name.
var aliases = map[string]string{
	"int": "int4", "integer": "int4", "smallint": "int2", "bigint": "int8",
	"serial": "int4", "serial4": "int4", "bigserial": "int8", "serial8": "int8", "smallserial": "int2", "serial2": "int2",
	"character varying": "varchar", "character": "bpchar", "char": "bpchar",
	"decimal": "numeric", "real": "float4", "double precision": "float8", "boolean": "bool",
	"timestamp without time zone": "timestamp", "timestamp with time zone": "timestamptz",
	"time without time zone": "time", "time with time zone": "timetz", "bit varying": "varbit",
}

// typeOf reads a type name of the parse tree. Modifiers that are not integer
// constants leave mods nil.
func typeOf(tn *pg_query.TypeName) colType {
	var names []string
	for _, n := range tn.GetNames() {
		names = append(names, n.GetString_().GetSval())
	}
	name := ""
	if len(names) > 0 {
		name = strings.ToLower(names[len(names)-1])
	}
	if a, ok := aliases[name]; ok {
		name = a
	}
	t := colType{name: name, array: len(tn.GetArrayBounds()) > 0}
	for _, m := range tn.GetTypmods() {
		c := m.GetAConst()
		if c == nil || c.GetIval() == nil {
			if c != nil && !c.GetIsnull() && c.GetIval() == nil && c.GetSval() == nil && c.GetFval() == nil {
				t.mods = append(t.mods, 0) // ival 0 is omitted from the tree
				continue
			}
			return colType{name: name, array: t.array}
		}
		t.mods = append(t.mods, int(c.GetIval().GetIval()))
	}
	// numeric(p) is numeric(p,0).
	if name == "numeric" && len(t.mods) == 1 {
		t.mods = append(t.mods, 0)
	}
	return t
}

// serialType says whether a type as written is a serial pseudo-type.
func serialType(tn *pg_query.TypeName) bool {
	names := tn.GetNames()
	if len(names) == 0 {
		return false
	}
	n := strings.ToLower(names[len(names)-1].GetString_().GetSval())
	return strings.Contains(n, "serial")
}

// catalogType turns pg_type.typname and pg_attribute.atttypmod into a colType.
func catalogType(typname string, typmod int, ndims int) colType {
	t := colType{name: typname, array: ndims > 0 || strings.HasPrefix(typname, "_")}
	t.name = strings.TrimPrefix(typname, "_")
	if typmod < 0 {
		return t
	}
	switch t.name {
	case "varchar", "bpchar":
		t.mods = []int{typmod - 4}
	case "numeric":
		m := typmod - 4
		t.mods = []int{(m >> 16) & 0xffff, m & 0xffff}
	case "timestamp", "timestamptz", "time", "timetz", "varbit", "bit":
		t.mods = []int{typmod}
	case "interval":
		t.mods = []int{typmod & 0xffff}
	}
	return t
}

// rewrites says whether changing a column from old to new makes PostgreSQL write the
// table again (and its indexes): every change but the binary-compatible ones that
// only widen a limit.
func rewrites(old, new colType) bool {
	if old.array != new.array {
		return true
	}
	switch {
	case old.name == new.name:
		if len(new.mods) == 0 {
			return false // the limit goes (varchar, numeric, timestamp(p) -> timestamp)
		}
		if len(old.mods) == 0 {
			return true // a limit comes: every value is checked, and may change
		}
		switch old.name {
		case "varchar", "varbit":
			return new.mods[0] < old.mods[0]
		case "numeric":
			return len(old.mods) < 2 || len(new.mods) < 2 || new.mods[1] != old.mods[1] || new.mods[0] < old.mods[0]
		case "timestamp", "timestamptz", "time", "timetz", "interval":
			return new.mods[0] < old.mods[0]
		}
		return !equalMods(old.mods, new.mods)
	case (old.name == "varchar" || old.name == "text") && (new.name == "text" || (new.name == "varchar" && len(new.mods) == 0)):
		return false
	case old.name == "cidr" && new.name == "inet":
		return false
	case old.name == "bit" && new.name == "varbit":
		return len(new.mods) > 0 && len(old.mods) > 0 && new.mods[0] < old.mods[0]
	}
	return true
}

// mayKeepRows says whether a change to new could skip the rewrite for some old type:
// without the old type, a finding can only say "unless ...".
func mayKeepRows(new colType) bool {
	switch new.name {
	case "text", "varchar", "numeric", "timestamp", "timestamptz", "time", "timetz", "interval", "varbit", "inet":
		return true
	}
	return false
}

func equalMods(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
