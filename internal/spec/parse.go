package spec

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"

	"github.com/zdmhq/zdm/internal/suggest"
)

// knownKeys lists the keys each mapping of a migration file may hold, by path pattern
// ("[]" stands for any sequence index). The operations' keys come from their registration.
func knownKeys(pattern string) ([]string, bool) {
	switch pattern {
	case "":
		return []string{"name", "table", "operations", "backfill", "lock_timeout", "flags", "gates", "contract_requires_no_old_usage", "undo_window", "guard", "require_rehearsal", "rehearsal_max_age"}, true
	case "operations[]":
		return OpKinds(), true
	case "backfill":
		return []string{"batch_size", "max_rows_per_second", "pause", "max_replication_lag", "throttle_query", "target_batch_time", "verify", "max_app_p99", "parallelism", "latency_query"}, true
	case "flags":
		return []string{"dual_write", "read_new", "app_refresh", "rollout", "soak"}, true
	case "guard", "guard.queries[]":
		return guardKeys(pattern), true
	}
	if kind, ok := strings.CutPrefix(pattern, "operations[]."); ok {
		if t, ok := lookupOp(kind); ok {
			if contains(t.keys, "table") {
				return t.keys, true
			}
			return append(append([]string(nil), t.keys...), "table"), true
		}
	}
	return nil, false
}

var indexRE = regexp.MustCompile(`\[\d+\]`)

// ParseFile reads and checks a migration file.
func ParseFile(path string) (*Migration, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read migration file: %w", err)
	}
	return Parse(path, data)
}

// Checksum is the SHA-256 of a migration file's bytes, in hex.
func Checksum(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

// Parse reads a migration from data, fills defaults and runs every check that needs no
// database. All problems are reported at once, each with file, line, field and fix.
func Parse(file string, data []byte) (*Migration, error) {
	f, err := parser.ParseBytes(data, 0)
	if err != nil {
		return nil, Errors{yamlError(file, err)}
	}
	if len(f.Docs) != 1 || f.Docs[0].Body == nil {
		return nil, &FieldError{File: file, Msg: "expected exactly one YAML document holding one migration", Fix: "see examples/ for the shape of a migration file"}
	}
	m := &Migration{Source: Source{File: file, Lines: map[string]int{}, Checksum: Checksum(data)}}
	var errs Errors
	walk(f.Docs[0].Body, "", m.Source.Lines, func(path string, line int, msg, fix string) {
		errs = append(errs, &FieldError{File: file, Line: line, Field: path, Msg: msg, Fix: fix})
	})
	// Every problem is collected before anything is refused: a person fixes a file in
	// one round.
	bad := map[string]bool{}
	for _, e := range errs {
		bad[e.Field] = true
	}
	for _, field := range append([]string{"lock_timeout", "backfill.pause", "backfill.max_replication_lag", "backfill.target_batch_time", "flags.app_refresh", "undo_window", "rehearsal_max_age"},
		guardDurationFields(m.Source.Lines)...) {
		if _, ok := m.Source.Lines[field]; !ok {
			continue
		}
		node := fieldNode(f, field)
		if node == nil {
			continue
		}
		var d Duration
		if err := d.UnmarshalText([]byte(strings.Trim(node.String(), `"'`))); err != nil {
			errs = append(errs, m.Errorf(field, "write it like 500ms, 2s or 1m", "%s", err))
			bad[field] = true
		}
	}
	if _, ok := m.Source.Lines["backfill.max_app_p99"]; ok {
		if e := governorFieldErrors(m, fieldNode(f, "backfill.max_app_p99")); e != nil {
			errs, bad[e.Field] = append(errs, e), true
		}
	}
	if _, ok := m.Source.Lines["backfill.parallelism"]; ok {
		if e := parallelismFieldErrors(m, fieldNode(f, "backfill.parallelism")); e != nil {
			errs, bad[e.Field] = append(errs, e), true
		}
	}
	if len(bad) == 0 {
		if err := yaml.NodeToValue(f.Docs[0].Body, m); err != nil {
			errs = append(errs, yamlError(file, err))
		}
	} else {
		// Decode field by field, leaving out the ones already refused.
		decodeTopLevel(f.Docs[0].Body, m, bad, func(e *FieldError) { errs = append(errs, e) })
	}
	m.Operations = decodeOperations(m, f.Docs[0].Body, func(e *FieldError) { errs = append(errs, e) })
	for _, e := range errs {
		if e.Field == "" && e.Line > 0 {
			e.Field = m.fieldAt(e.Line)
			bad[e.Field] = true
		}
	}
	if _, ok := m.Source.Lines["gates"]; !ok {
		m.Gates = []string{GateContract}
	}
	if m.Gates == nil {
		m.Gates = []string{}
	}
	m.applyDefaults()
	if err := m.Check(); err != nil {
		for _, e := range err.(Errors) {
			if !bad[e.Field] {
				errs = append(errs, e)
			}
		}
	}
	if err := errs.Err(); err != nil {
		return nil, err
	}
	return m, nil
}

// fieldAt names the field written on line, for decoding errors that know only the line;
// where a line holds several (a flow mapping), their common parent.
func (m *Migration) fieldAt(line int) string {
	var on []string
	for f, l := range m.Source.Lines {
		if l == line {
			on = append(on, f)
		}
	}
	if len(on) == 0 {
		return ""
	}
	common := on[0]
	for _, f := range on[1:] {
		for !strings.HasPrefix(f, common) {
			common = parentPath(common)
		}
	}
	return common
}

func fieldNode(f *ast.File, field string) ast.Node {
	path, err := yaml.PathString("$." + field)
	if err != nil {
		return nil
	}
	node, err := path.FilterFile(f)
	if err != nil {
		return nil
	}
	return node
}

// decodeTopLevel decodes each top-level field on its own, skipping those in bad (and
// their children), so that one bad value does not hide the others.
func decodeTopLevel(body ast.Node, m *Migration, bad map[string]bool, report func(*FieldError)) {
	mapping, ok := body.(*ast.MappingNode)
	if !ok {
		return
	}
	for _, mv := range mapping.Values {
		key := mv.Key.String()
		if bad[key] || key == "operations" {
			continue
		}
		var skip bool
		for b := range bad {
			if strings.HasPrefix(b, key+".") {
				skip = true
			}
		}
		if skip {
			continue
		}
		one := &ast.MappingNode{BaseNode: &ast.BaseNode{}, Start: mapping.Start, Values: []*ast.MappingValueNode{mv}}
		if err := yaml.NodeToValue(one, m); err != nil {
			report(yamlError(m.Source.File, err))
		}
	}
}

// decodeOperations reads each item of the operations list into its registered type.
func decodeOperations(m *Migration, body ast.Node, report func(*FieldError)) []Operation {
	mapping, ok := body.(*ast.MappingNode)
	if !ok {
		return nil
	}
	var seq *ast.SequenceNode
	for _, mv := range mapping.Values {
		if mv.Key.String() == "operations" {
			seq, _ = mv.Value.(*ast.SequenceNode)
			if seq == nil {
				if _, null := mv.Value.(*ast.NullNode); !null {
					report(m.Errorf("operations", "write a list: each item starts with '- '", "must be a list of operations"))
				}
			}
		}
	}
	if seq == nil {
		return nil
	}
	out := make([]Operation, 0, len(seq.Values))
	for i, item := range seq.Values {
		field := fmt.Sprintf("operations[%d]", i)
		var pairs []*ast.MappingValueNode
		switch v := item.(type) {
		case *ast.MappingNode:
			pairs = v.Values
		case *ast.MappingValueNode:
			pairs = []*ast.MappingValueNode{v}
		}
		if len(pairs) != 1 {
			report(m.Errorf(field, "give each list item exactly one of "+strings.Join(OpKinds(), ", "), "has %d operations", len(pairs)))
			out = append(out, Operation{})
			continue
		}
		kind := pairs[0].Key.String()
		t, ok := lookupOp(kind)
		if !ok {
			out = append(out, Operation{Kind: kind})
			continue // reported by walk as an unknown key
		}
		op := t.new()
		var own struct {
			Table string `yaml:"table"`
		}
		if _, null := pairs[0].Value.(*ast.NullNode); !null {
			if err := yaml.NodeToValue(pairs[0].Value, op); err != nil {
				report(yamlError(m.Source.File, err))
			} else if err := yaml.NodeToValue(pairs[0].Value, &own); err != nil {
				report(yamlError(m.Source.File, err))
			}
		}
		out = append(out, Operation{Kind: kind, Op: op, Table: qualify(strings.TrimSpace(own.Table))})
	}
	return out
}

func yamlError(file string, err error) *FieldError {
	var ye yaml.Error
	if errors.As(err, &ye) {
		line := 0
		if t := ye.GetToken(); t != nil && t.Position != nil {
			line = t.Position.Line
		}
		return &FieldError{File: file, Line: line, Msg: ye.GetMessage(), Fix: "correct the YAML at that line"}
	}
	return &FieldError{File: file, Msg: err.Error(), Fix: "correct the YAML"}
}

// walk records the line of every field and reports keys the file format does not know.
func walk(n ast.Node, path string, lines map[string]int, report func(path string, line int, msg, fix string)) {
	switch v := n.(type) {
	case *ast.MappingNode:
		for _, mv := range v.Values {
			walkPair(mv, path, lines, report)
		}
	case *ast.MappingValueNode:
		walkPair(v, path, lines, report)
	case *ast.SequenceNode:
		for i, item := range v.Values {
			p := fmt.Sprintf("%s[%d]", path, i)
			lines[p] = item.GetToken().Position.Line
			walk(item, p, lines, report)
		}
	}
}

func walkPair(mv *ast.MappingValueNode, path string, lines map[string]int, report func(string, int, string, string)) {
	key := mv.Key.String()
	if k, err := strconv.Unquote(key); err == nil {
		key = k
	}
	p := key
	if path != "" {
		p = path + "." + key
	}
	line := mv.Key.GetToken().Position.Line
	pattern := indexRE.ReplaceAllString(path, "[]")
	if allowed, ok := knownKeys(pattern); ok && !contains(allowed, key) {
		where := "at the top level"
		if path != "" {
			where = "in " + path
		}
		report(p, line, fmt.Sprintf("unknown field %q %s", key, where), "use one of: "+strings.Join(allowed, ", ")+didYouMean(key, allowed))
		return
	}
	lines[p] = line
	walk(mv.Value, p, lines, report)
}

func didYouMean(key string, allowed []string) string {
	if best := suggest.Closest(key, allowed, 2); best != "" {
		return fmt.Sprintf("; did you mean %q?", best)
	}
	return ""
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func (m *Migration) applyDefaults() {
	if m.Backfill.BatchSize == 0 {
		m.Backfill.BatchSize = DefaultBatchSize
	}
	if m.LockTimeout == 0 {
		m.LockTimeout = Duration(DefaultLockTimeout)
	}
	if m.Flags != nil && m.Flags.AppRefresh == 0 {
		m.Flags.AppRefresh = Duration(DefaultAppRefresh)
	}
	m.applyGuardDefaults()
	m.applyGovernorDefaults()
	if i := strings.IndexByte(m.Table, '.'); i < 0 && m.Table != "" {
		m.Table = "public." + m.Table
	}
}

// SortedFields returns the recorded field paths in file order (for tests and tools).
func (m *Migration) SortedFields() []string {
	out := make([]string, 0, len(m.Source.Lines))
	for k := range m.Source.Lines {
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool { return m.Source.Lines[out[i]] < m.Source.Lines[out[j]] })
	return out
}
