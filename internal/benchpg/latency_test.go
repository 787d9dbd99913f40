package benchpg

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A pgbench 15 -R -l log: client_id transaction_no time script_no time_epoch time_us
// schedule_lag, with a failed and a skipped transaction.
const sampleLog = `0 1 2000 0 1700000000 100000 50
1 1 3000 0 1700000000 900000 70
0 2 failed 0 1700000001 000100 0
1 2 500000 0 1700000001 400000 480000
0 3 1000 0 1700000002 000000 20
1 3 skipped 0 1700000002 500000 0
0 4 9000 0 1700000003 000001 10
`

func TestParseLogAndWindow(t *testing.T) {
	txns, err := ParseLog(strings.NewReader(sampleLog))
	require.NoError(t, err)
	require.Len(t, txns, 7)
	assert.Equal(t, Txn{Client: 1, End: time.Unix(1700000001, 400000*1000), Latency: 500 * time.Millisecond}, txns[3])
	assert.Equal(t, "failed", txns[2].Status)

	// Ended in [1700000000.5, 1700000002.5]: 3000 µs, failed, 500000 µs, 1000 µs, skipped.
	s := Window(txns, time.Unix(1700000000, 5e8), time.Unix(1700000002, 5e8))
	// The longest stretch with no end: 1700000001.4 to 1700000002.0.
	assert.Equal(t, Stats{Committed: 3, Failed: 1, Skipped: 1,
		P50: 3 * time.Millisecond, P99: 500 * time.Millisecond, Max: 500 * time.Millisecond, Stall: 600 * time.Millisecond}, s)

	// Everything: p50 by nearest rank is the 3rd of 1, 2, 3, 9, 500 ms.
	s = Window(txns, time.Unix(0, 0), time.Unix(1800000000, 0))
	assert.Equal(t, Stats{Committed: 5, Failed: 1, Skipped: 1,
		P50: 3 * time.Millisecond, P99: 500 * time.Millisecond, Max: 500 * time.Millisecond,
		Stall: time.Unix(1700000000, 1e8).Sub(time.Unix(0, 0))}, s)

	// Nothing in the window: all of it is a stall.
	assert.Equal(t, Stats{Stall: time.Second}, Window(txns, time.Unix(1, 0), time.Unix(2, 0)))
}

func TestParseLogRejectsShortLines(t *testing.T) {
	_, err := ParseLog(strings.NewReader("0 1 2000 0 1700000000\n"))
	require.ErrorContains(t, err, "line 1: 5 fields")
}

func TestPercentileNearestRank(t *testing.T) {
	var v []time.Duration
	for i := 1; i <= 200; i++ {
		v = append(v, time.Duration(i)*time.Millisecond)
	}
	assert.Equal(t, 100*time.Millisecond, Percentile(v, 50))
	assert.Equal(t, 198*time.Millisecond, Percentile(v, 99))
	assert.Equal(t, 200*time.Millisecond, Percentile(v, 100))
	assert.Equal(t, time.Duration(0), Percentile(nil, 99))
}
