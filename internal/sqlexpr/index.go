package sqlexpr

import (
	"errors"
	"fmt"

	pg_query "github.com/pganalyze/pg_query_go/v6"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// CopyIndex reads an index definition as pg_get_indexdef writes it and returns the
// statement that builds a copy of it CONCURRENTLY, IF NOT EXISTS, named name, with every
// reference to column from (key columns, INCLUDE columns, expressions, the WHERE of a
// partial index) made to column to. Method, operator classes, collations, order,
// storage parameters and tablespace are kept as they are.
func CopyIndex(def, name, from, to string) (string, error) {
	tree, err := pg_query.Parse(def)
	if err != nil {
		return "", fmt.Errorf("cannot read index definition: %w", err)
	}
	if len(tree.GetStmts()) != 1 || tree.GetStmts()[0].GetStmt().GetIndexStmt() == nil {
		return "", errors.New("cannot read index definition: not one CREATE INDEX")
	}
	ix := tree.GetStmts()[0].GetStmt().GetIndexStmt()
	ix.Idxname, ix.Concurrent, ix.IfNotExists = name, true, true
	renamed := 0
	walk(ix.ProtoReflect(), func(m protoreflect.Message) bool {
		switch n := m.Interface().(type) {
		case *pg_query.IndexElem:
			if n.GetName() == from {
				n.Name = to
				renamed++
			}
		case *pg_query.ColumnRef:
			parts := columnRefParts(n)
			if len(parts) > 0 && parts[len(parts)-1] == from {
				parts[len(parts)-1] = to
				fields, err := columnRefFields(parts)
				if err == nil {
					n.Fields = fields
					renamed++
				}
			}
		}
		return true
	})
	if renamed == 0 {
		return "", fmt.Errorf("index definition does not name column %s", from)
	}
	out, err := pg_query.Deparse(tree)
	if err != nil {
		return "", fmt.Errorf("cannot write the index copy: %w", err)
	}
	return out, nil
}
