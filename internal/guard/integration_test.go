package guard_test

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zdmhq/zdm/internal/guard"
	"github.com/zdmhq/zdm/internal/testenv"
)

// app serves a counter pair by variant, the shape the demo app exports.
func app(t *testing.T) (addr string, requests, errs *prometheus.CounterVec) {
	reg := prometheus.NewRegistry()
	requests = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "t_requests_total"}, []string{"read_new"})
	errs = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "t_errors_total"}, []string{"read_new"})
	reg.MustRegister(requests, errs)
	return testenv.UnhealthyApp(t, reg), requests, errs
}

func TestRealPrometheusQueriesGiveTheFiguresByVariant(t *testing.T) {
	addr, requests, errs := app(t)
	requests.WithLabelValues("on").Add(1000)
	requests.WithLabelValues("off").Add(1000)
	errs.WithLabelValues("on").Add(100)
	errs.WithLabelValues("off").Add(0)
	url := testenv.Prometheus(t, time.Second, addr)
	c := guard.New(url, nil)
	ctx := context.Background()

	ratio := `sum by (read_new) (t_errors_total) / sum by (read_new) (t_requests_total)`
	var samples []guard.Sample
	testenv.WaitFor(t, 30*time.Second, "prometheus to scrape the app", func() bool {
		var err error
		samples, err = c.Query(ctx, ratio)
		require.NoError(t, err)
		return len(samples) == 2
	})
	assert.Equal(t, []guard.Sample{{Labels: `{read_new="off"}`, Value: 0}, {Labels: `{read_new="on"}`, Value: 0.1}}, sortedByLabels(samples))

	s, err := c.Query(ctx, `scalar(sum(t_errors_total))`)
	require.NoError(t, err)
	assert.Equal(t, []guard.Sample{{Value: 100}}, s)

	s, err = c.Query(ctx, `t_no_such_metric_total`)
	require.NoError(t, err)
	assert.Empty(t, s, "no sample: no data, not an error")

	_, err = c.Query(ctx, `sum(rate(t_errors_total[1m]) by`)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "bad_data")

	_, err = c.Query(ctx, `t_errors_total[1m]`)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "a guard needs an instant vector or a scalar")

	err = guard.Health(ctx, "http://"+addr+"/healthz", time.Second)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "503")
	assert.NoError(t, guard.Health(ctx, url+"/-/healthy", time.Second))

	_, err = guard.New("http://"+testenv.FreeAddr(t), nil).Query(ctx, "up")
	require.Error(t, err, "a server that is not there")
}

func sortedByLabels(s []guard.Sample) []guard.Sample {
	out := append([]guard.Sample(nil), s...)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j].Labels < out[i].Labels {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}

func TestPromQLIsCheckedByPrometheusParser(t *testing.T) {
	assert.NoError(t, guard.ParsePromQL(`histogram_quantile(0.99, sum by (le, read_new) (rate(x_bucket[1m])))`))
	assert.Error(t, guard.ParsePromQL(`sum(rate(x[1m]) by`))
	assert.Error(t, guard.ParsePromQL(`rate(x)`), "rate needs a range")
}
