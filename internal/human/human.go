// Package human writes numbers and durations the way people read them, for the CLI and
// for Slack alike.
package human

import (
	"fmt"
	"strings"
	"time"
)

// Count writes n with thousands separators: 1234567 -> "1,234,567".
func Count(n int64) string {
	s := fmt.Sprint(n)
	sign := ""
	if strings.HasPrefix(s, "-") {
		sign, s = "-", s[1:]
	}
	var b strings.Builder
	for i := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteByte(s[i])
	}
	return sign + b.String()
}

// Duration writes d to the second: 3s, 4m05s, 2h03m.
func Duration(d time.Duration) string {
	d = max(0, d).Round(time.Second)
	h, m, s := int(d/time.Hour), int(d%time.Hour/time.Minute), int(d%time.Minute/time.Second)
	switch {
	case h > 0:
		return fmt.Sprintf("%dh%02dm", h, m)
	case m > 0:
		return fmt.Sprintf("%dm%02ds", m, s)
	}
	return fmt.Sprintf("%ds", s)
}
