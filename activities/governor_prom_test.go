package activities

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zdmhq/zdm/internal/guard"
	"github.com/zdmhq/zdm/internal/pgexec"
	"github.com/zdmhq/zdm/internal/planner"
	"github.com/zdmhq/zdm/internal/testenv"
)

// With backfill.latency_query, the governor reads the application's own latency from a
// real Prometheus: an application that reports a p99 of 200 ms holds a backfill that
// nothing else would hold, and progress names the query as the reason. Every row is
// still filled.
func TestGovernorReadsTheApplicationsLatencyFromPrometheus(t *testing.T) {
	reg := prometheus.NewRegistry()
	p99 := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "t_request_p99_seconds"}, []string{"route"})
	reg.MustRegister(p99)
	p99.WithLabelValues("/a").Set(0.004)
	p99.WithLabelValues("/b").Set(0.2)
	url := testenv.Prometheus(t, time.Second, testenv.UnhealthyApp(t, reg))
	const query = `max by (route) (t_request_p99_seconds)`
	testenv.WaitFor(t, 30*time.Second, "prometheus to scrape the app", func() bool {
		s, err := guard.New(url, nil).Query(context.Background(), query)
		return err == nil && len(s) == 2
	})

	_, pool := testenv.DB(t, "zdm_acts")
	ctx := context.Background()
	_, err := pool.Exec(ctx, `CREATE TABLE t (id int PRIMARY KEY, v int NOT NULL, n bigint);
		INSERT INTO t SELECT g, g, NULL FROM generate_series(1, 400000) g`)
	require.NoError(t, err)
	require.NoError(t, pgexec.EnsureState(ctx, pool))
	_, err = pgexec.Claim(ctx, pool, "m", []string{"public.t"}, "run-1")
	require.NoError(t, err)
	target := pgexec.Target{Migration: "m", Schema: "public", Table: "t", Key: []planner.KeyColumn{{Name: "id", Type: "integer"}},
		Set: `"n" = "v"::bigint`, LockTimeout: 10 * time.Second}

	env, _ := actsEnv(pool)
	in := SliceInput{Target: target, Upper: pgexec.Cursor{"400000"}, BatchSize: 100, FileBatchSize: 100, Budget: 5 * time.Second,
		MaxAppP99: 20 * time.Millisecond, LatencyQuery: query, PrometheusURL: url}
	var p SliceProgress
	v, err := env.ExecuteActivity(nilActs.BackfillSlice, in)
	require.NoError(t, err)
	require.NoError(t, v.Get(&p))
	t.Logf("%d batches, %d rows, governor %q, state %+v", p.Batches, p.Rows, p.Governor, p.GovernorState)
	assert.Regexp(t, `^app latency: latency_query \(Prometheus\) 200ms > 20ms`, p.Governor)
	assert.True(t, p.GovernorState.Over)
	assert.Less(t, p.GovernorState.BatchTime, 20*time.Millisecond, "batches shortened")

	for !p.Done {
		in.Cursor, in.Governor, in.BatchSize, in.Budget = p.Cursor, p.GovernorState, p.BatchSize, time.Minute
		in.LatencyQuery, in.PrometheusURL = "", ""
		v, err := env.ExecuteActivity(nilActs.BackfillSlice, in)
		require.NoError(t, err)
		require.NoError(t, v.Get(&p))
	}
	var missed int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM t WHERE n IS DISTINCT FROM v`).Scan(&missed))
	assert.Zero(t, missed, "every row backfilled")
}

// A Prometheus that is not there is no figure: the slice goes on with its other sources.
func TestLatencyQueryWithoutPrometheusIsNoFigure(t *testing.T) {
	p := newPromLatency(SliceInput{LatencyQuery: "up", PrometheusURL: "http://" + testenv.FreeAddr(t)})
	_, ok := p.read(context.Background())
	assert.False(t, ok)
	assert.Nil(t, newPromLatency(SliceInput{LatencyQuery: "up"}), "no server, no source")
}
