package spec

import (
	"fmt"
	"sort"
	"strings"
)

// FieldError is a problem with one field of a migration file: where it is, what is wrong
// and how to fix it.
type FieldError struct {
	File  string
	Line  int
	Field string
	Msg   string
	Fix   string
}

func (e *FieldError) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
	}
	if e.Field != "" {
		fmt.Fprintf(&b, ": %s", e.Field)
	}
	fmt.Fprintf(&b, ": %s", e.Msg)
	if e.Fix != "" {
		fmt.Fprintf(&b, " (fix: %s)", e.Fix)
	}
	return b.String()
}

// Errors is every problem found in one file, in file order.
type Errors []*FieldError

func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Err returns nil when there is no error, else the sorted list.
func (es Errors) Err() error {
	if len(es) == 0 {
		return nil
	}
	sort.SliceStable(es, func(i, j int) bool { return es[i].Line < es[j].Line })
	return es
}

// Errorf records a problem with field, placing it on the field's line (or the nearest
// enclosing field's line when the field itself is missing from the file).
func (m *Migration) Errorf(field, fix, format string, args ...any) *FieldError {
	return &FieldError{File: m.Source.File, Line: m.Line(field), Field: field, Msg: fmt.Sprintf(format, args...), Fix: fix}
}

// Line is the line of field in the source file, or of its nearest parent that is there.
func (m *Migration) Line(field string) int {
	for f := field; f != ""; f = parentPath(f) {
		if l, ok := m.Source.Lines[f]; ok {
			return l
		}
	}
	return 0
}

func parentPath(p string) string {
	i := strings.LastIndexAny(p, ".[")
	if i < 0 {
		return ""
	}
	return p[:i]
}
