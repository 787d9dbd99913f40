package spec_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zdmhq/zdm/internal/spec"
)

const autoHead = "name: a\ntable: t\noperations:\n  - rename_column: {column: a, to: b}\n"

func TestParseParallelismAuto(t *testing.T) {
	for _, src := range []string{"backfill: {parallelism: auto}\n", "backfill:\n  parallelism: \"auto\"\n", "backfill: {parallelism: AUTO, max_app_p99: 50ms}\n"} {
		m, err := spec.Parse("m.yaml", []byte(autoHead+src))
		require.NoError(t, err, src)
		assert.True(t, m.Backfill.Parallelism.Auto(), src)
		assert.Equal(t, spec.AutoParallelismMax, m.Backfill.Parallelism.Partitions())
		assert.Equal(t, "auto", m.Backfill.Parallelism.String())
	}

	m, err := spec.Parse("m.yaml", []byte(autoHead+"backfill: {parallelism: 3}\n"))
	require.NoError(t, err)
	assert.False(t, m.Backfill.Parallelism.Auto())
	assert.Equal(t, 3, m.Backfill.Parallelism.Partitions())
	m, err = spec.Parse("m.yaml", []byte(autoHead))
	require.NoError(t, err)
	assert.Equal(t, 1, m.Backfill.Parallelism.Partitions(), "left out: one cursor")

	assertRefused(t, []refusal{
		{"auto without the governor", autoHead + "backfill:\n  max_app_p99: off\n  parallelism: auto\n",
			[]string{"m.yaml:7: backfill.parallelism: auto needs the latency governor", "max_app_p99 is off",
				"(fix: set backfill.max_app_p99 to a latency such as 20ms"}},
		{"a word", autoHead + "backfill:\n  parallelism: fast\n",
			[]string{`m.yaml:6: backfill.parallelism: "fast" is neither a whole number nor auto`, "or auto to let the latency governor (max_app_p99) choose)"}},
		{"minus one is not auto", autoHead + "backfill: {parallelism: -1}\n",
			[]string{"m.yaml:5: backfill.parallelism: -1 is out of range", "(fix: use a number from 1 (one cursor) to 16"}},
		{"seventeen", autoHead + "backfill: {parallelism: 17}\n",
			[]string{"m.yaml:5: backfill.parallelism: 17 is out of range", "or auto"}},
		{"a fraction", autoHead + "backfill: {parallelism: 2.5}\n",
			[]string{`m.yaml:5: backfill.parallelism: "2.5" is neither a whole number nor auto`}},
	})

	// A bad parallelism is reported with the file's other problems, in one round.
	_, err = spec.Parse("m.yaml", []byte(autoHead+"backfill: {parallelism: fast}\nlock_timeout: 5m\n"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "backfill.parallelism")
	assert.Contains(t, err.Error(), "m.yaml:6: lock_timeout: 5m0s is out of range")
}

// Histories recorded before auto existed hold the parallelism as a number: it still
// decodes, and a number is written back as a number; auto is the string "auto".
func TestParallelismJSON(t *testing.T) {
	var b spec.Backfill
	require.NoError(t, json.Unmarshal([]byte(`{"batch_size":2000,"parallelism":2}`), &b))
	assert.Equal(t, spec.Parallelism(2), b.Parallelism)
	out, err := json.Marshal(b)
	require.NoError(t, err)
	assert.Contains(t, string(out), `"parallelism":2`)

	b = spec.Backfill{Parallelism: spec.ParallelismAuto}
	out, err = json.Marshal(b)
	require.NoError(t, err)
	assert.Contains(t, string(out), `"parallelism":"auto"`)
	var back spec.Backfill
	require.NoError(t, json.Unmarshal(out, &back))
	assert.True(t, back.Parallelism.Auto())

	out, err = json.Marshal(spec.Backfill{})
	require.NoError(t, err)
	assert.NotContains(t, string(out), "parallelism", "left out stays left out")

	for _, bad := range []string{`{"parallelism":"fast"}`, `{"parallelism":true}`, `{"parallelism":"-3"}`} {
		assert.Error(t, json.Unmarshal([]byte(bad), &back), bad)
	}

	// A whole migration parsed from a file survives the trip through JSON that the
	// workflow's input takes.
	m, err := spec.Parse("m.yaml", []byte(autoHead+"backfill: {parallelism: auto}\n"))
	require.NoError(t, err)
	raw, err := json.Marshal(m)
	require.NoError(t, err)
	assert.True(t, strings.Contains(string(raw), `"parallelism":"auto"`), string(raw))
	var again spec.Migration
	require.NoError(t, json.Unmarshal(raw, &again))
	assert.True(t, again.Backfill.Parallelism.Auto())
}
