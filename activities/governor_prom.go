package activities

import (
	"context"
	"errors"
	"math"
	"sync"
	"time"

	"go.temporal.io/sdk/log"

	"github.com/zdmhq/zdm/internal/guard"
)

// promSource names backfill.latency_query in progress.
const promSource = "latency_query (Prometheus)"

// promTimeout bounds one query: a slow Prometheus counts as no figure.
const promTimeout = 500 * time.Millisecond

// promLatency asks Prometheus for the application's own latency (backfill.latency_query,
// in seconds; the largest sample when the query gives several series).
// It asks from a goroutine of its own (start), never from the batch loop, which only
// takes the newest figure (latest).
type promLatency struct {
	client *guard.Client
	query  string
	logger log.Logger
	warned bool

	mu   sync.Mutex
	last time.Duration
	at   time.Time // when last was read; zero: no figure
}

func newPromLatency(in SliceInput) *promLatency {
	if in.LatencyQuery == "" || in.PrometheusURL == "" {
		return nil
	}
	return &promLatency{client: guard.New(in.PrometheusURL, nil), query: in.LatencyQuery}
}

// start asks every estimateEvery until the returned stop is called.
func (p *promLatency) start(ctx context.Context) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(estimateEvery)
		defer t.Stop()
		for {
			l, ok := p.read(ctx)
			p.mu.Lock()
			if ok {
				p.last, p.at = l, time.Now()
			}
			p.mu.Unlock()
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return func() { cancel(); <-done }
}

// latest is the newest figure, if one was read in the last two windows.
func (p *promLatency) latest() (time.Duration, bool) {
	if p == nil {
		return 0, false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.last, !p.at.IsZero() && time.Since(p.at) < 2*estimateEvery
}

// read returns the latency now; false when there is none (no data, NaN, or an error,
// which is logged once a slice).
func (p *promLatency) read(ctx context.Context) (time.Duration, bool) {
	if p == nil {
		return 0, false
	}
	ctx, cancel := context.WithTimeout(ctx, promTimeout)
	defer cancel()
	samples, err := p.client.Query(ctx, p.query)
	if err != nil {
		if !p.warned && p.logger != nil && !errors.Is(ctx.Err(), context.Canceled) {
			p.logger.Warn("governor: latency_query failed; the other sources go on", "error", err)
			p.warned = true
		}
		return 0, false
	}
	worst, ok := 0.0, false
	for _, s := range samples {
		if s.Value >= 0 && !math.IsInf(s.Value, 0) {
			worst, ok = max(worst, s.Value), true
		}
	}
	if !ok {
		return 0, false
	}
	return time.Duration(worst * float64(time.Second)), true
}
