package e2e

import (
	"context"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// load runs writers against a table while a migration goes on, counting errors and the
// slowest statement.
type load struct {
	ops, errs  atomic.Int64
	maxLatency atomic.Int64
	firstErr   atomic.Value
	cancel     context.CancelFunc
	wg         sync.WaitGroup
}

// startLoad runs workers goroutines, each calling op in a loop (with a short pause) until
// stop is called.
func startLoad(t *testing.T, pool *pgxpool.Pool, workers int, op func(ctx context.Context, pool *pgxpool.Pool, r *rand.Rand) error) *load {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	l := &load{cancel: cancel}
	for w := 0; w < workers; w++ {
		l.wg.Add(1)
		go func(seed uint64) {
			defer l.wg.Done()
			r := rand.New(rand.NewPCG(seed, seed*7+1))
			for ctx.Err() == nil {
				start := time.Now()
				err := op(ctx, pool, r)
				if ctx.Err() != nil {
					return
				}
				if d := int64(time.Since(start)); d > l.maxLatency.Load() {
					l.maxLatency.Store(d)
				}
				l.ops.Add(1)
				if err != nil {
					l.errs.Add(1)
					l.firstErr.CompareAndSwap(nil, err.Error())
				}
				time.Sleep(time.Millisecond)
			}
		}(uint64(w + 1))
	}
	t.Cleanup(l.stop)
	return l
}

func (l *load) stop() {
	l.cancel()
	l.wg.Wait()
}

func (l *load) report(t *testing.T) {
	t.Helper()
	first, _ := l.firstErr.Load().(string)
	t.Logf("load: %d ops, %d errors, max latency %s %s", l.ops.Load(), l.errs.Load(), time.Duration(l.maxLatency.Load()), first)
}

type atomicInt64 = atomic.Int64

// balanceWriters is the application of the backfill tests: n goroutines adding 1 to
// random balances of the accounts table (aid 1..rows), each write counted once it
// committed, until Stop.
type balanceWriters struct {
	writes atomic.Int64
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func startBalanceWriters(t *testing.T, pool *pgxpool.Pool, rows int64, n int) *balanceWriters {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	b := &balanceWriters{cancel: cancel}
	for w := 0; w < n; w++ {
		b.wg.Add(1)
		go func(seed uint64) {
			defer b.wg.Done()
			r := rand.New(rand.NewPCG(seed, 3))
			for ctx.Err() == nil {
				// Not ctx: a write cancelled after its commit would go uncounted.
				if _, err := pool.Exec(context.Background(), `UPDATE accounts SET abalance = abalance + 1 WHERE aid = $1`, 1+r.Int64N(rows)); err == nil {
					b.writes.Add(1)
				}
				time.Sleep(time.Millisecond)
			}
		}(uint64(w + 1))
	}
	t.Cleanup(func() { b.Stop() })
	return b
}

// Stop ends the writes and returns how many committed.
func (b *balanceWriters) Stop() int64 {
	b.cancel()
	b.wg.Wait()
	return b.writes.Load()
}
