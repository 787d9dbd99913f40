package pgexec

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// A probe is the smallest transaction an application makes on the table: it reads one
// row from a random page of the table and commits with a transaction id, under the
// session's own synchronous_commit. Its latency therefore includes what a backfill adds
// to every application transaction but that no lock or statement view shows: a read that
// must first evict a page the backfill dirtied (and flush the write-ahead log up to it),
// and a commit that waits for the log the backfill wrote before it to be flushed. On a
// 2-core PostgreSQL 15 under pgbench -R 300 these waits (WALWrite, WALSync) were most of
// the application's time while a backfill ran, and the application's own transactions
// took about three times the probe's. The probe is thus a floor of the application's
// latency: when it is over the limit, the application is too.
//
// It writes nothing but its commit record, and reads through TABLESAMPLE, so that no key
// type or index is needed.
const probeSQL = `SELECT pg_catalog.pg_current_xact_id() FROM (SELECT 1 FROM %s TABLESAMPLE SYSTEM (0.01) LIMIT 1) r
	RIGHT JOIN (SELECT 1) one ON true`

// DefaultProbeEvery is how often a slice probes: ten transactions a second, each an
// xid and a commit record.
const DefaultProbeEvery = 100 * time.Millisecond

// probeTimeout bounds one probe, so that a stuck one counts as that slow and no more.
const probeTimeout = 5 * time.Second

// Prober probes the table in the background and keeps the latencies since the last
// Take.
type Prober struct {
	Pool   *pgxpool.Pool
	Target Target
	Every  time.Duration

	mu      sync.Mutex
	samples []time.Duration
	err     error
	stop    func()
}

// Start probes until Stop or until ctx ends.
func (p *Prober) Start(ctx context.Context) {
	every := p.Every
	if every <= 0 {
		every = DefaultProbeEvery
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	p.stop = func() { cancel(); <-done }
	sql := fmt.Sprintf(probeSQL, targetIdent(p.Target))
	go func() {
		defer close(done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			took, err := probeOnce(ctx, p.Pool, sql)
			if ctx.Err() != nil {
				return
			}
			p.mu.Lock()
			if err != nil {
				if p.err == nil {
					p.err = err
				}
			} else {
				p.samples = append(p.samples, took)
			}
			p.mu.Unlock()
		}
	}()
}

// Stop ends the probing and waits for the last probe.
func (p *Prober) Stop() {
	if p.stop != nil {
		p.stop()
	}
}

// ProbeWindow is what the probes saw since the last Take.
type ProbeWindow struct {
	N int
	// P99 is the 99th percentile (the slowest below 100 probes).
	P99 time.Duration
	// Samples are the probes' latencies, sorted.
	Samples []time.Duration
	// Err is the first failed probe's error, if any.
	Err error
}

// Take returns the probes since the last Take and starts a new window.
func (p *Prober) Take() ProbeWindow {
	p.mu.Lock()
	s, err := p.samples, p.err
	p.samples, p.err = nil, nil
	p.mu.Unlock()
	w := ProbeWindow{N: len(s), Err: err, Samples: s}
	if len(s) > 0 {
		slices.Sort(s)
		w.P99 = s[(len(s)*99)/100]
	}
	return w
}

// probeOnce runs one probe on a connection of the pool and returns its wall time, the
// connection's acquisition left out.
func probeOnce(ctx context.Context, pool *pgxpool.Pool, sql string) (time.Duration, error) {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return 0, fmt.Errorf("probe: %w", err)
	}
	defer conn.Release()
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	start := time.Now()
	err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		var xid any
		return tx.QueryRow(ctx, sql).Scan(&xid)
	})
	took := time.Since(start)
	if err != nil && ctx.Err() == context.DeadlineExceeded {
		return took, nil
	}
	if err != nil {
		return 0, fmt.Errorf("probe: %w", err)
	}
	return took, nil
}
