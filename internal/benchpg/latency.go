// Package benchpg reads what make bench-pgbench measures: pgbench's per-transaction log
// (-l), a migration workflow's Temporal history, and the accounts' balances against
// pgbench_history (lost updates).
package benchpg

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Txn is one line of pgbench's -l log: client_id transaction_no time script_no
// time_epoch time_us [schedule_lag [retries]]. Latency is the time field (with -R it runs
// from the transaction's scheduled start, so it includes the time spent queued behind a
// lock); End is when the transaction ended. Status is "" for a transaction that
// committed, else pgbench's marker in the time field: "skipped", "failed",
// "serialization" or "deadlock".
type Txn struct {
	Client  int
	End     time.Time
	Latency time.Duration
	Status  string
}

// ParseLog reads one pgbench -l log (pgbench writes one file per thread).
func ParseLog(r io.Reader) ([]Txn, error) {
	var out []Txn
	sc := bufio.NewScanner(r)
	line := 0
	for sc.Scan() {
		line++
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		if len(f) < 6 {
			return nil, fmt.Errorf("line %d: %d fields, want at least 6 (client_id transaction_no time script_no time_epoch time_us)", line, len(f))
		}
		client, err := strconv.Atoi(f[0])
		if err != nil {
			return nil, fmt.Errorf("line %d: client_id %q: %w", line, f[0], err)
		}
		sec, err := strconv.ParseInt(f[4], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("line %d: time_epoch %q: %w", line, f[4], err)
		}
		us, err := strconv.ParseInt(f[5], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("line %d: time_us %q: %w", line, f[5], err)
		}
		t := Txn{Client: client, End: time.Unix(sec, us*1000)}
		if lat, err := strconv.ParseInt(f[2], 10, 64); err == nil {
			t.Latency = time.Duration(lat) * time.Microsecond
		} else {
			t.Status = f[2]
		}
		out = append(out, t)
	}
	return out, sc.Err()
}

// Stats are the transactions that ended within a window.
type Stats struct {
	Committed     int           // transactions with a latency
	Failed        int           // failed, serialization or deadlock markers
	Skipped       int           // skipped markers (only with --latency-limit)
	P50, P99, Max time.Duration // over the committed ones
	// Stall is the longest stretch of the window in which no transaction ended (from its
	// start to the first end, between ends, from the last end to its end). A transaction
	// held up until the load is stopped never ends, so its latency is in no percentile:
	// the stall shows it (at 300 transactions per second a stretch of a few ms is normal).
	Stall time.Duration
}

// Window gives the statistics of the transactions that ended in [from, to].
func Window(txns []Txn, from, to time.Time) Stats {
	var s Stats
	var lat []time.Duration
	var ends []time.Time
	for _, t := range txns {
		if t.End.Before(from) || t.End.After(to) {
			continue
		}
		ends = append(ends, t.End)
		switch t.Status {
		case "":
			lat = append(lat, t.Latency)
		case "skipped":
			s.Skipped++
		default:
			s.Failed++
		}
	}
	slices.SortFunc(ends, func(a, b time.Time) int { return a.Compare(b) })
	last := from
	for _, e := range append(ends, to) {
		s.Stall = max(s.Stall, e.Sub(last))
		last = e
	}
	s.Committed = len(lat)
	if len(lat) == 0 {
		return s
	}
	slices.Sort(lat)
	s.P50 = Percentile(lat, 50)
	s.P99 = Percentile(lat, 99)
	s.Max = lat[len(lat)-1]
	return s
}

// Percentile is the nearest-rank percentile p (0 < p <= 100) of sorted values.
func Percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	rank = max(rank, 1)
	rank = min(rank, len(sorted))
	return sorted[rank-1]
}
