package demoapp

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestModeFor(t *testing.T) {
	assert.Equal(t, ModeOld, ModeFor(false, false))
	assert.Equal(t, ModeDualWrite, ModeFor(true, false))
	assert.Equal(t, ModeDualWriteReadNew, ModeFor(true, true))
	assert.Equal(t, ModeNew, ModeFor(false, true))
}

var placeholder = regexp.MustCompile(`\$(\d+)`)

// maxPlaceholder is the highest $n in sql: the number of arguments it takes.
func maxPlaceholder(sql string) int {
	n := 0
	for _, m := range placeholder.FindAllStringSubmatch(sql, -1) {
		var i int
		fmt.Sscan(m[1], &i)
		n = max(n, i)
	}
	return n
}

func TestStatementsFollowTheFlagSemantics(t *testing.T) {
	table := pgx.Identifier{"public", "customers"}
	c := customer{Name: "Customer 7", Email: "Customer.7@Example.com", Balance: 7}

	cases := []struct {
		mode        Mode
		readCols    string
		writes, not []string
		wantArgs    []any
	}{
		{ModeOld, `id, "name", "email", balance`,
			[]string{`"name"`, `"email"`, "balance"}, []string{"full_name", "email_lower"},
			[]any{"Customer 7", "Customer.7@Example.com", int32(7)}},
		{ModeDualWrite, `id, "name", "email", balance`,
			[]string{`"name"`, `"full_name"`, `"email"`, `"email_lower"`, "balance"}, nil,
			[]any{"Customer 7", "Customer 7", "Customer.7@Example.com", "customer.7@example.com", int32(7)}},
		{ModeDualWriteReadNew, `id, "full_name", "email_lower", balance`,
			[]string{`"name"`, `"full_name"`, `"email"`, `"email_lower"`, "balance"}, nil,
			[]any{"Customer 7", "Customer 7", "Customer.7@Example.com", "customer.7@example.com", int32(7)}},
		{ModeNew, `id, "full_name", "email_lower", balance`,
			[]string{`"full_name"`, `"email"`, `"email_lower"`, "balance"}, []string{`"name"`},
			[]any{"Customer 7", "Customer.7@Example.com", "customer.7@example.com", int32(7)}},
	}
	for _, tc := range cases {
		t.Run(string(tc.mode), func(t *testing.T) {
			s := buildStatements(table, tc.mode)
			assert.Equal(t, `SELECT `+tc.readCols+` FROM "public"."customers" WHERE id = $1`, s.read)
			for _, col := range tc.writes {
				assert.Contains(t, s.update, col)
				assert.Contains(t, s.insert, col)
			}
			for _, col := range tc.not {
				assert.NotContains(t, s.update, col)
				assert.NotContains(t, s.insert, col)
			}
			args := writeArgs(tc.mode, c)
			assert.Equal(t, tc.wantArgs, args)
			assert.Len(t, writeColumns(tc.mode), len(args))
			// Every argument has its placeholder: PostgreSQL cannot type an unused one.
			assert.Equal(t, len(args)+1, maxPlaceholder(s.update), s.update)
			assert.Equal(t, len(args), maxPlaceholder(s.insert), s.insert)
		})
	}
}

func TestParseTable(t *testing.T) {
	id, err := parseTable("public.customers")
	require.NoError(t, err)
	assert.Equal(t, `"public"."customers"`, id.Sanitize())
	id, err = parseTable("customers")
	require.NoError(t, err)
	assert.Equal(t, `"public"."customers"`, id.Sanitize())
	for _, bad := range []string{"", ".x", "x.", "a.b.c"} {
		_, err := parseTable(bad)
		assert.Error(t, err, bad)
	}
}

func TestClientAPIURL(t *testing.T) {
	for _, base := range []string{"http://127.0.0.1:4242", "http://127.0.0.1:4242/", "http://127.0.0.1:4242/api", "http://127.0.0.1:4242/api/"} {
		assert.Equal(t, "http://127.0.0.1:4242/api/", clientAPIURL(base), base)
	}
}

func TestNewValidates(t *testing.T) {
	_, err := New(Config{})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "DATABASE_URL")
	assert.Contains(t, err.Error(), "UNLEASH_URL")

	_, err = New(Config{DatabaseURL: "postgres://u:secret@h/db", UnleashURL: "http://x", Rate: -1})
	require.Error(t, err)

	_, err = New(Config{DatabaseURL: "::not a url secret::", UnleashURL: "http://x"})
	require.Error(t, err)
	assert.NotContains(t, err.Error(), "secret", "the connection string may hold a password")

	a, err := New(Config{DatabaseURL: "postgres://u@h/db", UnleashURL: "http://x"})
	require.NoError(t, err)
	assert.Equal(t, DefaultTable, a.cfg.Table)
	assert.Equal(t, DefaultWorkers, a.cfg.Workers)
	assert.Equal(t, DefaultMix, a.cfg.Mix)
	assert.Equal(t, "zdm-demoapp", a.poolCfg.ConnConfig.RuntimeParams["application_name"])
}

func TestHistogram(t *testing.T) {
	var h histogram
	assert.Zero(t, h.quantile(0.99))
	for range 990 {
		h.add(2 * time.Millisecond)
	}
	for range 10 {
		h.add(400 * time.Millisecond)
	}
	p99 := h.quantile(0.99)
	assert.GreaterOrEqual(t, p99, 2*time.Millisecond)
	assert.LessOrEqual(t, p99, 2*time.Millisecond*109/100, "a bucket is at most 9%% wide")
	h.add(400 * time.Millisecond) // now more than 1% are slow
	assert.GreaterOrEqual(t, h.quantile(0.99), 400*time.Millisecond)
	assert.Equal(t, len(h.buckets)-1, bucketOf(100*time.Hour))
	assert.Equal(t, 0, bucketOf(0))
}

func TestRecorder(t *testing.T) {
	r := newRecorder()
	r.start(ModeOld, time.Now())
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			var err error
			if i%2 == 0 {
				err = fmt.Errorf("boom %d", i)
			}
			r.op(opKind(i%3), ModeDualWrite, time.Duration(i)*time.Millisecond, err)
		})
	}
	wg.Wait()
	s := r.snapshot()
	assert.EqualValues(t, 20, s.Ops)
	assert.EqualValues(t, 20, s.Reads+s.Updates+s.Inserts)
	assert.EqualValues(t, 10, s.Errors)
	assert.Len(t, s.FirstErrors, maxFirstErrors)
	assert.Equal(t, 19*time.Millisecond, s.MaxLatency)
	assert.LessOrEqual(t, s.P99, s.MaxLatency)
	assert.Equal(t, "dual_write", s.Mode)
	assert.Equal(t, map[string]int64{"dual_write": 20}, s.ModeOps)
	assert.True(t, s.Running)

	data, err := json.Marshal(s)
	require.NoError(t, err)
	assert.Contains(t, string(data), `"max_latency_ms":19`)
	var back Stats
	require.NoError(t, json.Unmarshal(data, &back))
	assert.Equal(t, s.Errors, back.Errors)
	assert.Equal(t, s.MaxLatency, back.MaxLatency)
	assert.Equal(t, s.FirstErrors, back.FirstErrors)

	r.stop(time.Now())
	assert.False(t, r.snapshot().Running)
}

func TestPacerHoldsTheRate(t *testing.T) {
	p := &pacer{interval: 10 * time.Millisecond} // 100/s
	ctx := context.Background()
	start := time.Now()
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 10 {
				require.NoError(t, p.wait(ctx))
			}
		})
	}
	wg.Wait()
	// 40 slots 10ms apart, the first one immediate.
	assert.GreaterOrEqual(t, time.Since(start), 390*time.Millisecond)

	ctx, cancel := context.WithCancel(ctx)
	cancel()
	assert.Error(t, p.wait(ctx))
	assert.Error(t, (*pacer)(nil).wait(ctx))
}

func TestMemoryStorage(t *testing.T) {
	var s memoryStorage
	s.Init("", "")
	_, ok := s.Get("x")
	assert.False(t, ok)
	require.NoError(t, s.Reset(map[string]any{"x": 1}, true))
	v, ok := s.Get("x")
	assert.True(t, ok)
	assert.Equal(t, 1, v)
	assert.Len(t, s.List(), 1)
}
