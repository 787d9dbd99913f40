package spec_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zdmhq/zdm/internal/spec"
)

func governed(line string) []byte {
	return []byte("name: a\ntable: t\noperations:\n  - change_type: {column: a, type: bigint}\n" + line)
}

func TestMaxAppP99IsOnByDefault(t *testing.T) {
	m, err := spec.Parse("m.yaml", governed(""))
	require.NoError(t, err)
	assert.Equal(t, spec.DefaultMaxAppP99, m.Backfill.MaxAppP99.D())
	assert.Equal(t, 20*time.Millisecond, spec.DefaultMaxAppP99)
}

func TestMaxAppP99ReadsADurationOrOff(t *testing.T) {
	for line, want := range map[string]time.Duration{
		"backfill: {max_app_p99: 50ms}\n": 50 * time.Millisecond,
		"backfill: {max_app_p99: 1s}\n":   time.Second,
		"backfill: {max_app_p99: off}\n":  0,
		"backfill: {max_app_p99: 0}\n":    0,
		"backfill: {max_app_p99: '0s'}\n": 0,
	} {
		m, err := spec.Parse("m.yaml", governed(line))
		require.NoError(t, err, line)
		assert.Equal(t, want, m.Backfill.MaxAppP99.D(), line)
		if want == 0 {
			assert.Equal(t, spec.LatencyLimitOff, m.Backfill.MaxAppP99, "off stays off, the default does not come back: %s", line)
		}
	}
}

func TestMaxAppP99RefusesWhatIsNeither(t *testing.T) {
	_, err := spec.Parse("m.yaml", governed("backfill:\n  max_app_p99: fast\n"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "m.yaml:6: backfill.max_app_p99:")
	assert.Contains(t, err.Error(), `"fast" is not a duration or off`)
	assert.Contains(t, err.Error(), "fix: write it like 20ms")

	_, err = spec.Parse("m.yaml", governed("backfill:\n  max_app_p99: 1h\n"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "m.yaml:6: backfill.max_app_p99: 1h0m0s is out of range")

	_, err = spec.Parse("m.yaml", governed("backfill:\n  max_app_p99: -5ms\n"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "backfill.max_app_p99: -5ms is out of range")
}

// The limit travels in the workflow's input: off must survive the round trip, and a
// migration recorded before the field existed must read as ungoverned.
func TestMaxAppP99RoundTripsThroughJSON(t *testing.T) {
	for _, l := range []spec.AppLatencyLimit{spec.LatencyLimitOff, spec.AppLatencyLimit(35 * time.Millisecond)} {
		b, err := json.Marshal(spec.Backfill{MaxAppP99: l})
		require.NoError(t, err)
		var back spec.Backfill
		require.NoError(t, json.Unmarshal(b, &back), string(b))
		assert.Equal(t, l, back.MaxAppP99, string(b))
	}
	var old spec.Backfill
	require.NoError(t, json.Unmarshal([]byte(`{"batch_size":10000}`), &old))
	assert.Zero(t, old.MaxAppP99.D())
}
