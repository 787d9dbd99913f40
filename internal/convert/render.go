package convert

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"

	"github.com/zdmhq/zdm/internal/spec"
)

// kv is one field of an operation, in the order it is written. v is a string, a bool,
// a []string, a []kv (a nested mapping) or a [][]kv (a list of one-line mappings).
type kv struct {
	k string
	v any
	// commented fields are written as a comment, for the user to confirm and uncomment.
	commented bool
}

func f(k string, v any) kv { return kv{k: k, v: v} }

// plain is a scalar YAML reads as the same string without quotes.
var plain = regexp.MustCompile(`^[A-Za-z_]([A-Za-z0-9_.$-]*[A-Za-z0-9_$])?$`)

// identifier is a name zdm's file format takes bare (a table, a column).
var identifier = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_$]*$`)

var yamlWords = map[string]bool{"true": true, "false": true, "yes": true, "no": true, "on": true, "off": true, "y": true, "n": true, "null": true, "~": true}

// scalar writes s as a YAML scalar: bare when that reads back the same, else
// double-quoted (a JSON string is a YAML double-quoted scalar).
func scalar(s string) string {
	if plain.MatchString(s) && !yamlWords[strings.ToLower(s)] {
		return s
	}
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s) // a string always encodes
	return strings.TrimSuffix(b.String(), "\n")
}

func flowValue(v any) string {
	switch x := v.(type) {
	case string:
		return scalar(x)
	case bool:
		return fmt.Sprint(x)
	case []string:
		parts := make([]string, len(x))
		for i, s := range x {
			parts[i] = scalar(s)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case []kv:
		parts := make([]string, 0, len(x))
		for _, e := range x {
			if !e.commented {
				parts = append(parts, e.k+": "+flowValue(e.v))
			}
		}
		return "{" + strings.Join(parts, ", ") + "}"
	}
	panic(fmt.Sprintf("convert: cannot write %T", v))
}

// block writes fields as a block mapping at indent.
func block(b *strings.Builder, indent string, fields []kv) {
	for _, e := range fields {
		lead := indent
		if e.commented {
			lead += "# "
		}
		switch x := e.v.(type) {
		case string:
			if strings.Contains(x, "\n") && literalOK(x) && !e.commented {
				fmt.Fprintf(b, "%s%s: |-\n", lead, e.k)
				for _, line := range strings.Split(x, "\n") {
					if line == "" {
						b.WriteString("\n")
						continue
					}
					fmt.Fprintf(b, "%s  %s\n", indent, line)
				}
				continue
			}
		case [][]kv:
			fmt.Fprintf(b, "%s%s:\n", lead, e.k)
			for _, item := range x {
				fmt.Fprintf(b, "%s  - %s\n", lead, flowValue(item))
			}
			continue
		}
		fmt.Fprintf(b, "%s%s: %s\n", lead, e.k, flowValue(e.v))
	}
}

// literalOK says whether a literal block reads s back exactly: no line ends in
// spaces, and the first line is not indented (which would set the block's indent).
func literalOK(s string) bool {
	if strings.HasPrefix(s, " ") || strings.HasPrefix(s, "\t") || strings.HasSuffix(s, "\n") {
		return false
	}
	for _, line := range strings.Split(s, "\n") {
		if strings.TrimRight(line, " \t") != line || strings.Contains(line, "\r") {
			return false
		}
	}
	return true
}

// mainTable is the table most operations act on (the first of them on a tie); it
// becomes the file's `table:`, and operations on it leave theirs out.
func (c *converter) mainTable() string {
	if c.fillTable != "" {
		return c.fillTable
	}
	count := map[string]int{}
	best := ""
	for _, st := range c.steps {
		if st.dropped || st.disabled || st.table == "" || st.kind == "sql" {
			continue
		}
		count[st.table]++
		if best == "" || count[st.table] > count[best] {
			best = st.table
		}
	}
	return best
}

// render writes the migration file.
func (c *converter) render(name string) (out []byte, ran int) {
	var b strings.Builder
	table := c.mainTable()
	fmt.Fprintf(&b, "# Converted by zdm convert from %s.\n", c.file)
	b.WriteString("# Check every TODO(zdm convert), then run `zdm plan -f` on this file.\n")
	fmt.Fprintf(&b, "name: %s\n", scalar(name))
	if table != "" {
		fmt.Fprintf(&b, "table: %s\n", scalar(table))
	}
	b.WriteString("operations:\n")
	for _, st := range c.steps {
		if !st.follows {
			fmt.Fprintf(&b, "  # line %d: %s\n", st.stmt.Line, oneLine(st.stmt.SQL))
		}
		for _, cm := range st.comments {
			for _, line := range strings.Split(cm, "\n") {
				fmt.Fprintf(&b, "  # %s\n", line)
			}
		}
		if st.dropped {
			continue
		}
		fields := st.fields
		if st.table != "" && (st.table != table || st.kind == "sql") {
			fields = append([]kv{f("table", st.table)}, fields...)
		}
		if st.disabled {
			var inner strings.Builder
			fmt.Fprintf(&inner, "- %s:\n", st.kind)
			block(&inner, "    ", fields)
			for _, line := range strings.Split(strings.TrimRight(inner.String(), "\n"), "\n") {
				fmt.Fprintf(&b, "  # %s\n", line)
			}
			continue
		}
		ran++
		fmt.Fprintf(&b, "  - %s:\n", st.kind)
		block(&b, "      ", fields)
	}
	fmt.Fprintf(&b, "lock_timeout: %s   # each DDL step gives up (and retries) rather than queue the application behind it longer\n", spec.DefaultLockTimeout)
	b.WriteString("gates: [contract]\n")
	return []byte(b.String()), ran
}

// oneLine is a statement on one comment line: whitespace runs folded, cut when long.
func oneLine(sql string) string {
	s := strings.Join(strings.Fields(sql), " ")
	if len(s) > 200 {
		s = s[:197] + "..."
	}
	return s
}
