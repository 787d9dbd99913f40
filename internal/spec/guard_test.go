package spec_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	_ "github.com/zdmhq/zdm/internal/guard" // Prometheus' PromQL parser
	"github.com/zdmhq/zdm/internal/spec"
)

const guarded = `name: a
table: t
operations:
  - rename_column: {column: a, to: b}
flags:
  read_new: t-read-new
  rollout: [1, 10, 50, 100]
  soak: 2m
guard:
  prometheus_url: http://127.0.0.1:9090
  queries:
    - name: error-ratio-new
      promql: 'sum(rate(demo_errors_total{variant="new"}[30s])) / sum(rate(demo_requests_total{variant="new"}[30s]))'
      max: 0.01
      for: 20s
    - {name: p99-new, promql: 'histogram_quantile(0.99, sum by (le) (rate(demo_latency_seconds_bucket{variant="new"}[1m])))', max: 0.25, min: 0}
  health_url: http://127.0.0.1:8080/healthz
`

func TestParseGuardAndRollout(t *testing.T) {
	m, err := spec.Parse("m.yaml", []byte(guarded))
	require.NoError(t, err)
	assert.Equal(t, []int{1, 10, 50, 100}, m.Rollout())
	assert.Equal(t, 2*time.Minute, m.Flags.Soak.D())
	require.NotNil(t, m.Guard)
	assert.Equal(t, spec.DefaultGuardInterval, m.Guard.Interval.D())
	assert.Equal(t, spec.DefaultHealthTimeout, m.Guard.HealthTimeout.D())
	require.Len(t, m.Guard.Queries, 2)
	assert.Equal(t, 0.01, *m.Guard.Queries[0].Max)
	assert.Nil(t, m.Guard.Queries[0].Min)
	assert.Equal(t, 20*time.Second, m.Guard.Queries[0].For.D())
	assert.Equal(t, spec.NoDataOK, m.Guard.Queries[1].NoData)
	assert.True(t, m.Guarded())
	assert.Equal(t, 15, m.Line("guard.queries[0].for"))
}

func TestRolloutDefaultsToOneStepOfEveryone(t *testing.T) {
	m, err := spec.Parse("m.yaml", []byte("name: a\ntable: t\noperations:\n  - rename_column: {column: a, to: b}\nflags: {read_new: x}\n"))
	require.NoError(t, err)
	assert.Equal(t, []int{100}, m.Rollout())
	assert.False(t, m.Guarded(), "without rollout or guard read_new switches as before")
	assert.Zero(t, m.Flags.Soak)

	m, err = spec.Parse("m.yaml", []byte("name: a\ntable: t\noperations:\n  - rename_column: {column: a, to: b}\nflags: {read_new: x, rollout: [5, 100]}\n"))
	require.NoError(t, err)
	assert.True(t, m.Guarded())
	assert.Equal(t, spec.DefaultSoak, m.Flags.Soak.D())
}

func TestGuardErrorsNameLineFieldAndFix(t *testing.T) {
	base := "name: a\ntable: t\noperations:\n  - rename_column: {column: a, to: b}\n"
	cases := []refusal{
		{"steps out of order and not ending at 100", base + "flags:\n  read_new: x\n  rollout: [10, 5, 120]\n",
			[]string{"m.yaml:7: flags.rollout[1]: 5 does not follow 10: steps must increase (fix: list the steps in increasing order",
				"flags.rollout[2]: 120 is not a percent from 1 to 100",
				"flags.rollout[2]: the last step is 120%"}},
		{"rollout without read_new", base + "flags:\n  dual_write: x\n  rollout: [50, 100]\n",
			[]string{"m.yaml:7: flags.rollout: rolls out read_new, which this migration does not name (fix: name the flag it rolls out in flags.read_new"}},
		{"guard without read_new", base + "flags: {dual_write: x}\nguard:\n  prometheus_url: http://p:9090\n  queries: [{name: e, promql: up, max: 1}]\n",
			[]string{"m.yaml:6: guard: guards the read_new switch, which this migration does not have (fix: name the flag it guards in flags.read_new"}},
		{"bad PromQL", base + "flags: {read_new: x}\nguard:\n  prometheus_url: http://p:9090\n  queries:\n    - {name: e, promql: 'sum(rate(x[1m]) by', max: 1}\n",
			[]string{"m.yaml:9: guard.queries[0].promql: is not valid PromQL: ", "(fix: write a PromQL expression Prometheus accepts)"}},
		{"no threshold, credentials, bad interval", base + "flags: {read_new: x}\nguard:\n  prometheus_url: http://u:secret@p:9090\n  interval: 100ms\n  queries:\n    - {name: e, promql: up}\n",
			[]string{"m.yaml:7: guard.prometheus_url: holds credentials", "m.yaml:8: guard.interval: 100ms is out of range",
				"m.yaml:10: guard.queries[0]: has no threshold (fix: add max:"}},
		{"bad duration", base + "flags: {read_new: x, soak: soon}\n",
			[]string{`m.yaml:5: flags.soak: "soon" is not a duration`}},
		{"unknown guard key", base + "flags: {read_new: x}\nguard:\n  prometheus: http://p:9090\n",
			[]string{`m.yaml:7: guard.prometheus: unknown field "prometheus" in guard (fix: use one of: prometheus_url,`}},
		{"soak alone", base + "flags: {read_new: x, soak: 1m}\n",
			[]string{"m.yaml:5: flags.soak: a soak needs a rollout of several steps or a guard"}},
		{"empty guard", base + "flags: {read_new: x}\nguard:\n",
			[]string{"m.yaml:6: guard: names no Prometheus server, query or health URL (fix: give prometheus_url and queries"}},
	}
	assertRefused(t, cases)
}

// A guard field refused at reading (a bad duration) is the only error about the guard.
func TestABadGuardDurationIsReportedAlone(t *testing.T) {
	_, err := spec.Parse("m.yaml", []byte("name: a\ntable: t\noperations:\n  - rename_column: {column: a, to: b}\nflags: {read_new: x}\nguard:\n  prometheus_url: http://p:9090\n  interval: often\n  queries: [{name: e, promql: up, max: 1}]\n"))
	require.Error(t, err)
	assert.Equal(t, `m.yaml:8: guard.interval: "often" is not a duration (fix: write it like 500ms, 2s or 1m)`, err.Error())
}
