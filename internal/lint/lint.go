// Package lint reads SQL migration scripts the way PostgreSQL's own parser does
// (pg_query) and names the statements that would lock or rewrite a live table, break
// code still running, or fail where they run: each finding with the lock it takes,
// why it hurts, and the safe way, as a zdm migration when zdm has an operation for it.
// With a database, findings on existing tables carry the table's size and an estimate
// of how long the lock would be held, and harmless ones on small tables say so.
package lint

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// Level is how much a finding matters.
type Level int

// Levels, from the least to the most serious.
const (
	Info Level = iota + 1
	Warning
	Error
)

func (l Level) String() string {
	switch l {
	case Info:
		return "info"
	case Warning:
		return "warning"
	case Error:
		return "error"
	}
	return "unknown"
}

// ParseLevel reads "info", "warning" or "error".
func ParseLevel(s string) (Level, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "info":
		return Info, nil
	case "warning", "warn":
		return Warning, nil
	case "error":
		return Error, nil
	}
	return 0, fmt.Errorf("unknown level %q (info, warning or error)", s)
}

// MarshalText writes the level as its name.
func (l Level) MarshalText() ([]byte, error) { return []byte(l.String()), nil }

// Finding is one problem of one statement. Its position and Statement text are stable:
// zdm lint --fix (zdm convert) finds the statement it rewrites by them.
type Finding struct {
	File   string `json:"file"`
	Line   int    `json:"line"`   // of the statement's first token, from 1
	Column int    `json:"column"` // from 1, in characters
	// Offset is the statement's first byte in the file, End the byte after its last
	// (without the ";").
	Offset int `json:"offset"`
	End    int `json:"end"`
	// Statement is the statement's text as written, without its trailing ";".
	Statement string `json:"statement"`
	Rule      string `json:"rule"`
	Level     Level  `json:"level"`
	// Table is the table the finding is about, as written ("" when none).
	Table string `json:"table,omitempty"`
	// Lock is the lock the statement takes and what it blocks.
	Lock string `json:"lock,omitempty"`
	// Message says what is wrong, Why why it hurts.
	Message string `json:"message"`
	Why     string `json:"why"`
	// Safe is the safe way: a zdm migration file (SafeZDM) or SQL to run instead.
	Safe    string `json:"safe,omitempty"`
	SafeZDM bool   `json:"safe_is_zdm_migration,omitempty"`
	// Live is what the database said about Table, with DATABASE_URL.
	Live *LiveTable `json:"live,omitempty"`
	// Note explains a level changed by the live table ("harmless here: 120 rows").
	Note string `json:"note,omitempty"`
}

// LiveTable is what the database says about the table a finding is about.
type LiveTable struct {
	Bytes int64 `json:"bytes"` // pg_total_relation_size
	Rows  int64 `json:"rows"`  // reltuples, the planner's estimate (-1: never analyzed)
	// Rewrites is set when the catalog types say the statement rewrites the table.
	Rewrites bool `json:"rewrites,omitempty"`
	// LockEstimate is how long the statement would hold its lock, about and likely more:
	// the time to read the table's heap at the throughput measured on this server (a
	// rewrite also writes it, an index build sorts); 0 when not measured or when the
	// statement neither reads nor rewrites the table.
	LockEstimate time.Duration `json:"lock_estimate_ns,omitempty"`
}

// Options tune a run.
type Options struct {
	Config Config
	// DB is the database whose tables the scripts change (DATABASE_URL); nil without one.
	DB *pgxpool.Pool
}

// Result is a run over some files.
type Result struct {
	Findings []Finding `json:"findings"`
	// Throughput says how the lock estimates were measured ("" without a database).
	Throughput string `json:"throughput,omitempty"`
}

// Worst is the most serious level among the findings, 0 when there is none.
func (r *Result) Worst() Level {
	var w Level
	for _, f := range r.Findings {
		w = max(w, f.Level)
	}
	return w
}

// Source is one script to lint.
type Source struct {
	Name string // file name as given, or "-" (stdin)
	SQL  string
}

// Lint checks every source. A script PostgreSQL cannot parse is an error (*ParseError);
// nothing else is.
func Lint(ctx context.Context, srcs []Source, opt Options) (*Result, error) {
	res := &Result{}
	var scripts []*script
	for _, s := range srcs {
		sc, err := parseScript(s.Name, s.SQL)
		if err != nil {
			return nil, err
		}
		scripts = append(scripts, sc)
	}
	var live *liveInfo
	if opt.DB != nil {
		var err error
		if live, err = newLiveInfo(ctx, opt.DB, scripts); err != nil {
			return nil, err
		}
		res.Throughput = live.throughput
	}
	for _, sc := range scripts {
		fs, err := checkScript(ctx, sc, opt.Config, live)
		if err != nil {
			return nil, err
		}
		res.Findings = append(res.Findings, fs...)
	}
	sort.SliceStable(res.Findings, func(i, j int) bool {
		a, b := res.Findings[i], res.Findings[j]
		if a.File != b.File {
			return a.File < b.File
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Column < b.Column
	})
	return res, nil
}

// LintSQL lints one script: for callers that hold the text (zdm convert, tests).
func LintSQL(ctx context.Context, name, sql string, opt Options) ([]Finding, error) {
	r, err := Lint(ctx, []Source{{Name: name, SQL: sql}}, opt)
	if err != nil {
		return nil, err
	}
	return r.Findings, nil
}
