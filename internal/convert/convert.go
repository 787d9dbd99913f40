// Package convert owns `zdm convert`: it reads the SQL migration a framework wrote
// (Rails, Django, Alembic, Flyway, ...) with PostgreSQL's own parser and writes the zdm
// migration file that makes the same change online. Each statement zdm has an operation
// for becomes that operation, its expressions filled in; what has none becomes a `sql`
// step, marked, with the down that undoes it when that down is certain, and is left
// commented out for the user to finish when it is not.
package convert

import (
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	pg_query "github.com/pganalyze/pg_query_go/v6"

	_ "github.com/zdmhq/zdm/internal/ops" // registers the operations spec.Parse checks the output with
	"github.com/zdmhq/zdm/internal/spec"
	"github.com/zdmhq/zdm/internal/sqlexpr"
)

// Options tune a conversion.
type Options struct {
	// Name is the migration's name; empty takes it from the file name, in kebab-case.
	Name string
	// Table picks the table whose columns the migration fills. zdm backfills one table
	// per migration: the operations that fill another table's columns (add_column,
	// change_type, alter_column, rename_column) are left commented out, to be
	// converted again with Table set to theirs. With Table set to a table other than
	// the one picked without it, the migration holds only those operations. Empty
	// picks the table most such operations fill.
	Table string
	// Catalog answers what the SQL does not say (a column's current type, the table of
	// an index) from a live database; nil converts from the SQL alone, leaving TODOs.
	Catalog Catalog
}

// Catalog reads the live schema.
type Catalog interface {
	// ColumnType is the type of table.column as format_type writes it, with ok false
	// when there is no such column.
	ColumnType(table, column string) (typ string, ok bool, err error)
	// IndexTable is the table (schema.name) index (schema.name) is on, ok false when
	// there is no such index.
	IndexTable(index string) (table string, ok bool, err error)
}

// Note is something about the conversion the user must look at: a statement dropped,
// one left commented out, a value to confirm.
type Note struct {
	File string
	Line int // the statement's line in the SQL file, from 1
	Msg  string
}

func (n Note) String() string { return fmt.Sprintf("%s:%d: %s", n.File, n.Line, n.Msg) }

// ParseError is a SQL file PostgreSQL's parser refuses.
type ParseError struct {
	File         string
	Line, Column int // 0 when the parser does not say
	Msg          string
}

func (e *ParseError) Error() string {
	if e.Line == 0 {
		return fmt.Sprintf("%s: %s", e.File, e.Msg)
	}
	return fmt.Sprintf("%s:%d:%d: %s", e.File, e.Line, e.Column, e.Msg)
}

// Convert turns src, the SQL file file, into a zdm migration file. The YAML it returns
// is accepted by spec.Parse; the notes say what the user must confirm or finish. A file
// the parser refuses is a *ParseError.
func Convert(file string, src []byte, opts Options) ([]byte, []Note, error) {
	stmts, err := sqlexpr.Statements(string(src))
	if err != nil {
		pe := &ParseError{File: file, Msg: err.Error()}
		var se *sqlexpr.ScriptError
		if errors.As(err, &se) {
			pe.Msg, pe.Line, pe.Column = se.Msg, se.Line, se.Column
		}
		return nil, nil, pe
	}
	tree, err := pg_query.Parse(string(src))
	if err != nil { // sqlexpr parsed the same text: this cannot differ
		return nil, nil, &ParseError{File: file, Msg: err.Error()}
	}
	c := &converter{file: file, opts: opts, created: map[string]bool{}}
	for i, raw := range tree.GetStmts() {
		c.statement(withoutLeadingComments(stmts[i]), raw.GetStmt())
	}
	c.merge()
	c.oneBackfill()
	sort.SliceStable(c.notes, func(i, j int) bool { return c.notes[i].Line < c.notes[j].Line })
	name := opts.Name
	if name == "" {
		name = NameFromFile(file)
	}
	out, ran := c.render(name)
	if ran == 0 {
		return out, c.notes, fmt.Errorf("%s: no statement converts to a step zdm can run as it is; finish the commented-out steps by hand", file)
	}
	if _, err := spec.Parse(file+" (converted)", out); err != nil {
		return out, c.notes, fmt.Errorf("the converted migration is not one zdm accepts (a bug of zdm convert; please report it with the SQL):\n%w", err)
	}
	return out, c.notes, nil
}

var nonName = regexp.MustCompile(`[^a-z0-9]+`)

// NameFromFile makes a migration name from a file name: 20240101120000_add_email.sql
// gives add-email (a leading version number is dropped when the name is too long
// with it), lower-case letters, digits and dashes, at most spec.MaxNameLength.
func NameFromFile(file string) string {
	base := strings.TrimSuffix(filepath.Base(file), filepath.Ext(file))
	name := strings.Trim(nonName.ReplaceAllString(strings.ToLower(base), "-"), "-")
	if len(name) > spec.MaxNameLength {
		if i := strings.IndexByte(name, '-'); i > 0 && strings.Trim(name[:i], "0123456789") == "" {
			name = name[i+1:]
		}
	}
	if len(name) > spec.MaxNameLength {
		name = strings.TrimRight(name[:spec.MaxNameLength], "-")
	}
	if name == "" {
		name = "converted"
	}
	return name
}

// step is one item of the output's operations list, or a commented-out block.
type step struct {
	stmt  sqlexpr.Statement
	kind  string // the operation's key: add_column, sql, ...
	table string // schema.name of a table-bound operation; "" for tableless ones
	// column is the column the operation changes, for merging several statements'
	// changes to one column (zdm allows one operation per column and migration).
	column string
	fields []kv
	// comments go above the operation, after the original statement.
	comments []string
	// disabled steps are written commented out: the user must finish them.
	disabled bool
	// dropped steps are not written at all (merged into another, or a statement zdm
	// makes itself); their comment explains.
	dropped bool
	// follows marks a step made from the same statement as the one before it.
	follows bool
	// col and add hold a column change or an added column until merge has seen every
	// statement; node is the statement of a sql step.
	col  *colChange
	add  *addCol
	node *pg_query.Node
}

type converter struct {
	file    string
	opts    Options
	steps   []*step
	notes   []Note
	created map[string]bool // tables created by this file
	// fillTable is the table the migration backfills, "" when none: the file's table.
	fillTable string
}

func (c *converter) note(s sqlexpr.Statement, format string, args ...any) {
	c.notes = append(c.notes, Note{File: c.file, Line: s.Line, Msg: fmt.Sprintf(format, args...)})
}

func (c *converter) add(s sqlexpr.Statement, kind, table string, fields ...kv) *step {
	st := &step{stmt: s, kind: kind, table: table, fields: fields}
	if n := len(c.steps); n > 0 && c.steps[n-1].stmt.Line == s.Line && c.steps[n-1].stmt.SQL == s.SQL {
		st.follows = true
	}
	c.steps = append(c.steps, st)
	return st
}

// statement converts one parsed statement.
func (c *converter) statement(s sqlexpr.Statement, n *pg_query.Node) {
	switch {
	case s.TransactionControl && (s.Kind == "BEGIN" || s.Kind == "COMMIT"):
		c.add(s, "", "").dropped = true
		c.last().comments = []string{"dropped: zdm runs each step in its own transaction (or none, for what must run outside one)"}
		return
	case s.Kind == "SET" || s.Kind == "RESET":
		st := c.add(s, "", "")
		st.dropped = true
		st.comments = []string{"dropped: a session setting; zdm sets its own lock_timeout (see lock_timeout below) and statement settings on each step"}
		if s.Setting != "lock_timeout" && s.Setting != "statement_timeout" && s.Setting != "idle_in_transaction_session_timeout" {
			c.note(s, "%s %s dropped: zdm runs each step on its own connection; if a later statement relies on it, put it in that sql step", s.Kind, s.Setting)
		}
		return
	case s.TransactionControl:
		c.rawSQL(s, n)
		return
	}
	var ok bool
	switch {
	case n.GetAlterTableStmt() != nil:
		ok = c.alterTable(s, n.GetAlterTableStmt())
	case n.GetIndexStmt() != nil:
		ok = c.createIndex(s, n.GetIndexStmt())
	case n.GetDropStmt() != nil:
		ok = c.drop(s, n.GetDropStmt())
	case n.GetRenameStmt() != nil:
		ok = c.rename(s, n.GetRenameStmt())
	case n.GetCreateStmt() != nil:
		ok = c.createTable(s, n.GetCreateStmt())
	case n.GetCreateEnumStmt() != nil:
		ok = c.createEnum(s, n.GetCreateEnumStmt())
	case n.GetAlterEnumStmt() != nil:
		ok = c.alterEnum(s, n.GetAlterEnumStmt())
	}
	if !ok {
		c.rawSQL(s, n)
	}
}

func (c *converter) last() *step { return c.steps[len(c.steps)-1] }

// withoutLeadingComments starts a statement at its first token: the comments before
// it (a framework's header, a note on the statement) stay in the SQL file, and the
// statement's line is the line of its first word.
func withoutLeadingComments(s sqlexpr.Statement) sqlexpr.Statement {
	scan, err := pg_query.Scan(s.SQL)
	if err != nil {
		return s
	}
	for _, t := range scan.GetTokens() {
		if t.GetToken() == pg_query.Token_SQL_COMMENT || t.GetToken() == pg_query.Token_C_COMMENT {
			continue
		}
		start := int(t.GetStart())
		s.Line += strings.Count(s.SQL[:start], "\n")
		s.SQL = s.SQL[start:]
		break
	}
	return s
}
