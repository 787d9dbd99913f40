package human_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/zdmhq/zdm/internal/human"
)

func TestCount(t *testing.T) {
	for n, want := range map[int64]string{0: "0", 999: "999", 1000: "1,000", 1234567: "1,234,567", -1234: "-1,234"} {
		assert.Equal(t, want, human.Count(n))
	}
}

func TestDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{-time.Second: "0s", 1400 * time.Millisecond: "1s", 245 * time.Second: "4m05s", 2*time.Hour + 3*time.Minute + 9*time.Second: "2h03m"} {
		assert.Equal(t, want, human.Duration(d))
	}
}
