package rehearse

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/zdmhq/zdm/internal/demoapp"
	"github.com/zdmhq/zdm/internal/spec"
	"github.com/zdmhq/zdm/internal/testenv"
)

// BenchmarkRehearsalPrediction checks zdm rehearse's prediction: the demo migration
// (examples/customers-full-name.yaml) on the demo table of ZDM_BENCH_ROWS rows (default
// 1,000,000), rehearsed on a ZDM_BENCH_SAMPLE% sample (default 10) in one scratch
// database and on the whole table (the "full run") in another, each under the write
// load sampled from the source, where an application updates ZDM_BENCH_WRITES rows a
// second (default 200). It repeats the pair ZDM_BENCH_PAIRS times (default 3, the
// order alternating) and prints predicted vs actual and the error of each, and the
// median error. Run it with make bench.
func BenchmarkRehearsalPrediction(b *testing.B) {
	rows := envInt(b, "ZDM_BENCH_ROWS", 1_000_000)
	sample := float64(envInt(b, "ZDM_BENCH_SAMPLE", 10))
	writes := envInt(b, "ZDM_BENCH_WRITES", 200)
	pairs := int(envInt(b, "ZDM_BENCH_PAIRS", 3))
	ctx := context.Background()
	srcDSN, src := testenv.DB(b, "zdm_bench_rehearse_src")
	require.NoError(b, demoapp.Seed(ctx, src, "public.customers", rows))
	m, err := spec.ParseFile(demoMigration(b))
	require.NoError(b, err)

	// The application on the source: single-row updates at a steady rate.
	appCtx, stopApp := context.WithCancel(ctx)
	var app sync.WaitGroup
	app.Add(1)
	go func() {
		defer app.Done()
		tick := time.NewTicker(time.Second / time.Duration(writes))
		defer tick.Stop()
		for {
			select {
			case <-appCtx.Done():
				return
			case <-tick.C:
				_, _ = src.Exec(appCtx, `UPDATE customers SET balance = balance + 1 WHERE id = $1`, 1+rand.Int64N(rows))
			}
		}
	}()
	defer func() { stopApp(); app.Wait() }()

	rehearseOn := func(pct float64) *Report {
		_, scratch := testenv.DB(b, "zdm_bench_rehearse_scratch")
		checkpoint(b, scratch)
		fmt.Printf("  (%g%%: load average %s before)\n", pct, loadavg())
		rep, err := Run(ctx, src, scratch, m, Options{SourceDSN: srcDSN, Sample: pct, Load: Load{Mode: LoadAuto}, LoadWindow: 5 * time.Second})
		require.NoError(b, err)
		require.True(b, rep.Success, rep.Error)
		scratch.Close()
		return rep
	}
	var errs, predicted, actual []float64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for pair := range pairs {
			var sampled, full *Report
			if pair%2 == 0 {
				sampled, full = rehearseOn(sample), rehearseOn(100)
			} else {
				full, sampled = rehearseOn(100), rehearseOn(sample)
			}
			e := 100 * (sampled.PredictedSeconds - full.MeasuredSeconds) / full.MeasuredSeconds
			errs = append(errs, e)
			predicted, actual = append(predicted, sampled.PredictedSeconds), append(actual, full.MeasuredSeconds)
			fmt.Printf("rehearsal pair %d: %g%% sample (%d rows, x%.2f, load %.0f writes/s) predicted %.2f s ± %.2f s; full run (%d rows) took %.2f s; error %+.1f%%\n",
				pair+1, sample, sampled.Copied[0].CopiedRows, sampled.RowRatio, loadRate(sampled), sampled.PredictedSeconds, sampled.MarginSeconds,
				full.Copied[0].CopiedRows, full.MeasuredSeconds, e)
			for j, ph := range full.Phases {
				sp := sampled.Phases[j]
				fmt.Printf("  %-9s sample %6.2f s -> predicted %6.2f s; full %6.2f s\n", ph.Name, sp.Seconds, sp.PredictedSeconds, ph.Seconds)
			}
		}
	}
	b.StopTimer()
	abs := make([]float64, len(errs))
	for i, e := range errs {
		abs[i] = math.Abs(e)
	}
	sort.Float64s(abs)
	med := abs[len(abs)/2]
	fmt.Printf("rehearsal prediction: median |error| %.1f%%, worst %.1f%% over %d pairs (done when: within 30%%)\n", med, abs[len(abs)-1], len(abs))
	// The full runs' own spread is the machine's noise: no prediction can beat it.
	mp, ma := mean(predicted), mean(actual)
	lo, hi := slices.Min(actual), slices.Max(actual)
	fmt.Printf("rehearsal prediction: mean predicted %.2f s, mean full run %.2f s (%+.1f%%); the full runs alone ranged %.2f-%.2f s (%.0f%% of their mean)\n",
		mp, ma, 100*(mp-ma)/ma, lo, hi, 100*(hi-lo)/ma)
	b.ReportMetric(med, "median_abs_error_%")
	b.ReportMetric(abs[len(abs)-1], "worst_abs_error_%")
}

// loadavg is the machine's 1-minute load average: the bench's figures move with it.
func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return "unknown"
	}
	return f[0]
}

func mean(xs []float64) float64 {
	var t float64
	for _, x := range xs {
		t += x
	}
	return t / float64(len(xs))
}

func loadRate(r *Report) float64 {
	var t float64
	for _, l := range r.Load {
		t += l.total()
	}
	return t
}

func envInt(b *testing.B, name string, def int64) int64 {
	if v := os.Getenv(name); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		require.NoError(b, err, name)
		return n
	}
	return def
}

// checkpoint starts a run with no WAL pending from the one before. It needs
// pg_checkpoint (granted by make up / make test); without it the figures may carry
// the other run's WAL.
func checkpoint(b *testing.B, pool *pgxpool.Pool) {
	if _, err := pool.Exec(context.Background(), "CHECKPOINT"); err != nil {
		b.Logf("no CHECKPOINT before the rehearsal: %v", err)
	}
}
