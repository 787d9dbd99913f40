// Package sqlexpr owns the checking of the SQL snippets that users write in
// migration files: scalar expressions (backfill values, defaults, check
// conditions, ...), type names, and throttle queries.
//
// Every judgement is made by PostgreSQL's own parser (libpg_query, through
// github.com/pganalyze/pg_query_go/v6), never by regular expressions or
// string scanning. A snippet is wrapped in a fixed, unparenthesised prefix
// (for example "SELECT " + src) so that an injection such as
// `1); DROP TABLE x; SELECT (1` cannot balance itself, and the resulting
// parse tree must have exactly the expected shape.
//
// SQL produced by this package (Expr.SQL, Expr.RewriteColumnRefs, ParseType)
// is always the output of pg_query's deparser, which quotes identifiers as
// needed and drops comments. Callers that embed a user's snippet into a
// larger statement must embed that canonical SQL, not the raw source.
//
// Error messages are plain sentences without a subject, meant to follow a
// field name, e.g. `backfill: is not one SQL expression: it has 2 statements`.
package sqlexpr

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	pg_query "github.com/pganalyze/pg_query_go/v6"
	pgparser "github.com/pganalyze/pg_query_go/v6/parser"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

const (
	exprPrefix = "SELECT "
	typePrefix = "SELECT NULL::"

	notExpr = "is not one SQL expression"
	notType = "is not one SQL type name"
)

// Expr is one parsed, validated scalar SQL expression. It is immutable.
type Expr struct {
	tree *pg_query.ParseResult // "SELECT <expr>", validated
	sql  string                // canonical deparsed expression
}

// ParseExpr parses src, which must be exactly one scalar SQL expression,
// such as `lower(email)`, `CASE WHEN a THEN 1 ELSE 2 END` or
// `(SELECT max(x) FROM t WHERE t.id = accounts.id)`.
//
// It rejects lists (`x, y`), aliases (`x AS y`), `*`, anything that would
// turn the snippet into more than a target list (`1 FROM t`, `1 LIMIT 1`,
// `1 UNION SELECT 2`, ...), more than one statement and a trailing `;`.
// Semicolons inside string literals, dollar-quoted strings, quoted
// identifiers and comments are fine.
func ParseExpr(src string) (*Expr, error) {
	tree, err := parseExprTree(src)
	if err != nil {
		return nil, err
	}
	sql, err := deparseExpr(tree)
	if err != nil {
		return nil, err
	}
	// The canonical form must itself be one expression; this guards
	// against deparser quirks producing something we would not accept.
	if _, err := parseExprTree(sql); err != nil {
		return nil, fmt.Errorf("could not be normalised (deparsed as %q: %v)", sql, err)
	}
	return &Expr{tree: tree, sql: sql}, nil
}

// SQL returns the expression in canonical, deparsed form. It contains no
// comments and quotes identifiers where PostgreSQL requires it.
func (e *Expr) SQL() string { return e.sql }

// String returns the same as SQL.
func (e *Expr) String() string { return e.sql }

// HasSubquery reports whether the expression contains a subquery anywhere
// (scalar, EXISTS, IN, ANY/ALL, ARRAY(...), ...).
func (e *Expr) HasSubquery() bool {
	found := false
	walk(e.root().ProtoReflect(), func(m protoreflect.Message) bool {
		if _, ok := m.Interface().(*pg_query.SubLink); ok {
			found = true
		}
		return !found
	})
	return found
}

// ColumnRefs returns the name parts of every column reference in the
// expression, including those inside subqueries, in source order.
// `accounts.email` is {"accounts", "email"}; a star part (`t.*`) is "*".
func (e *Expr) ColumnRefs() [][]string {
	var refs []located
	walk(e.root().ProtoReflect(), func(m protoreflect.Message) bool {
		if c, ok := m.Interface().(*pg_query.ColumnRef); ok {
			refs = append(refs, located{c.GetLocation(), columnRefParts(c)})
		}
		return true
	})
	return sortedParts(refs)
}

// FuncNames returns the (possibly schema-qualified) name of every function
// call in the expression, including those inside subqueries, in source
// order. Note that PostgreSQL's grammar turns some SQL-syntax constructs
// into calls of pg_catalog functions: `extract(year FROM x)` is
// {"pg_catalog", "extract"}, `x AT TIME ZONE 'utc'` is
// {"pg_catalog", "timezone"}. Constructs such as COALESCE, GREATEST,
// NULLIF, CURRENT_TIMESTAMP and casts are not function calls in the tree.
func (e *Expr) FuncNames() [][]string {
	var names []located
	walk(e.root().ProtoReflect(), func(m protoreflect.Message) bool {
		if f, ok := m.Interface().(*pg_query.FuncCall); ok {
			parts := make([]string, 0, len(f.GetFuncname()))
			for _, n := range f.GetFuncname() {
				parts = append(parts, n.GetString_().GetSval())
			}
			names = append(names, located{f.GetLocation(), parts})
		}
		return true
	})
	return sortedParts(names)
}

// RewriteColumnRefs returns the canonical SQL of the expression with every
// column reference's name parts replaced by fn's result. fn is called once
// per column reference, anywhere in the tree (subqueries, CASE, function
// arguments, casts, ...), with the same parts ColumnRefs reports; it may
// modify and return its argument. Returning nil or the unchanged parts
// leaves the reference as it is. A "*" part becomes a star and is only
// allowed last. The expression itself is not modified.
//
// For example, to strip a schema:
//
//	e.RewriteColumnRefs(func(p []string) []string {
//		if len(p) == 3 && p[0] == "public" { return p[1:] }
//		return nil
//	})
func (e *Expr) RewriteColumnRefs(fn func(parts []string) []string) (string, error) {
	tree := proto.Clone(e.tree).(*pg_query.ParseResult)
	var werr error
	walk(exprRoot(tree).ProtoReflect(), func(m protoreflect.Message) bool {
		c, ok := m.Interface().(*pg_query.ColumnRef)
		if !ok {
			return true
		}
		old := columnRefParts(c)
		got := fn(slices.Clone(old))
		if got == nil || slices.Equal(got, old) {
			return true
		}
		fields, err := columnRefFields(got)
		if err != nil {
			werr = fmt.Errorf("cannot rewrite column reference %s: %w", quoteParts(old), err)
			return false
		}
		c.Fields = fields
		return true
	})
	if werr != nil {
		return "", werr
	}
	sql, err := deparseExpr(tree)
	if err != nil {
		return "", err
	}
	if _, err := parseExprTree(sql); err != nil {
		return "", fmt.Errorf("rewritten expression %q %v", sql, err)
	}
	return sql, nil
}

// ParseType parses src, which must be exactly one type name, such as
// `bigint`, `numeric(12,2)`, `varchar(20)[]`, `timestamp with time zone`,
// `"My Type"` or `public.mytype`, and returns it in canonical, deparsed form
// (e.g. `numeric(12, 2)`). Anything beyond a type name (a COLLATE clause, a
// DEFAULT, a second statement, ...) is an error.
func ParseType(src string) (string, error) {
	tree, err := parseTypeTree(src)
	if err != nil {
		return "", err
	}
	out, err := pg_query.Deparse(tree)
	if err != nil {
		return "", fmt.Errorf("could not be deparsed: %v", err)
	}
	typ, ok := strings.CutPrefix(out, typePrefix)
	if !ok {
		return "", fmt.Errorf("could not be deparsed: unexpected deparser output %q", out)
	}
	if _, err := parseTypeTree(typ); err != nil {
		return "", fmt.Errorf("could not be normalised (deparsed as %q: %v)", typ, err)
	}
	return typ, nil
}

// parseTypeTree parses and validates "SELECT NULL::" + src.
func parseTypeTree(src string) (*pg_query.ParseResult, error) {
	tree, err := parseSnippet(src, typePrefix, notType)
	if err != nil {
		return nil, err
	}
	sel, err := plainSelect(tree, notType)
	if err != nil {
		return nil, err
	}
	val, err := singleTarget(sel, notType)
	if err != nil {
		return nil, err
	}
	tc := val.GetTypeCast()
	if tc == nil || tc.GetTypeName() == nil || !tc.GetArg().GetAConst().GetIsnull() {
		return nil, fmt.Errorf("%s: it is more than a type name", notType)
	}
	if tc.GetTypeName().GetSetof() || tc.GetTypeName().GetPctType() {
		return nil, fmt.Errorf("%s: SETOF and %%TYPE are not allowed", notType)
	}
	return tree, nil
}

// ParseQuery checks src as a throttle query: exactly one SELECT statement
// that returns exactly one column. SELECT INTO, locking clauses
// (FOR UPDATE/SHARE, anywhere) and data-modifying WITH queries are rejected.
// It cannot tell whether functions the query calls have side effects.
func ParseQuery(src string) error {
	const what = "is not one SELECT query"
	if strings.TrimSpace(src) == "" {
		return errors.New("is empty")
	}
	tree, err := pg_query.Parse(src)
	if err != nil {
		return parseError(err, src, 0)
	}
	switch n := len(tree.GetStmts()); n {
	case 0:
		return errors.New("has no SQL statement")
	case 1:
	default:
		return fmt.Errorf("%s: it has %d statements", what, n)
	}
	stmt := tree.GetStmts()[0].GetStmt()
	sel := stmt.GetSelectStmt()
	if sel == nil {
		return fmt.Errorf("%s: it is %s", what, statementKind(stmt))
	}

	var werr error
	walk(sel.ProtoReflect(), func(m protoreflect.Message) bool {
		switch n := m.Interface().(type) {
		case *pg_query.SelectStmt:
			switch {
			case n.GetIntoClause() != nil:
				werr = fmt.Errorf("%s: SELECT INTO is not allowed", what)
			case len(n.GetLockingClause()) > 0:
				werr = fmt.Errorf("%s: locking clauses (FOR UPDATE/SHARE) are not allowed", what)
			}
		case *pg_query.CommonTableExpr:
			if q := n.GetCtequery(); q.GetSelectStmt() == nil {
				werr = fmt.Errorf("%s: WITH query %s is %s; only SELECT is allowed",
					what, pgx.Identifier{n.GetCtename()}.Sanitize(), statementKind(q))
			}
		case *pg_query.InsertStmt, *pg_query.UpdateStmt, *pg_query.DeleteStmt, *pg_query.MergeStmt:
			werr = fmt.Errorf("%s: data-modifying statements are not allowed", what)
		}
		return werr == nil
	})
	if werr != nil {
		return werr
	}

	// The columns of a set operation are those of its leftmost SELECT.
	for sel.GetOp() != pg_query.SetOperation_SETOP_NONE && sel.GetLarg() != nil {
		sel = sel.GetLarg()
	}
	var cols int
	if vl := sel.GetValuesLists(); len(vl) > 0 {
		cols = len(vl[0].GetList().GetItems())
	} else {
		for _, t := range sel.GetTargetList() {
			if isStar(t.GetResTarget().GetVal()) {
				return fmt.Errorf("%s returning one column: * is not allowed, name the column", what)
			}
		}
		cols = len(sel.GetTargetList())
	}
	if cols != 1 {
		return fmt.Errorf("must return exactly one column, it returns %d", cols)
	}
	return nil
}

// parseExprTree parses and validates "SELECT " + src.
func parseExprTree(src string) (*pg_query.ParseResult, error) {
	tree, err := parseSnippet(src, exprPrefix, notExpr)
	if err != nil {
		return nil, err
	}
	// `SELECT ALL x` parses like `SELECT x`; ALL is a reserved keyword and
	// can never start an expression, so reject it with the lexer.
	if tok := firstToken(src); tok == pg_query.Token_ALL {
		return nil, fmt.Errorf("%s: unexpected ALL", notExpr)
	}
	sel, err := plainSelect(tree, notExpr)
	if err != nil {
		return nil, err
	}
	val, err := singleTarget(sel, notExpr)
	if err != nil {
		return nil, err
	}
	if isStar(val) {
		return nil, fmt.Errorf("%s: * is not allowed", notExpr)
	}
	return tree, nil
}

// parseSnippet parses prefix+src and checks that it is one statement with
// no `;`.
func parseSnippet(src, prefix, what string) (*pg_query.ParseResult, error) {
	if strings.TrimSpace(src) == "" {
		return nil, errors.New("is empty")
	}
	tree, err := pg_query.Parse(prefix + src)
	if err != nil {
		return nil, parseError(err, src, utf8.RuneCountInString(prefix))
	}
	if n := len(tree.GetStmts()); n != 1 {
		return nil, fmt.Errorf("%s: it has %d statements", what, n)
	}
	// The parser drops empty statements, so `x;` is one statement; the
	// lexer still sees the `;` token (never one inside a literal, quoted
	// identifier or comment).
	if hasSemicolon(src) {
		return nil, fmt.Errorf("%s: it contains a \";\" statement separator", what)
	}
	return tree, nil
}

// plainSelect returns the tree's only statement if it is a SELECT with a
// target list and nothing else.
func plainSelect(tree *pg_query.ParseResult, what string) (*pg_query.SelectStmt, error) {
	stmt := tree.GetStmts()[0].GetStmt()
	s := stmt.GetSelectStmt()
	if s == nil {
		return nil, fmt.Errorf("%s: it is %s", what, statementKind(stmt))
	}
	clause := ""
	switch {
	case s.GetOp() != pg_query.SetOperation_SETOP_NONE:
		clause = "a set operation (UNION/INTERSECT/EXCEPT)"
	case len(s.GetValuesLists()) > 0:
		clause = "a VALUES list"
	case s.GetWithClause() != nil:
		clause = "a WITH clause"
	case len(s.GetDistinctClause()) > 0:
		clause = "DISTINCT"
	case s.GetIntoClause() != nil:
		clause = "an INTO clause"
	case len(s.GetFromClause()) > 0:
		clause = "a FROM clause"
	case s.GetWhereClause() != nil:
		clause = "a WHERE clause"
	case len(s.GetGroupClause()) > 0 || s.GetGroupDistinct():
		clause = "a GROUP BY clause"
	case s.GetHavingClause() != nil:
		clause = "a HAVING clause"
	case len(s.GetWindowClause()) > 0:
		clause = "a WINDOW clause"
	case len(s.GetSortClause()) > 0:
		clause = "an ORDER BY clause"
	case s.GetLimitOffset() != nil:
		// checked first: a lone OFFSET also sets LimitOption to COUNT.
		clause = "an OFFSET clause"
	case s.GetLimitCount() != nil || s.GetLimitOption() == pg_query.LimitOption_LIMIT_OPTION_COUNT ||
		s.GetLimitOption() == pg_query.LimitOption_LIMIT_OPTION_WITH_TIES:
		clause = "a LIMIT/FETCH clause"
	case len(s.GetLockingClause()) > 0:
		clause = "a locking clause (FOR UPDATE/SHARE)"
	}
	if clause != "" {
		return nil, fmt.Errorf("%s: it has %s", what, clause)
	}
	return s, nil
}

// singleTarget returns the value of the only, unaliased target.
func singleTarget(s *pg_query.SelectStmt, what string) (*pg_query.Node, error) {
	targets := s.GetTargetList()
	switch len(targets) {
	case 0:
		return nil, errors.New("has no SQL expression")
	case 1:
	default:
		return nil, fmt.Errorf("%s: it is a list of %d comma-separated expressions", what, len(targets))
	}
	rt := targets[0].GetResTarget()
	if rt == nil || rt.GetVal() == nil {
		return nil, fmt.Errorf("%s: unexpected target", what)
	}
	if rt.GetName() != "" {
		return nil, fmt.Errorf("%s: it has an alias (AS %s)", what, pgx.Identifier{rt.GetName()}.Sanitize())
	}
	if len(rt.GetIndirection()) > 0 {
		return nil, fmt.Errorf("%s: unexpected indirection", what)
	}
	return rt.GetVal(), nil
}

// exprRoot returns the expression node of a validated "SELECT <expr>" tree.
func exprRoot(tree *pg_query.ParseResult) *pg_query.Node {
	return tree.GetStmts()[0].GetStmt().GetSelectStmt().GetTargetList()[0].GetResTarget().GetVal()
}

func (e *Expr) root() *pg_query.Node { return exprRoot(e.tree) }

// deparseExpr deparses a validated "SELECT <expr>" tree and returns <expr>.
func deparseExpr(tree *pg_query.ParseResult) (string, error) {
	out, err := pg_query.Deparse(tree)
	if err != nil {
		return "", fmt.Errorf("could not be deparsed: %v", err)
	}
	sql, ok := strings.CutPrefix(out, exprPrefix)
	if !ok {
		return "", fmt.Errorf("could not be deparsed: unexpected deparser output %q", out)
	}
	return sql, nil
}

// parseError turns a parser error into a message about src, whose first
// character was at (0-based) character offset prefixRunes of the parsed
// text.
func parseError(err error, src string, prefixRunes int) error {
	var pe *pgparser.Error
	if !errors.As(err, &pe) {
		return err
	}
	msg := pe.Message
	// Cursorpos is 1-based, in characters, 0 when unknown.
	if pos := pe.Cursorpos - prefixRunes; pe.Cursorpos > 0 && pos >= 1 && pos <= utf8.RuneCountInString(src) {
		msg = fmt.Sprintf("%s (at character %d)", msg, pos)
	}
	return errors.New(msg)
}

// scanTokens lexes src with PostgreSQL's lexer, without comments.
func scanTokens(src string) []*pg_query.ScanToken {
	res, err := pg_query.Scan(src)
	if err != nil {
		return nil // the parser accepted it; the lexer errors are a subset
	}
	var toks []*pg_query.ScanToken
	for _, t := range res.GetTokens() {
		switch t.GetToken() {
		case pg_query.Token_SQL_COMMENT, pg_query.Token_C_COMMENT:
			continue
		}
		toks = append(toks, t)
	}
	return toks
}

func firstToken(src string) pg_query.Token {
	toks := scanTokens(src)
	if len(toks) == 0 {
		return pg_query.Token_NUL
	}
	return toks[0].GetToken()
}

func hasSemicolon(src string) bool {
	for _, t := range scanTokens(src) {
		if t.GetToken() == pg_query.Token_ASCII_59 {
			return true
		}
	}
	return false
}

// isStar reports whether n is a bare `*` or `t.*` column reference.
func isStar(n *pg_query.Node) bool {
	c := n.GetColumnRef()
	if c == nil || len(c.GetFields()) == 0 {
		return false
	}
	return c.GetFields()[len(c.GetFields())-1].GetAStar() != nil
}

// statementKind names a statement node for error messages.
func statementKind(n *pg_query.Node) string {
	switch {
	case n == nil:
		return "empty"
	case n.GetInsertStmt() != nil:
		return "an INSERT"
	case n.GetUpdateStmt() != nil:
		return "an UPDATE"
	case n.GetDeleteStmt() != nil:
		return "a DELETE"
	case n.GetMergeStmt() != nil:
		return "a MERGE"
	case n.GetSelectStmt() != nil:
		return "a SELECT"
	}
	m := n.ProtoReflect()
	if od := m.Descriptor().Oneofs().ByName("node"); od != nil {
		if fd := m.WhichOneof(od); fd != nil {
			return "a " + string(fd.Message().Name())
		}
	}
	return "not a SELECT"
}

// columnRefParts returns a column reference's name parts, "*" for a star.
func columnRefParts(c *pg_query.ColumnRef) []string {
	parts := make([]string, 0, len(c.GetFields()))
	for _, f := range c.GetFields() {
		if f.GetAStar() != nil {
			parts = append(parts, "*")
			continue
		}
		parts = append(parts, f.GetString_().GetSval())
	}
	return parts
}

// columnRefFields builds ColumnRef fields from name parts.
func columnRefFields(parts []string) ([]*pg_query.Node, error) {
	if len(parts) == 0 || len(parts) > 4 {
		return nil, fmt.Errorf("a column reference has 1 to 4 name parts, got %d", len(parts))
	}
	fields := make([]*pg_query.Node, 0, len(parts))
	for i, p := range parts {
		switch {
		case p == "*" && i == len(parts)-1:
			fields = append(fields, &pg_query.Node{Node: &pg_query.Node_AStar{AStar: &pg_query.A_Star{}}})
		case p == "*":
			return nil, errors.New(`"*" is only allowed as the last name part`)
		case p == "":
			return nil, errors.New("empty name part")
		case strings.ContainsRune(p, 0):
			return nil, errors.New("name part contains a NUL character")
		default:
			fields = append(fields, pg_query.MakeStrNode(p))
		}
	}
	return fields, nil
}

func quoteParts(parts []string) string {
	q := make([]string, len(parts))
	for i, p := range parts {
		if p == "*" {
			q[i] = "*"
		} else {
			q[i] = pgx.Identifier{p}.Sanitize()
		}
	}
	return strings.Join(q, ".")
}

type located struct {
	loc   int32
	parts []string
}

func sortedParts(ls []located) [][]string {
	slices.SortStableFunc(ls, func(a, b located) int { return int(a.loc) - int(b.loc) })
	out := make([][]string, len(ls))
	for i, l := range ls {
		out[i] = l.parts
	}
	return out
}

// walk calls visit for m and, while visit returns true, for every message
// below it, depth first in field declaration order. It covers every node
// type pg_query knows without listing them.
func walk(m protoreflect.Message, visit func(protoreflect.Message) bool) bool {
	if !m.IsValid() {
		return true
	}
	if !visit(m) {
		return false
	}
	fields := m.Descriptor().Fields()
	for i := 0; i < fields.Len(); i++ {
		fd := fields.Get(i)
		if fd.Kind() != protoreflect.MessageKind && fd.Kind() != protoreflect.GroupKind {
			continue
		}
		if fd.IsMap() || !m.Has(fd) {
			continue
		}
		v := m.Get(fd)
		if fd.IsList() {
			l := v.List()
			for j := 0; j < l.Len(); j++ {
				if !walk(l.Get(j).Message(), visit) {
					return false
				}
			}
			continue
		}
		if !walk(v.Message(), visit) {
			return false
		}
	}
	return true
}

// Catalog answers what NeverNull needs to know of the database.
type Catalog interface {
	// NotNullColumn says whether the column reference names a NOT NULL column.
	NotNullColumn(parts []string) bool
	// StrictFunction and StrictOperator say whether every function or operator of
	// that name is strict: NULL only for NULL input.
	StrictFunction(name []string) bool
	StrictOperator(name string) bool
}

// NeverNull reports whether the expression can be shown never to give NULL: non-NULL
// constants, NOT NULL columns, casts, strict functions and operators of such inputs,
// COALESCE with one such argument, CASE whose every branch and ELSE are such, IS [NOT]
// NULL tests, and boolean connectives of such. Anything else may be NULL.
func (e *Expr) NeverNull(c Catalog) bool { return neverNull(e.root(), c) }

func neverNull(n *pg_query.Node, c Catalog) bool {
	if n == nil {
		return false
	}
	switch {
	case n.GetAConst() != nil:
		return !n.GetAConst().GetIsnull()
	case n.GetColumnRef() != nil:
		return c.NotNullColumn(columnRefParts(n.GetColumnRef()))
	case n.GetTypeCast() != nil:
		return neverNull(n.GetTypeCast().GetArg(), c)
	case n.GetNullTest() != nil, n.GetBooleanTest() != nil:
		return true
	case n.GetCoalesceExpr() != nil:
		for _, a := range n.GetCoalesceExpr().GetArgs() {
			if neverNull(a, c) {
				return true
			}
		}
		return false
	case n.GetCaseExpr() != nil:
		ce := n.GetCaseExpr()
		if ce.GetDefresult() == nil || !neverNull(ce.GetDefresult(), c) {
			return false
		}
		for _, w := range ce.GetArgs() {
			if !neverNull(w.GetCaseWhen().GetResult(), c) {
				return false
			}
		}
		return true
	case n.GetBoolExpr() != nil:
		for _, a := range n.GetBoolExpr().GetArgs() {
			if !neverNull(a, c) {
				return false
			}
		}
		return true
	case n.GetAExpr() != nil:
		a := n.GetAExpr()
		if a.GetKind() != pg_query.A_Expr_Kind_AEXPR_OP {
			return false
		}
		for _, name := range a.GetName() {
			if !c.StrictOperator(name.GetString_().GetSval()) {
				return false
			}
		}
		return (a.GetLexpr() == nil || neverNull(a.GetLexpr(), c)) && neverNull(a.GetRexpr(), c)
	case n.GetFuncCall() != nil:
		f := n.GetFuncCall()
		if f.GetAggStar() || f.GetAggDistinct() || f.GetOver() != nil || len(f.GetAggOrder()) > 0 || f.GetAggFilter() != nil {
			return false
		}
		parts := make([]string, 0, len(f.GetFuncname()))
		for _, p := range f.GetFuncname() {
			parts = append(parts, p.GetString_().GetSval())
		}
		if !c.StrictFunction(parts) {
			return false
		}
		for _, a := range f.GetArgs() {
			if !neverNull(a, c) {
				return false
			}
		}
		return true
	}
	return false
}

// Column returns the column's name when the expression is just one unqualified column
// reference (email, "Email"), and false otherwise.
func (e *Expr) Column() (string, bool) {
	c := e.root().GetColumnRef()
	if c == nil {
		return "", false
	}
	parts := columnRefParts(c)
	if len(parts) != 1 || parts[0] == "*" {
		return "", false
	}
	return parts[0], true
}
