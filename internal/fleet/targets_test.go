package fleet

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const good = `targets:
  - name: staging
    url_env: STAGING_DATABASE_URL
  - name: eu1
    url_env: EU1_DATABASE_URL
  - name: us1
    url_env: US1_DATABASE_URL
waves:
  - name: staging
    targets: [staging]
  - name: rest
    targets: [eu1, us1]
concurrency: 2
gate_between_waves: true
on_failure: continue
`

func TestParseTargets(t *testing.T) {
	ts, err := Parse("targets.yaml", []byte(good))
	require.NoError(t, err)
	assert.Equal(t, []Target{{"staging", "STAGING_DATABASE_URL"}, {"eu1", "EU1_DATABASE_URL"}, {"us1", "US1_DATABASE_URL"}}, ts.Targets)
	assert.Equal(t, []Wave{{"staging", []string{"staging"}}, {"rest", []string{"eu1", "us1"}}}, ts.Waves)
	assert.Equal(t, 2, ts.Concurrency)
	assert.True(t, ts.GateBetweenWaves)
	assert.Equal(t, OnFailureContinue, ts.OnFailure)
}

func TestParseTargetsDefaults(t *testing.T) {
	ts, err := Parse("t.yaml", []byte("targets:\n  - {name: a, url_env: A_URL}\nwaves:\n  - {name: all, targets: [a]}\n"))
	require.NoError(t, err)
	assert.Equal(t, 1, ts.Concurrency)
	assert.False(t, ts.GateBetweenWaves)
	assert.Equal(t, OnFailureStop, ts.OnFailure)
}

func TestParseTargetsErrors(t *testing.T) {
	for _, tc := range []struct {
		name, yaml string
		want       []string
	}{
		{"unknown field", "targets:\n  - {name: a, url_env: A_URL, url: postgres://x}\nwaves:\n  - {name: all, targets: [a]}\n",
			[]string{`t.yaml:2: targets[0].url: unknown field "url" (fix: use one of: name, url_env)`}},
		{"url instead of env name", "targets:\n  - name: a\n    url_env: postgres://u:p@h/db\nwaves:\n  - {name: all, targets: [a]}\n",
			[]string{`t.yaml:3: targets[0].url_env: "postgres://u:p@h/db" is not an environment variable name`}},
		{"bad settings", "targets:\n  - {name: a, url_env: A_URL}\nwaves:\n  - {name: all, targets: [a]}\nconcurrency: 0\ngate_between_waves: yes please\non_failure: ignore\n",
			[]string{`t.yaml:5: concurrency: "0" is not a concurrency`, `t.yaml:6: gate_between_waves:`, `t.yaml:7: on_failure: "ignore" is not a failure policy (fix: stop`}},
		{"target in no wave, unknown, twice", "targets:\n  - {name: a, url_env: A_URL}\n  - {name: b, url_env: A_URL}\n  - {name: c, url_env: C_URL}\nwaves:\n  - {name: one, targets: [a, x]}\n  - {name: two, targets: [a, b]}\n",
			[]string{`t.yaml:3: targets[1].url_env: A_URL is also the url_env of target "a"`,
				`t.yaml:4: targets[2]: target "c" is in no wave`,
				`t.yaml:6: waves[0].targets[1]: target "x" is not in the targets list (fix: add it to targets, or use one of: a, b, c)`,
				`t.yaml:7: waves[1].targets[0]: target "a" is already in wave "one"`}},
		{"missing", "concurrency: 2\n", []string{`targets: missing`, `waves: missing`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("t.yaml", []byte(tc.yaml))
			require.Error(t, err)
			for _, w := range tc.want {
				assert.Contains(t, err.Error(), w)
			}
		})
	}
}

func TestTheExampleTargetsFileParses(t *testing.T) {
	ts, err := ParseFile("../../examples/fleet/targets.yaml")
	require.NoError(t, err)
	assert.Len(t, ts.Targets, 4)
	assert.Equal(t, []string{"us1", "ap1"}, ts.Waves[2].Targets)
	assert.Equal(t, "wave:canary", WaveGate(ts.Waves[1].Name))
}
