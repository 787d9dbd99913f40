package lint

import (
	"fmt"
	"strconv"
	"strings"
	"sync"

	pg_query "github.com/pganalyze/pg_query_go/v6"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// zdmFile is a zdm migration doing one operation on table.
func zdmFile(name, table, op string) string {
	return fmt.Sprintf("name: %s\ntable: %s\noperations:\n  - %s\ngates: [contract]\n", name, qualified(table), op)
}

func manualSQL(format string, args ...any) string { return fmt.Sprintf(format, args...) + "\n" }

// qualified is a table name with its schema, public when it has none.
func qualified(t string) string {
	if strings.Contains(t, ".") {
		return t
	}
	return "public." + t
}

// bare is a name without its schema.
func bare(t string) string {
	if i := strings.LastIndex(t, "."); i >= 0 {
		return t[i+1:]
	}
	return t
}

// kebab is a migration name made of parts.
func kebab(parts ...string) string {
	var out []string
	for _, p := range parts {
		p = strings.ToLower(bare(p))
		p = strings.Map(func(r rune) rune {
			if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
				return r
			}
			return '-'
		}, p)
		if p = strings.Trim(p, "-"); p != "" {
			out = append(out, p)
		}
	}
	return strings.Join(out, "-")
}

// yamlScalar quotes s for a YAML flow mapping when it needs it.
func yamlScalar(s string) string {
	if s != "" && !strings.ContainsAny(s, ":{}[],&*#?|<>=!%@`'\"\\") && strings.TrimSpace(s) == s {
		return s
	}
	return strconv.Quote(s)
}

func yamlList(xs []string) string {
	var out []string
	for _, x := range xs {
		out = append(out, yamlScalar(x))
	}
	return strings.Join(out, ", ")
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// deparseExpr writes an expression of the parse tree back as SQL.
func deparseExpr(n *pg_query.Node) string {
	if n == nil {
		return ""
	}
	tree := &pg_query.ParseResult{Version: parserVersion(), Stmts: []*pg_query.RawStmt{{Stmt: &pg_query.Node{Node: &pg_query.Node_SelectStmt{SelectStmt: &pg_query.SelectStmt{
		TargetList:  []*pg_query.Node{{Node: &pg_query.Node_ResTarget{ResTarget: &pg_query.ResTarget{Val: n}}}},
		LimitOption: pg_query.LimitOption_LIMIT_OPTION_DEFAULT, Op: pg_query.SetOperation_SETOP_NONE,
	}}}}}}
	s, err := pg_query.Deparse(tree)
	if err != nil {
		return "(expression)"
	}
	return strings.TrimPrefix(s, "SELECT ")
}

// concurrentIndexSQL is the CREATE INDEX statement ix with CONCURRENTLY.
func concurrentIndexSQL(ix *pg_query.IndexStmt) string {
	cp := proto.Clone(ix).(*pg_query.IndexStmt)
	cp.Concurrent = true
	tree := &pg_query.ParseResult{Version: parserVersion(), Stmts: []*pg_query.RawStmt{{Stmt: &pg_query.Node{Node: &pg_query.Node_IndexStmt{IndexStmt: cp}}}}}
	s, err := pg_query.Deparse(tree)
	if err != nil {
		return "CREATE INDEX CONCURRENTLY ..."
	}
	return s
}

// parserVersion is the version of PostgreSQL's parser that pg_query embeds, which
// Deparse wants in the tree it is given.
var parserVersion = sync.OnceValue(func() int32 {
	tree, err := pg_query.Parse("SELECT 1")
	if err != nil {
		return 0
	}
	return tree.GetVersion()
})

// walk calls fn for every function call in n, however deep.
func walk(n *pg_query.Node, fn func(*pg_query.FuncCall)) {
	if n == nil {
		return
	}
	var visit func(m protoreflect.Message)
	visit = func(m protoreflect.Message) {
		if fc, ok := m.Interface().(*pg_query.FuncCall); ok {
			fn(fc)
		}
		m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
			switch {
			case fd.IsList() && fd.Message() != nil:
				l := v.List()
				for i := 0; i < l.Len(); i++ {
					visit(l.Get(i).Message())
				}
			case fd.Message() != nil && !fd.IsMap():
				visit(v.Message())
			}
			return true
		})
	}
	visit(proto.Message(n).ProtoReflect())
}
