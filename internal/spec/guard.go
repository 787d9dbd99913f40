package spec

import (
	"fmt"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"time"
)

// Guard says how zdm knows the application is healthy while read_new rolls out and until
// contract: PromQL queries against a Prometheus server, each with a threshold, and an
// optional health URL. On a breach the workflow switches read_new back to its last
// healthy step and waits at the recover gate.
type Guard struct {
	// PrometheusURL is the Prometheus server's base URL (its HTTP API is under /api/v1).
	PrometheusURL string `yaml:"prometheus_url" json:"prometheus_url"`
	// Interval is how often the queries are evaluated (default 10s).
	Interval Duration `yaml:"interval" json:"interval,omitempty"`
	// Queries are evaluated as instant queries; any sample beyond its threshold breaches.
	Queries []GuardQuery `yaml:"queries" json:"queries,omitempty"`
	// HealthURL, when set, must answer a GET with 2xx within HealthTimeout.
	HealthURL string `yaml:"health_url" json:"health_url,omitempty"`
	// HealthTimeout bounds the health request (default 5s).
	HealthTimeout Duration `yaml:"health_timeout" json:"health_timeout,omitempty"`
}

// GuardQuery is one PromQL query and its thresholds.
type GuardQuery struct {
	Name   string `yaml:"name" json:"name"`
	PromQL string `yaml:"promql" json:"promql"`
	// Max: a value above it breaches. Min: a value below it breaches. At least one.
	Max *float64 `yaml:"max" json:"max,omitempty"`
	Min *float64 `yaml:"min" json:"min,omitempty"`
	// For: the value must stay beyond the threshold this long before it counts (0: at
	// the first evaluation).
	For Duration `yaml:"for" json:"for,omitempty"`
	// NoData says what a query returning no sample means: "ok" (default) or "breach".
	NoData string `yaml:"no_data" json:"no_data,omitempty"`
}

// The recover gate: the migration waits there after a guard breach. It is not listed in
// gates: a breach opens it.
const GateRecover = "recover"

// Guard defaults and bounds.
const (
	DefaultGuardInterval = 10 * time.Second
	DefaultSoak          = time.Minute
	DefaultHealthTimeout = 5 * time.Second
	NoDataOK             = "ok"
	NoDataBreach         = "breach"
)

// CheckPromQL parses a PromQL expression. It is Prometheus' own parser, set by
// internal/guard; the workflow, which only carries the file, links no parser.
var CheckPromQL func(string) error

var guardNameRE = regexp.MustCompile(`^[A-Za-z0-9_.-]+$`)

func guardKeys(pattern string) []string {
	if pattern == "guard" {
		return []string{"prometheus_url", "interval", "queries", "health_url", "health_timeout"}
	}
	return []string{"name", "promql", "max", "min", "for", "no_data"}
}

// guardDurationFields lists the duration fields of the guard present in the file.
func guardDurationFields(lines map[string]int) []string {
	out := []string{}
	for f := range lines {
		if f == "flags.soak" || f == "guard.interval" || f == "guard.health_timeout" ||
			(strings.HasPrefix(f, "guard.queries[") && strings.HasSuffix(f, "].for")) {
			out = append(out, f)
		}
	}
	sort.Strings(out)
	return out
}

// Rollout is the percents read_new goes through: the file's, or one step of 100.
func (m *Migration) Rollout() []int {
	if m.Flags == nil || len(m.Flags.Rollout) == 0 {
		return []int{100}
	}
	return m.Flags.Rollout
}

// Guarded says whether read_new is switched step by step or under a guard, rather than
// on for everyone at once.
func (m *Migration) Guarded() bool {
	return m.Flags != nil && m.Flags.ReadNew != "" && (m.Guard != nil || len(m.Flags.Rollout) > 1)
}

func (m *Migration) applyGuardDefaults() {
	if m.Flags != nil && m.Flags.Soak == 0 && (len(m.Flags.Rollout) > 1 || m.Guard != nil) {
		m.Flags.Soak = Duration(DefaultSoak)
	}
	if g := m.Guard; g != nil {
		if g.Interval == 0 {
			g.Interval = Duration(DefaultGuardInterval)
		}
		if g.HealthURL != "" && g.HealthTimeout == 0 {
			g.HealthTimeout = Duration(DefaultHealthTimeout)
		}
		for i := range g.Queries {
			if g.Queries[i].NoData == "" {
				g.Queries[i].NoData = NoDataOK
			}
		}
	}
}

func (m *Migration) checkGuard(add func(*FieldError)) {
	if f := m.Flags; f != nil {
		if len(f.Rollout) > 0 && f.ReadNew == "" {
			add(m.Errorf("flags.rollout", "name the flag it rolls out in flags.read_new, or remove rollout", "rolls out read_new, which this migration does not name"))
		}
		prev := 0
		for i, p := range f.Rollout {
			field := fmt.Sprintf("flags.rollout[%d]", i)
			switch {
			case p < 1 || p > 100:
				add(m.Errorf(field, "use percents from 1 to 100, e.g. [1, 10, 50, 100]", "%d is not a percent from 1 to 100", p))
			case p <= prev:
				add(m.Errorf(field, "list the steps in increasing order, each once, e.g. [1, 10, 50, 100]", "%d does not follow %d: steps must increase", p, prev))
			}
			prev = max(prev, p)
		}
		if n := len(f.Rollout); n > 0 && f.Rollout[n-1] != 100 {
			add(m.Errorf(fmt.Sprintf("flags.rollout[%d]", n-1), "end the rollout with 100, e.g. [1, 10, 50, 100]", "the last step is %d%%: contract needs every application on the new columns", f.Rollout[n-1]))
		}
		if s := f.Soak.D(); s < 0 || s > 24*time.Hour {
			add(m.Errorf("flags.soak", "use a duration such as 2m (at most 24h)", "%s is out of range", s))
		} else if _, set := m.Source.Lines["flags.soak"]; set && len(f.Rollout) <= 1 && m.Guard == nil {
			add(m.Errorf("flags.soak", "give flags.rollout more than one step, or a guard, or remove soak", "a soak needs a rollout of several steps or a guard to watch it"))
		}
	}
	g := m.Guard
	if g == nil {
		// A guard whose fields were refused already (a bad duration) is not decoded;
		// only a block with no field to read is reported here.
		_, set := m.Source.Lines["guard"]
		for f := range m.Source.Lines {
			if strings.HasPrefix(f, "guard.") {
				set = false
			}
		}
		if set {
			add(m.Errorf("guard", "give prometheus_url and queries (or a health_url), or remove guard", "names no Prometheus server, query or health URL"))
		}
		return
	}
	if m.Flags == nil || m.Flags.ReadNew == "" {
		add(m.Errorf("guard", "name the flag it guards in flags.read_new (and a rollout such as [1, 10, 50, 100]), or remove guard",
			"guards the read_new switch, which this migration does not have"))
	}
	switch u, err := url.Parse(g.PrometheusURL); {
	case g.PrometheusURL == "":
		add(m.Errorf("guard.prometheus_url", "add the Prometheus server's URL, e.g. http://127.0.0.1:9090", "is required"))
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		add(m.Errorf("guard.prometheus_url", "write it like http://prometheus:9090", "%q is not an http(s) URL", g.PrometheusURL))
	case u.User != nil:
		add(m.Errorf("guard.prometheus_url", "remove the user and password: a migration file and the workflow's history must hold no credentials", "holds credentials"))
	}
	if iv := g.Interval.D(); iv < time.Second || iv > 10*time.Minute {
		add(m.Errorf("guard.interval", "use a duration from 1s to 10m, e.g. 10s", "%s is out of range", iv))
	}
	if g.HealthURL != "" {
		if u, err := url.Parse(g.HealthURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			add(m.Errorf("guard.health_url", "write it like http://app:8080/healthz", "%q is not an http(s) URL", g.HealthURL))
		} else if u.User != nil {
			add(m.Errorf("guard.health_url", "remove the user and password: a migration file holds no credentials", "holds credentials"))
		}
		if t := g.HealthTimeout.D(); t < 0 || t > time.Minute {
			add(m.Errorf("guard.health_timeout", "use a duration up to 1m, e.g. 5s", "%s is out of range", t))
		}
	} else if _, set := m.Source.Lines["guard.health_timeout"]; set {
		add(m.Errorf("guard.health_timeout", "add guard.health_url, or remove health_timeout", "times out no health URL"))
	}
	if len(g.Queries) == 0 && g.HealthURL == "" {
		add(m.Errorf("guard.queries", "add a query such as {name: error-ratio, promql: 'sum(rate(errors[1m])) / sum(rate(requests[1m]))', max: 0.01}, or a health_url",
			"a guard needs at least one query or a health_url"))
	}
	seen := map[string]bool{}
	for i, q := range g.Queries {
		field := fmt.Sprintf("guard.queries[%d]", i)
		switch {
		case q.Name == "":
			add(m.Errorf(field+".name", "name the query, e.g. error-ratio-new", "is required"))
		case !guardNameRE.MatchString(q.Name) || len(q.Name) > 64:
			add(m.Errorf(field+".name", "use letters, digits, '.', '_' and '-' (at most 64)", "%q is not a valid query name", q.Name))
		case seen[q.Name]:
			add(m.Errorf(field+".name", "give each query its own name", "%q names two queries", q.Name))
		}
		seen[q.Name] = true
		if strings.TrimSpace(q.PromQL) == "" {
			add(m.Errorf(field+".promql", "write the PromQL expression to evaluate, e.g. sum(rate(http_errors_total[1m]))", "is required"))
		} else if CheckPromQL != nil {
			if err := CheckPromQL(q.PromQL); err != nil {
				add(m.Errorf(field+".promql", "write a PromQL expression Prometheus accepts", "is not valid PromQL: %s", oneLine(err.Error())))
			}
		}
		if q.Max == nil && q.Min == nil {
			add(m.Errorf(field, "add max: (a value above it breaches) and/or min: (a value below it breaches)", "has no threshold"))
		}
		if q.Max != nil && q.Min != nil && *q.Min > *q.Max {
			add(m.Errorf(field+".min", "make min at most max", "min %g is above max %g: every value would breach", *q.Min, *q.Max))
		}
		if d := q.For.D(); d < 0 || d > time.Hour {
			add(m.Errorf(field+".for", "use a duration up to 1h, e.g. 30s", "%s is out of range", d))
		}
		if q.NoData != NoDataOK && q.NoData != NoDataBreach {
			add(m.Errorf(field+".no_data", "use ok (no sample is healthy) or breach", "unknown value %q", q.NoData))
		}
	}
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
