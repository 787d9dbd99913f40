package spec

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/goccy/go-yaml/ast"
)

// AutoParallelismMax is the partitions a backfill with `parallelism: auto` is split
// into, and so the most it runs at once. The latency governor decides how many of them
// run at a time, from 1 up: on the 2-core machine of the README's pgbench comparison,
// 2 partitions at once were the fastest and the gentlest and 4 were worse on both, so
// the right number depends on the machine; 4 leaves the governor room above that.
const AutoParallelismMax = 4

// Parallelism is backfill.parallelism: a whole number of partitions backfilled at once
// (0 or 1: one cursor over the whole range), or ParallelismAuto, written `auto`, for
// AutoParallelismMax partitions of which the latency governor runs as many at once as
// the application's latency allows (workflows/autoparallel.go).
//
// In JSON (workflow inputs and saved histories) a number stays a number, as before
// `auto` existed, and auto is the string "auto".
type Parallelism int

// ParallelismAuto is Parallelism's value for `auto`; a file cannot write it as a number
// (negative numbers are refused when read).
const ParallelismAuto Parallelism = -1

// parallelismAuto is how auto is written in files and JSON.
const parallelismAuto = "auto"

// Auto says whether the governor chooses how many partitions run at once.
func (p Parallelism) Auto() bool { return p == ParallelismAuto }

// Partitions is the number of partitions the backfill is split into: the number
// written, AutoParallelismMax for auto, and at least 1.
func (p Parallelism) Partitions() int {
	if p.Auto() {
		return AutoParallelismMax
	}
	return max(1, int(p))
}

// String is the value as a file writes it.
func (p Parallelism) String() string {
	if p.Auto() {
		return parallelismAuto
	}
	return strconv.Itoa(int(p))
}

// UnmarshalText reads a whole number or auto. Numbers out of 1..MaxParallelism other
// than negative ones are left for Check, which names the range.
func (p *Parallelism) UnmarshalText(b []byte) error {
	s := strings.TrimSpace(string(b))
	if strings.EqualFold(s, parallelismAuto) {
		*p = ParallelismAuto
		return nil
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return fmt.Errorf("%q is neither a whole number nor auto", s)
	}
	if n < 0 {
		return fmt.Errorf("%d is out of range", n)
	}
	*p = Parallelism(n)
	return nil
}

// MarshalJSON writes a number, or "auto".
func (p Parallelism) MarshalJSON() ([]byte, error) {
	if p.Auto() {
		return json.Marshal(parallelismAuto)
	}
	return json.Marshal(int(p))
}

// UnmarshalJSON reads a number (what every history recorded before auto existed
// holds), or "auto".
func (p *Parallelism) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if bytes.Equal(b, []byte("null")) {
		return nil
	}
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		return p.UnmarshalText([]byte(s))
	}
	var n int
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("parallelism: %s is neither a whole number nor \"auto\"", b)
	}
	*p = Parallelism(n)
	return nil
}

// parallelismFix is the fix every parallelism error offers.
var parallelismFix = fmt.Sprintf("use a number from 1 (one cursor) to %d partitions backfilled at once, or auto to let the latency governor (max_app_p99) choose", MaxParallelism)

// parallelismFieldErrors refuses a parallelism that is neither a whole number nor auto,
// naming the line, before the file is decoded.
func parallelismFieldErrors(m *Migration, node ast.Node) *FieldError {
	if node == nil {
		return nil
	}
	var p Parallelism
	if err := p.UnmarshalText([]byte(strings.Trim(node.String(), `"'`))); err != nil {
		return m.Errorf("backfill.parallelism", parallelismFix, "%s", err)
	}
	return nil
}

// checkParallelism checks the range, and that auto has a governor to decide with.
func (m *Migration) checkParallelism(add func(*FieldError)) {
	p := m.Backfill.Parallelism
	switch {
	case p.Auto():
		if m.Backfill.MaxAppP99 == LatencyLimitOff {
			add(m.Errorf("backfill.parallelism", "set backfill.max_app_p99 to a latency such as 20ms (the default) instead of off, or write a number of partitions",
				"auto needs the latency governor to decide how many partitions run at once, and max_app_p99 is off"))
		}
	case p < 0 || p > MaxParallelism:
		add(m.Errorf("backfill.parallelism", parallelismFix, "%d is out of range", int(p)))
	}
}
