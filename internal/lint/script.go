package lint

import (
	"errors"
	"fmt"
	"strings"

	pg_query "github.com/pganalyze/pg_query_go/v6"
	pgparser "github.com/pganalyze/pg_query_go/v6/parser"

	"github.com/zdmhq/zdm/internal/sqlexpr"
)

// ParseError is a script PostgreSQL's parser refuses, with where.
type ParseError struct {
	File         string
	Line, Column int
	Msg          string
}

func (e *ParseError) Error() string {
	return fmt.Sprintf("%s:%d:%d: %s", e.File, e.Line, e.Column, e.Msg)
}

// script is one file, parsed.
type script struct {
	name  string
	src   string
	stmts []*stmt
	// metas are psql meta-command lines (\set, \connect ...), which the server never
	// sees: psql runs them.
	metas    []pos
	comments []comment
}

type pos struct {
	line, col, offset, end int
	text                   string
}

type comment struct {
	line int
	text string
	// trailing is set for a comment after something else on its line: it speaks of
	// that line's statement, not of the next.
	trailing bool
}

// stmt is one statement of a script.
type stmt struct {
	pos
	node *pg_query.Node
	desc sqlexpr.Statement
}

// parseScript splits src into statements with PostgreSQL's parser. psql meta-commands
// (a line whose first character is "\") are taken out first, unless they are inside a
// string or dollar-quoted body, where they are text.
func parseScript(name, src string) (*script, error) {
	sc := &script{name: name, src: src}
	clean, metas := blankMetaCommands(src)
	tree, err := pg_query.Parse(clean)
	if err != nil {
		pe := &ParseError{File: name, Line: 1, Column: 1, Msg: err.Error()}
		var perr *pgparser.Error
		if errors.As(err, &perr) {
			pe.Msg = perr.Message
			if perr.Cursorpos > 0 {
				pe.Line, pe.Column = sqlexpr.LineColumn(clean, perr.Cursorpos)
			}
		}
		return nil, pe
	}
	for _, m := range metas {
		sc.metas = append(sc.metas, position(src, m[0], m[1]))
	}
	scan, err := pg_query.Scan(clean)
	if err != nil {
		return nil, &ParseError{File: name, Line: 1, Column: 1, Msg: err.Error()}
	}
	var starts []int // first non-comment token of each statement, in order
	tokens := scan.GetTokens()
	for _, t := range tokens {
		if t.GetToken() == pg_query.Token_SQL_COMMENT || t.GetToken() == pg_query.Token_C_COMMENT {
			p := position(src, int(t.GetStart()), int(t.GetEnd()))
			lineStart := strings.LastIndex(src[:p.offset], "\n") + 1
			trailing := strings.TrimSpace(src[lineStart:p.offset]) != ""
			sc.comments = append(sc.comments, comment{line: p.line, text: p.text, trailing: trailing})
			continue
		}
		starts = append(starts, int(t.GetStart()))
	}
	for _, raw := range tree.GetStmts() {
		start, end := int(raw.GetStmtLocation()), len(clean)
		if n := int(raw.GetStmtLen()); n > 0 {
			end = start + n
		}
		// The statement's range begins right after the previous ";", with any comment
		// in between: its position is that of its first token.
		for _, s := range starts {
			if s >= start && s < end {
				start = s
				break
			}
		}
		d := sqlexpr.Describe(raw.GetStmt())
		p := position(src, start, end)
		p.text = strings.TrimSpace(p.text)
		sc.stmts = append(sc.stmts, &stmt{pos: p, node: raw.GetStmt(), desc: d})
	}
	return sc, nil
}

// blankMetaCommands replaces each psql meta-command line by spaces (offsets stay
// those of src) and returns where they were. A line inside a string or a dollar-quoted
// body is text, not a command: the scanner of the blanked script says so, and such a
// line is put back.
func blankMetaCommands(src string) (string, [][2]int) {
	var metas [][2]int
	b := []byte(src)
	off := 0
	for _, line := range strings.SplitAfter(src, "\n") {
		t := strings.TrimLeft(line, " \t")
		if strings.HasPrefix(t, `\`) {
			end := off + len(strings.TrimRight(line, "\r\n"))
			metas = append(metas, [2]int{off + len(line) - len(t), end})
			for i := off; i < end; i++ {
				b[i] = ' '
			}
		}
		off += len(line)
	}
	if len(metas) == 0 {
		return src, nil
	}
	scan, err := pg_query.Scan(string(b))
	if err != nil {
		return string(b), metas
	}
	var kept [][2]int
	for _, m := range metas {
		inside := false
		for _, t := range scan.GetTokens() {
			if t.GetToken() == pg_query.Token_SCONST && int(t.GetStart()) < m[0] && int(t.GetEnd()) > m[0] {
				inside = true
				break
			}
		}
		if inside {
			copy(b[m[0]:m[1]], src[m[0]:m[1]])
			continue
		}
		kept = append(kept, m)
	}
	return string(b), kept
}

// position is where byte offset start of src is, as line and column from 1.
func position(src string, start, end int) pos {
	line := 1 + strings.Count(src[:start], "\n")
	col := 1 + len([]rune(src[strings.LastIndex(src[:start], "\n")+1:start]))
	return pos{line: line, col: col, offset: start, end: end, text: src[start:end]}
}

// disabled is what the script's "-- zdm-lint:" comments turn off: for the whole file,
// and per line (a comment disables for a statement on its line or the next).
type disabled struct {
	file map[string]bool
	// byLine holds the rules disabled for the statement starting on a line.
	byLine map[int]map[string]bool
}

const directive = "zdm-lint:"

func (sc *script) disabled() disabled {
	d := disabled{file: map[string]bool{}, byLine: map[int]map[string]bool{}}
	for _, c := range sc.comments {
		text := strings.TrimSpace(strings.TrimSuffix(strings.TrimPrefix(strings.TrimPrefix(c.text, "--"), "/*"), "*/"))
		rest, ok := strings.CutPrefix(text, directive)
		if !ok {
			continue
		}
		rest = strings.TrimSpace(rest)
		var rules string
		var whole bool
		switch {
		case strings.HasPrefix(rest, "disable-file="):
			rules, whole = strings.TrimPrefix(rest, "disable-file="), true
		case strings.HasPrefix(rest, "disable="):
			rules = strings.TrimPrefix(rest, "disable=")
		default:
			continue
		}
		if i := strings.IndexAny(rules, " \t"); i >= 0 {
			rules = rules[:i] // a reason may follow
		}
		for _, r := range strings.Split(rules, ",") {
			r = strings.TrimSpace(r)
			if r == "" {
				continue
			}
			if whole {
				d.file[r] = true
				continue
			}
			// A comment alone on its line speaks of the statement on the next one; one
			// after a statement, of that statement.
			for _, l := range []int{c.line, c.line + 1} {
				if l == c.line+1 && c.trailing {
					continue
				}
				if d.byLine[l] == nil {
					d.byLine[l] = map[string]bool{}
				}
				d.byLine[l][r] = true
			}
		}
	}
	return d
}

// off says whether rule is disabled for the statement starting on line.
func (d disabled) off(rule string, line int) bool {
	return d.file[rule] || d.file["all"] || d.byLine[line][rule] || d.byLine[line]["all"]
}
