package demoapp

import (
	"encoding/json"
	"math"
	"sync"
	"time"
)

// Stats is a snapshot of what the demo app has done since Run started.
type Stats struct {
	Ops     int64 `json:"ops"`
	Reads   int64 `json:"reads"`
	Updates int64 `json:"updates"`
	Inserts int64 `json:"inserts"`
	// Errors counts failed operations; operations cut short by the end of Run
	// are not counted at all.
	Errors int64 `json:"errors"`
	// MaxLatency is exact; P99 is the upper edge of its histogram bucket
	// (at most 9% above the true value) and never more than MaxLatency.
	MaxLatency time.Duration `json:"max_latency_ns"`
	P99        time.Duration `json:"p99_ns"`
	// ErrorsReadNew counts the errors of operations on the new read path
	// (read_new on); LastErrorAt is when the last error of any kind happened.
	ErrorsReadNew int64     `json:"errors_read_new"`
	LastErrorAt   time.Time `json:"last_error_at,omitzero"`
	// FirstErrors are the messages of the first 10 errors.
	FirstErrors []string `json:"first_errors"`
	// Mode is the mode of the latest operation (before the first one, of the
	// flags as read at start).
	Mode string `json:"mode"`
	// ModeOps counts operations per mode, to show which code paths really ran.
	ModeOps map[string]int64 `json:"mode_ops"`
	// FlagErrors counts errors and warnings of the Unleash client; they are
	// not operation errors (the client keeps the last flags it fetched).
	FlagErrors    int64  `json:"flag_errors"`
	LastFlagError string `json:"last_flag_error,omitempty"`
	// Running is true from the first operation until Run returns.
	Running bool      `json:"running"`
	Since   time.Time `json:"since"`
	Until   time.Time `json:"until"`
}

// MarshalJSON adds the latencies in milliseconds, for readers such as jq.
func (s Stats) MarshalJSON() ([]byte, error) {
	type plain Stats // without this method, so no recursion
	return json.Marshal(struct {
		plain
		MaxLatencyMS float64 `json:"max_latency_ms"`
		P99MS        float64 `json:"p99_ms"`
	}{plain(s), millis(s.MaxLatency), millis(s.P99)})
}

func millis(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

const maxFirstErrors = 10

// recorder accumulates Stats; one mutex is plenty next to a database round trip.
type recorder struct {
	mu    sync.Mutex
	s     Stats
	hist  histogram
	count map[Mode]int64
}

func newRecorder() *recorder {
	return &recorder{count: map[Mode]int64{}}
}

type opKind int

const (
	opRead opKind = iota
	opUpdate
	opInsert
)

func (k opKind) String() string {
	switch k {
	case opRead:
		return "read"
	case opUpdate:
		return "update"
	default:
		return "insert"
	}
}

func (r *recorder) start(m Mode, now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.s.Mode = string(m)
	r.s.Since = now
	r.s.Running = true
}

func (r *recorder) stop(now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.s.Running = false
	r.s.Until = now
}

func (r *recorder) op(k opKind, m Mode, latency time.Duration, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.s.Ops++
	switch k {
	case opRead:
		r.s.Reads++
	case opUpdate:
		r.s.Updates++
	case opInsert:
		r.s.Inserts++
	}
	r.count[m]++
	r.s.Mode = string(m)
	r.s.MaxLatency = max(r.s.MaxLatency, latency)
	r.hist.add(latency)
	if err != nil {
		r.s.Errors++
		r.s.LastErrorAt = time.Now()
		if m.readsNew() {
			r.s.ErrorsReadNew++
		}
		if len(r.s.FirstErrors) < maxFirstErrors {
			r.s.FirstErrors = append(r.s.FirstErrors,
				time.Now().UTC().Format(time.RFC3339Nano)+" "+k.String()+" in mode "+string(m)+": "+err.Error())
		}
	}
}

func (r *recorder) flagError(msg string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.s.FlagErrors++
	r.s.LastFlagError = msg
}

func (r *recorder) snapshot() Stats {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.s
	s.FirstErrors = append([]string{}, r.s.FirstErrors...)
	s.ModeOps = make(map[string]int64, len(r.count))
	for m, n := range r.count {
		s.ModeOps[string(m)] = n
	}
	s.P99 = min(r.hist.quantile(0.99), s.MaxLatency)
	if s.Running {
		s.Until = time.Now()
	}
	return s
}

// histogram counts latencies in buckets eight to a doubling, from 1µs up to
// about 2^31µs (36 min); the last bucket takes everything above.
type histogram struct {
	n       int64
	buckets [250]int64
}

const bucketsPerDoubling = 8

func bucketOf(d time.Duration) int {
	us := float64(d) / float64(time.Microsecond)
	if us <= 1 {
		return 0
	}
	i := int(math.Ceil(math.Log2(us) * bucketsPerDoubling))
	return min(i, len(histogram{}.buckets)-1)
}

// bucketUpper is the largest latency bucket i holds.
func bucketUpper(i int) time.Duration {
	return time.Duration(math.Exp2(float64(i)/bucketsPerDoubling) * float64(time.Microsecond))
}

func (h *histogram) add(d time.Duration) {
	h.n++
	h.buckets[bucketOf(d)]++
}

func (h *histogram) quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := int64(math.Ceil(q * float64(h.n)))
	var seen int64
	for i, c := range h.buckets {
		seen += c
		if seen >= rank {
			return bucketUpper(i)
		}
	}
	return bucketUpper(len(h.buckets) - 1)
}
