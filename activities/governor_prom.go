package activities

import (
	"context"
	"errors"
	"math"
	"time"

	"go.temporal.io/sdk/log"

	"github.com/zdmhq/zdm/internal/guard"
)

// promSource names backfill.latency_query in progress.
const promSource = "latency_query (Prometheus)"

// promTimeout bounds one query: the batch loop asks between two batches, so a slow
// Prometheus costs no more than this and counts as no figure.
const promTimeout = 500 * time.Millisecond

// promLatency asks Prometheus for the application's own latency (backfill.latency_query,
// in seconds; the largest sample when the query gives several series).
type promLatency struct {
	client *guard.Client
	query  string
	logger log.Logger
	warned bool
}

func newPromLatency(in SliceInput) *promLatency {
	if in.LatencyQuery == "" || in.PrometheusURL == "" {
		return nil
	}
	return &promLatency{client: guard.New(in.PrometheusURL, nil), query: in.LatencyQuery}
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
