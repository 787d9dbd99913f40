package usage

import (
	"encoding/json"
	"sort"
	"strings"

	pg_query "github.com/pganalyze/pg_query_go/v6"

	"github.com/zdmhq/zdm/internal/wire"
)

// Use is what one statement does with retired names.
type Use struct {
	// Names are the retired names it uses, each with how: "public.customers.name (read)".
	Names []string
	// Excluded is set for a statement that also names what replaces a retired name or a
	// zdm object: new code writing both names while dual_write is on, or zdm's own
	// backfill and verification. It stops before contract (dual_write goes off first)
	// or is zdm's.
	Excluded bool
}

// dml are the statements applications run; DDL (zdm's own rehearsals included) is left
// out.
var dml = map[string]bool{"SelectStmt": true, "InsertStmt": true, "UpdateStmt": true, "DeleteStmt": true, "MergeStmt": true, "CopyStmt": true}

type relRef struct{ schema, name, alias string }

type colRef struct {
	fields []string
	write  bool
	// on is the relation a write targets (INSERT and UPDATE columns).
	on *relRef
}

type scan struct {
	rels       []relRef
	cols       []colRef
	positional []relRef // INSERT without a column list
	written    []relRef // relations INSERT, UPDATE, DELETE or MERGE write
}

// Uses parses one statement (pg_stat_statements' normalized text: $1 for constants) and
// says which retired names it uses. Names resolve against the statement's relations:
// an unqualified column counts when a relation it reads or writes is the column's
// table, a qualified one through the relation's name or alias. An INSERT without a
// column list into a table losing a column uses that column (by position).
func Uses(query string, retired []wire.Retired) (Use, error) {
	js, err := pg_query.ParseToJSON(query)
	if err != nil {
		return Use{}, err
	}
	var tree struct {
		Stmts []struct {
			Stmt map[string]any `json:"stmt"`
		} `json:"stmts"`
	}
	if err := json.Unmarshal([]byte(js), &tree); err != nil {
		return Use{}, err
	}
	var u Use
	seen := map[string]bool{}
	anyNames := false
	for _, st := range tree.Stmts {
		for kind, body := range st.Stmt {
			if !dml[kind] {
				continue
			}
			s := &scan{}
			s.walk("", map[string]any{kind: body})
			names, excl := s.match(retired)
			u.Excluded = u.Excluded || excl
			anyNames = anyNames || len(names) > 0
			for _, n := range names {
				if !seen[n] {
					seen[n] = true
					u.Names = append(u.Names, n)
				}
			}
		}
	}
	if u.Excluded {
		u.Names = nil
	}
	if len(u.Names) == 0 && !anyNames {
		u.Excluded = false
	}
	sort.Strings(u.Names)
	return u, nil
}

func (s *scan) walk(kind string, v any) {
	switch x := v.(type) {
	case []any:
		for _, c := range x {
			s.walk(kind, c)
		}
	case map[string]any:
		for k, c := range x {
			switch k {
			case "RangeVar":
				s.rels = append(s.rels, rangeVar(c))
				continue
			case "ColumnRef":
				if f := fields(c); len(f) > 0 {
					s.cols = append(s.cols, colRef{fields: f})
				}
				continue
			case "InsertStmt", "UpdateStmt", "DeleteStmt", "MergeStmt":
				s.target(k, c)
			case "CopyStmt":
				s.copy(c)
			}
			s.walk(k, c)
		}
	}
}

// target records the relation a write names and the columns it writes.
func (s *scan) target(kind string, v any) {
	m, _ := v.(map[string]any)
	if m == nil {
		return
	}
	rv, _ := m["relation"].(map[string]any)
	if rv == nil {
		return
	}
	r := rangeVar(rv)
	s.rels = append(s.rels, r)
	s.written = append(s.written, r)
	delete(m, "relation") // recorded; not walked again as a read
	written := func(list any) {
		items, _ := list.([]any)
		for _, it := range items {
			if rt, ok := it.(map[string]any)["ResTarget"].(map[string]any); ok {
				if name, _ := rt["name"].(string); name != "" {
					s.cols = append(s.cols, colRef{fields: []string{name}, write: true, on: &r})
				}
			}
		}
	}
	switch kind {
	case "InsertStmt":
		if _, ok := m["cols"]; ok {
			written(m["cols"])
			delete(m, "cols")
		} else {
			s.positional = append(s.positional, r)
		}
		if oc, ok := m["onConflictClause"].(map[string]any); ok {
			written(oc["targetList"])
		}
	case "UpdateStmt":
		written(m["targetList"])
	case "MergeStmt":
		clauses, _ := m["mergeWhenClauses"].([]any)
		for _, c := range clauses {
			if mw, ok := c.(map[string]any)["MergeWhenClause"].(map[string]any); ok {
				written(mw["targetList"])
			}
		}
	}
}

// copy records COPY's table and columns: FROM writes them, TO reads them.
func (s *scan) copy(v any) {
	m, _ := v.(map[string]any)
	rv, _ := m["relation"].(map[string]any)
	if rv == nil {
		return // COPY (query) TO: the query is walked as any other
	}
	r := rangeVar(rv)
	delete(m, "relation")
	s.rels = append(s.rels, r)
	from, _ := m["is_from"].(bool)
	if from {
		s.written = append(s.written, r)
	}
	cols, _ := m["attlist"].([]any)
	for _, c := range cols {
		if str, ok := c.(map[string]any)["String"].(map[string]any); ok {
			name, _ := str["sval"].(string)
			s.cols = append(s.cols, colRef{fields: []string{name}, write: from, on: &r})
		}
	}
	if len(cols) == 0 && from {
		s.positional = append(s.positional, r)
	}
}

func rangeVar(v any) relRef {
	m, _ := v.(map[string]any)
	r := relRef{}
	r.schema, _ = m["schemaname"].(string)
	r.name, _ = m["relname"].(string)
	if a, ok := m["alias"].(map[string]any); ok {
		r.alias, _ = a["aliasname"].(string)
	}
	return r
}

func fields(v any) []string {
	m, _ := v.(map[string]any)
	items, _ := m["fields"].([]any)
	var out []string
	for _, it := range items {
		s, ok := it.(map[string]any)["String"].(map[string]any)
		if !ok {
			return out // A_Star: every column, by name none
		}
		sv, _ := s["sval"].(string)
		out = append(out, sv)
	}
	return out
}

func (r relRef) is(schema, table string) bool {
	return r.name == table && (r.schema == "" || r.schema == schema)
}

// match resolves the statement's references against retired names.
func (s *scan) match(retired []wire.Retired) (names []string, excluded bool) {
	for _, r := range s.rels {
		if r.schema == "zdm" || strings.HasPrefix(r.name, "_zdm") {
			excluded = true
		}
	}
	for _, c := range s.cols {
		if strings.HasPrefix(c.fields[len(c.fields)-1], "_zdm") {
			excluded = true
		}
	}
	add := func(n string) { names = append(names, n) }
	for _, rt := range retired {
		if rt.Column == "" {
			for _, r := range s.rels {
				if r.is(rt.Schema, rt.Table) {
					add(rt.Name() + " (" + s.verb(r) + ")")
					break
				}
			}
			if rt.Replacement != "" {
				for _, r := range s.rels {
					if r.is(rt.Schema, rt.Replacement) {
						excluded = true
					}
				}
			}
			continue
		}
		read, write := false, false
		for _, c := range s.cols {
			if s.colIs(c, rt.Schema, rt.Table, rt.Column) {
				if c.write {
					write = true
				} else {
					read = true
				}
			}
			if rt.Replacement != "" && s.colIs(c, rt.Schema, rt.Table, rt.Replacement) {
				excluded = true
			}
		}
		for _, p := range s.positional {
			if p.is(rt.Schema, rt.Table) {
				write = true
			}
		}
		switch {
		case read && write:
			add(rt.Name() + " (read, write)")
		case write:
			add(rt.Name() + " (write)")
		case read:
			add(rt.Name() + " (read)")
		}
	}
	return names, excluded
}

// colIs says whether c can be column col of schema.table.
func (s *scan) colIs(c colRef, schema, table, col string) bool {
	f := c.fields
	if f[len(f)-1] != col {
		return false
	}
	if c.on != nil {
		return c.on.is(schema, table)
	}
	switch len(f) {
	case 1:
		for _, r := range s.rels {
			if r.is(schema, table) {
				return true
			}
		}
	case 2:
		for _, r := range s.rels {
			if r.is(schema, table) && (r.alias == f[0] || (r.alias == "" && r.name == f[0])) {
				return true
			}
		}
	case 3:
		return f[0] == schema && f[1] == table
	}
	return false
}

func (s *scan) verb(r relRef) string {
	for _, w := range s.written {
		if w == r {
			return "write"
		}
	}
	return "read"
}
