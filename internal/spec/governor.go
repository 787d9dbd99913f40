package spec

import (
	"fmt"
	"strings"
	"time"

	"github.com/goccy/go-yaml/ast"
)

// DefaultMaxAppP99 is the application latency the backfill keeps under when the file
// says nothing: a user should not have to tune to be safe.
const DefaultMaxAppP99 = 20 * time.Millisecond

// maxAppP99Ceiling is the largest limit accepted; past it the governor protects nothing.
const maxAppP99Ceiling = 10 * time.Second

// AppLatencyLimit is backfill.max_app_p99: a duration, or off (written "off" or 0).
// Unset (the zero value) takes DefaultMaxAppP99 when the file is read; a migration
// recorded before the governor existed carries the zero value and runs ungoverned.
type AppLatencyLimit time.Duration

// LatencyLimitOff is AppLatencyLimit's value for off.
const LatencyLimitOff = AppLatencyLimit(-1)

// UnmarshalText reads "off", "0" or a Go duration string.
func (l *AppLatencyLimit) UnmarshalText(b []byte) error {
	s := strings.TrimSpace(string(b))
	switch strings.ToLower(s) {
	case "off", "false", "0":
		*l = LatencyLimitOff
		return nil
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("%q is not a duration or off", s)
	}
	if v == 0 {
		*l = LatencyLimitOff
		return nil
	}
	*l = AppLatencyLimit(v)
	return nil
}

// MarshalText writes "off" or the duration.
func (l AppLatencyLimit) MarshalText() ([]byte, error) {
	if l == LatencyLimitOff {
		return []byte("off"), nil
	}
	return []byte(time.Duration(l).String()), nil
}

// D is the limit, 0 when off or unset.
func (l AppLatencyLimit) D() time.Duration {
	if l <= 0 {
		return 0
	}
	return time.Duration(l)
}

func (m *Migration) applyGovernorDefaults() {
	if m.Backfill.MaxAppP99 == 0 {
		m.Backfill.MaxAppP99 = AppLatencyLimit(DefaultMaxAppP99)
	}
}

func (m *Migration) checkGovernor(add func(*FieldError)) {
	l := m.Backfill.MaxAppP99
	if l == LatencyLimitOff || l == 0 {
		return
	}
	if l < 0 || time.Duration(l) < time.Millisecond || time.Duration(l) > maxAppP99Ceiling {
		add(m.Errorf("backfill.max_app_p99", "use a duration from 1ms to 10s such as 20ms, or off to let the backfill run ungoverned",
			"%s is out of range", time.Duration(l)))
	}
}

// governorFieldErrors refuses a max_app_p99 that is neither a duration nor off, naming
// the line, before the file is decoded.
func governorFieldErrors(m *Migration, node ast.Node) *FieldError {
	if node == nil {
		return nil
	}
	var l AppLatencyLimit
	if err := l.UnmarshalText([]byte(strings.Trim(node.String(), `"'`))); err != nil {
		return m.Errorf("backfill.max_app_p99", "write it like 20ms or 100ms, or off", "%s", err)
	}
	return nil
}
