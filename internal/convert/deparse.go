package convert

import (
	"fmt"
	"strings"

	pg_query "github.com/pganalyze/pg_query_go/v6"
)

// Expressions, types and names are written back by PostgreSQL's own deparser, from the
// parse tree: the text zdm gets is what the server would read, whatever the spacing,
// comments or quoting of the original.

// expr writes an expression (a default, a CHECK, a USING, a WHERE) as SQL.
func expr(n *pg_query.Node) (string, error) {
	sel := &pg_query.SelectStmt{TargetList: []*pg_query.Node{pg_query.MakeResTargetNodeWithVal(n, 0)}}
	out, err := deparseStmt(&pg_query.Node{Node: &pg_query.Node_SelectStmt{SelectStmt: sel}})
	if err != nil {
		return "", err
	}
	s, ok := strings.CutPrefix(out, "SELECT ")
	if !ok {
		return "", fmt.Errorf("cannot write the expression back (%q)", out)
	}
	return s, nil
}

// typeName writes a type as SQL: varchar(255), numeric(12,2), timestamptz, text[].
func typeName(t *pg_query.TypeName) (string, error) {
	cast := &pg_query.TypeCast{Arg: &pg_query.Node{Node: &pg_query.Node_AConst{AConst: &pg_query.A_Const{Isnull: true}}}, TypeName: t}
	s, err := expr(&pg_query.Node{Node: &pg_query.Node_TypeCast{TypeCast: cast}})
	if err != nil {
		return "", err
	}
	out, ok := strings.CutPrefix(s, "NULL::")
	if !ok {
		return "", fmt.Errorf("cannot write the type back (%q)", s)
	}
	return out, nil
}

// parseVersion is the parse tree version the deparser expects: the one the parser
// of this build writes.
var parseVersion = func() int32 {
	tree, err := pg_query.Parse("SELECT 1")
	if err != nil {
		panic("convert: PostgreSQL's parser refuses SELECT 1: " + err.Error())
	}
	return tree.GetVersion()
}()

func deparseStmt(n *pg_query.Node) (string, error) {
	return pg_query.Deparse(&pg_query.ParseResult{Version: parseVersion, Stmts: []*pg_query.RawStmt{{Stmt: n}}})
}

// names reads a list of String nodes (a qualified name, a column list).
func names(list []*pg_query.Node) []string {
	out := make([]string, 0, len(list))
	for _, n := range list {
		out = append(out, n.GetString_().GetSval())
	}
	return out
}

// rangeVar is a table as schema.name, public when the statement does not say.
func rangeVar(r *pg_query.RangeVar) string {
	return qualify(r.GetSchemaname(), r.GetRelname())
}

func qualify(schema, name string) string {
	if schema == "" {
		schema = "public"
	}
	return schema + "." + name
}

// qualifiedName is a dotted object name (a type, an index) split into schema and name.
func qualifiedName(list []*pg_query.Node) (schema, name string) {
	parts := names(list)
	switch len(parts) {
	case 0:
		return "", ""
	case 1:
		return "", parts[0]
	}
	return parts[len(parts)-2], parts[len(parts)-1]
}

// serialTypes are the pseudo-types that make an integer column with a sequence.
var serialTypes = map[string]string{
	"serial": "integer", "serial4": "integer",
	"bigserial": "bigint", "serial8": "bigint",
	"smallserial": "smallint", "serial2": "smallint",
}

// serial says whether t is one of serial, bigserial, smallserial and which integer it is.
func serial(t *pg_query.TypeName) (string, bool) {
	parts := names(t.GetNames())
	if len(parts) != 1 || len(t.GetArrayBounds()) > 0 {
		return "", false
	}
	it, ok := serialTypes[strings.ToLower(parts[0])]
	return it, ok
}
