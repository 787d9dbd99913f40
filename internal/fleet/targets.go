// Package fleet reads a targets file: the databases one migration runs across, in waves,
// with a concurrency limit, a gate between waves and a failure policy. Only the names of
// the environment variables holding the databases' URLs are read here; the URLs stay in
// the worker's environment.
package fleet

import (
	"fmt"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"

	"github.com/zdmhq/zdm/internal/spec"
)

// Failure policies.
const (
	// OnFailureStop starts no database after one failed; the ones already migrating
	// finish (a failed one rolls itself back).
	OnFailureStop = "stop"
	// OnFailureContinue goes on with every database and reports the failures at the end.
	OnFailureContinue = "continue"
)

// Target is one database of the fleet.
type Target struct {
	Name string `json:"name"`
	// URLEnv names the environment variable of the worker holding the database's URL.
	URLEnv string `json:"url_env"`
}

// Wave is a group of targets migrated together, after the waves before it.
type Wave struct {
	Name    string   `json:"name"`
	Targets []string `json:"targets"`
}

// Targets is a parsed targets file.
type Targets struct {
	File             string   `json:"file,omitempty"`
	Targets          []Target `json:"targets"`
	Waves            []Wave   `json:"waves"`
	Concurrency      int      `json:"concurrency"`
	GateBetweenWaves bool     `json:"gate_between_waves"`
	OnFailure        string   `json:"on_failure"`
}

// Target returns the target named name.
func (t *Targets) Target(name string) (Target, bool) {
	for _, x := range t.Targets {
		if x.Name == name {
			return x, true
		}
	}
	return Target{}, false
}

// GatePrefix starts the name of the gate before a wave: "wave:canary".
const GatePrefix = "wave:"

// WaveGate is the gate a person approves before wave starts.
func WaveGate(wave string) string { return GatePrefix + wave }

var (
	nameRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?$`)
	envRE  = regexp.MustCompile(`^[A-Z_][A-Z0-9_]{0,99}$`)
)

var topKeys = []string{"targets", "waves", "concurrency", "gate_between_waves", "on_failure"}

// ParseFile reads and checks a targets file.
func ParseFile(path string) (*Targets, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read targets file: %w", err)
	}
	return Parse(path, data)
}

// reader collects every problem of one file.
type reader struct {
	file string
	errs spec.Errors
}

func (r *reader) errorf(n ast.Node, field, fix, format string, args ...any) {
	line := 0
	if n != nil && n.GetToken() != nil {
		line = n.GetToken().Position.Line
	}
	r.errs = append(r.errs, &spec.FieldError{File: r.file, Line: line, Field: field, Msg: fmt.Sprintf(format, args...), Fix: fix})
}

// Parse reads a targets file from data. Every problem is reported at once, each as
// file:line: field: message (fix: ...).
func Parse(file string, data []byte) (*Targets, error) {
	r := &reader{file: file}
	f, err := parser.ParseBytes(data, 0)
	if err != nil {
		return nil, spec.Errors{{File: file, Msg: "not valid YAML: " + strings.TrimSpace(err.Error()), Fix: "see the README's targets.yaml example"}}
	}
	if len(f.Docs) != 1 || f.Docs[0].Body == nil {
		return nil, spec.Errors{{File: file, Msg: "expected one YAML document holding targets and waves", Fix: "see the README's targets.yaml example"}}
	}
	t := &Targets{File: file, Concurrency: 1, OnFailure: OnFailureStop}
	top := r.mapping(f.Docs[0].Body, "", topKeys)
	if top == nil {
		return nil, r.errs.Err()
	}
	if n, ok := top["targets"]; ok {
		t.Targets = r.targets(n)
	} else {
		r.errorf(f.Docs[0].Body, "targets", "list the databases: targets: [{name: eu1, url_env: EU1_DATABASE_URL}]", "missing")
	}
	if n, ok := top["waves"]; ok {
		t.Waves = r.waves(n)
	} else {
		r.errorf(f.Docs[0].Body, "waves", "list the waves in order: waves: [{name: all, targets: [eu1, us1]}]", "missing")
	}
	if n, ok := top["concurrency"]; ok {
		_, isInt := n.(*ast.IntegerNode)
		v, err := strconv.Atoi(strings.TrimSpace(n.String()))
		if !isInt || err != nil || v < 1 || v > 100 {
			r.errorf(n, "concurrency", "a whole number from 1 to 100: how many databases migrate at once within a wave", "%q is not a concurrency", strings.TrimSpace(n.String()))
		} else {
			t.Concurrency = v
		}
	}
	if n, ok := top["gate_between_waves"]; ok {
		b, ok := n.(*ast.BoolNode)
		if !ok {
			r.errorf(n, "gate_between_waves", "true (a person approves each wave after the first) or false", "%q is not true or false", strings.TrimSpace(n.String()))
		} else {
			t.GateBetweenWaves = b.Value
		}
	}
	if n, ok := top["on_failure"]; ok {
		v := scalar(n)
		if v != OnFailureStop && v != OnFailureContinue {
			r.errorf(n, "on_failure", "stop (start no other database) or continue (migrate the others and report)", "%q is not a failure policy", v)
		} else {
			t.OnFailure = v
		}
	}
	r.check(t, top)
	if err := r.errs.Err(); err != nil {
		return nil, err
	}
	return t, nil
}

// mapping reads a mapping's keys, refusing unknown and repeated ones.
func (r *reader) mapping(n ast.Node, path string, allowed []string) map[string]ast.Node {
	var pairs []*ast.MappingValueNode
	switch v := n.(type) {
	case *ast.MappingNode:
		pairs = v.Values
	case *ast.MappingValueNode:
		pairs = []*ast.MappingValueNode{v}
	default:
		field := path
		if field == "" {
			field = "(top)"
		}
		r.errorf(n, field, "write a mapping of "+strings.Join(allowed, ", "), "expected a mapping")
		return nil
	}
	out := map[string]ast.Node{}
	for _, mv := range pairs {
		key := scalar(mv.Key)
		field := key
		if path != "" {
			field = path + "." + key
		}
		if !contains(allowed, key) {
			r.errorf(mv.Key, field, "use one of: "+strings.Join(allowed, ", "), "unknown field %q", key)
			continue
		}
		if _, dup := out[key]; dup {
			r.errorf(mv.Key, field, "write it once", "repeated")
			continue
		}
		out[key] = mv.Value
	}
	return out
}

func (r *reader) sequence(n ast.Node, field, fix string) []ast.Node {
	s, ok := n.(*ast.SequenceNode)
	if !ok {
		r.errorf(n, field, fix, "expected a list")
		return nil
	}
	return s.Values
}

// word reads the required scalar key of m (the mapping at path, from item), which must
// match re; what names it in a refusal, and the fixes for a bad and a missing value.
func (r *reader) word(m map[string]ast.Node, item ast.Node, path, key string, re *regexp.Regexp, what, badFix, missingFix string) string {
	v, ok := m[key]
	if !ok {
		r.errorf(item, path+"."+key, missingFix, "missing")
		return ""
	}
	w := scalar(v)
	if !re.MatchString(w) {
		r.errorf(v, path+"."+key, badFix, "%q is not %s", w, what)
	}
	return w
}

func (r *reader) targets(n ast.Node) []Target {
	var out []Target
	for i, item := range r.sequence(n, "targets", "a list of {name: ..., url_env: ...}") {
		path := fmt.Sprintf("targets[%d]", i)
		m := r.mapping(item, path, []string{"name", "url_env"})
		if m == nil {
			continue
		}
		out = append(out, Target{
			Name: r.word(m, item, path, "name", nameRE, "a target name",
				"lower-case letters, digits and -, at most 40, e.g. eu1 (the database's migration is named MIGRATION-TARGET)",
				"name the database: name: eu1"),
			URLEnv: r.word(m, item, path, "url_env", envRE, "an environment variable name",
				"the NAME of an environment variable of the worker, e.g. EU1_DATABASE_URL, never the URL itself",
				"name the worker's environment variable holding this database's URL: url_env: EU1_DATABASE_URL"),
		})
	}
	return out
}

func (r *reader) waves(n ast.Node) []Wave {
	var out []Wave
	for i, item := range r.sequence(n, "waves", "a list of {name: ..., targets: [...]}, in the order they run") {
		path := fmt.Sprintf("waves[%d]", i)
		m := r.mapping(item, path, []string{"name", "targets"})
		if m == nil {
			continue
		}
		w := Wave{Name: r.word(m, item, path, "name", nameRE, "a wave name",
			"lower-case letters, digits and -, e.g. staging, canary, rest", "name the wave: name: canary")}
		if v, ok := m["targets"]; ok {
			for j, tn := range r.sequence(v, path+".targets", "a list of target names: targets: [eu1, us1]") {
				name := scalar(tn)
				if name == "" {
					r.errorf(tn, fmt.Sprintf("%s.targets[%d]", path, j), "name a target of the targets list", "empty")
					continue
				}
				w.Targets = append(w.Targets, name)
			}
		} else {
			r.errorf(item, path+".targets", "list the wave's databases: targets: [eu1]", "missing")
		}
		out = append(out, w)
	}
	return out
}

// check finds what no single field shows: duplicates, and targets in no wave or in two.
func (r *reader) check(t *Targets, top map[string]ast.Node) {
	if len(r.errs) > 0 {
		return // the lines below would repeat what is already said
	}
	names := map[string]bool{}
	envs := map[string]string{}
	for i, x := range t.Targets {
		path := fmt.Sprintf("targets[%d]", i)
		if names[x.Name] {
			r.errorf(nodeAt(top["targets"], i), path+".name", "give each database its own name", "target %q is listed twice", x.Name)
		}
		names[x.Name] = true
		if other, ok := envs[x.URLEnv]; ok {
			r.errorf(nodeAt(top["targets"], i), path+".url_env", "give each database its own variable", "%s is also the url_env of target %q: one database would be migrated twice", x.URLEnv, other)
		}
		envs[x.URLEnv] = x.Name
	}
	if len(t.Targets) == 0 {
		r.errorf(top["targets"], "targets", "list at least one database", "empty")
	}
	if len(t.Waves) == 0 {
		r.errorf(top["waves"], "waves", "list at least one wave", "empty")
	}
	inWave := map[string]string{}
	waveNames := map[string]bool{}
	for i, w := range t.Waves {
		path := fmt.Sprintf("waves[%d]", i)
		if waveNames[w.Name] {
			r.errorf(nodeAt(top["waves"], i), path+".name", "give each wave its own name", "wave %q is listed twice", w.Name)
		}
		waveNames[w.Name] = true
		if len(w.Targets) == 0 {
			r.errorf(nodeAt(top["waves"], i), path+".targets", "list at least one target, or remove the wave", "wave %q has no target", w.Name)
		}
		for j, name := range w.Targets {
			field := fmt.Sprintf("%s.targets[%d]", path, j)
			switch prev, seen := inWave[name]; {
			case !names[name]:
				r.errorf(nodeAt(top["waves"], i), field, "add it to targets, or use one of: "+strings.Join(keys(names), ", "), "target %q is not in the targets list", name)
			case seen:
				r.errorf(nodeAt(top["waves"], i), field, "put each target in exactly one wave", "target %q is already in wave %q", name, prev)
			}
			inWave[name] = w.Name
		}
	}
	for i, x := range t.Targets {
		if _, ok := inWave[x.Name]; !ok && len(t.Waves) > 0 {
			r.errorf(nodeAt(top["targets"], i), fmt.Sprintf("targets[%d]", i), "add it to a wave's targets, or remove it", "target %q is in no wave: it would never be migrated", x.Name)
		}
	}
}

func nodeAt(n ast.Node, i int) ast.Node {
	if s, ok := n.(*ast.SequenceNode); ok && i < len(s.Values) {
		return s.Values[i]
	}
	return n
}

func scalar(n ast.Node) string {
	if n == nil {
		return ""
	}
	s := strings.TrimSpace(n.String())
	if u, err := strconv.Unquote(s); err == nil {
		return u
	}
	return strings.Trim(s, "'")
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func keys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
