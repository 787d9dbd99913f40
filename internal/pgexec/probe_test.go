package pgexec_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zdmhq/zdm/internal/pgexec"
)

// The probe feels what the application feels: while a session holds the table, the
// probes wait as the application's transactions would, and the window's p99 shows it.
// It changes nothing in the table.
func TestProberFeelsWhatHoldsTheTable(t *testing.T) {
	pool := testPool(t)
	ctx := context.Background()
	_, err := pool.Exec(ctx, `CREATE TABLE t (id int PRIMARY KEY, v int); INSERT INTO t SELECT g, g FROM generate_series(1, 20000) g`)
	require.NoError(t, err)
	p := &pgexec.Prober{Pool: pool, Target: pgexec.Target{Schema: "public", Table: "t"}, Every: 20 * time.Millisecond}
	p.Start(ctx)
	defer p.Stop()

	time.Sleep(400 * time.Millisecond)
	calm := p.Take()
	require.NoError(t, calm.Err)
	require.GreaterOrEqual(t, calm.N, 5, "probes every 20 ms for 400 ms")
	assert.Positive(t, calm.P99)

	const hold = 600 * time.Millisecond
	tx, err := pool.Begin(ctx)
	require.NoError(t, err)
	_, err = tx.Exec(ctx, `LOCK TABLE t IN ACCESS EXCLUSIVE MODE`)
	require.NoError(t, err)
	time.Sleep(hold)
	require.NoError(t, tx.Commit(ctx))
	time.Sleep(100 * time.Millisecond)
	held := p.Take()
	require.NoError(t, held.Err)
	assert.GreaterOrEqual(t, held.P99, hold/2, "a probe waited on the lock (calm p99 %v)", calm.P99)

	var n, sum int64
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*), sum(v) FROM t`).Scan(&n, &sum))
	assert.Equal(t, int64(20000), n)
	assert.Equal(t, int64(20000*20001/2), sum)
}

// A probe that cannot run says why in the window, and counts as no sample.
func TestProberReportsItsError(t *testing.T) {
	pool := testPool(t)
	p := &pgexec.Prober{Pool: pool, Target: pgexec.Target{Schema: "public", Table: "missing"}, Every: 10 * time.Millisecond}
	p.Start(context.Background())
	time.Sleep(100 * time.Millisecond)
	p.Stop()
	w := p.Take()
	assert.Zero(t, w.N)
	require.Error(t, w.Err)
	assert.Contains(t, w.Err.Error(), "missing")
}
