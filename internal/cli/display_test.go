package cli

import (
	"bytes"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/zdmhq/zdm/workflows"
)

func backfilling(pct float64) frame {
	return progressFrame(workflows.Progress{Phase: workflows.PhaseBackfilling, Percent: pct, RowsDone: int64(pct * 10), RowsTotal: 1000}, 10)
}

func TestCadencePrintsOnChangesEveryTenPercentAndTenSeconds(t *testing.T) {
	var c Cadence
	t0 := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }

	assert.True(t, c.Due(backfilling(0), at(0)), "first answer")
	assert.False(t, c.Due(backfilling(3), at(1)), "same phase, same decile, 1s later")
	assert.False(t, c.Due(backfilling(9.9), at(5)))
	assert.True(t, c.Due(backfilling(10), at(6)), "crossed 10%")
	assert.False(t, c.Due(backfilling(15), at(7)))
	assert.True(t, c.Due(backfilling(35), at(8)), "jumped two deciles")
	assert.False(t, c.Due(backfilling(36), at(17)), "9s since the last line")
	assert.True(t, c.Due(backfilling(36), at(18)), "10s since the last line")

	paused := workflows.Progress{Phase: workflows.PhaseBackfilling, Percent: 36, Paused: true}
	assert.True(t, c.Due(progressFrame(paused, 10), at(19)), "paused")
	verifying := workflows.Progress{Phase: workflows.PhaseVerifying, Percent: 100}
	assert.True(t, c.Due(progressFrame(verifying, 10), at(20)), "phase changed")
	assert.False(t, c.Due(progressFrame(verifying, 10), at(21)))
	gate := workflows.Progress{Phase: workflows.PhaseAwaiting, Percent: 100, AwaitingGate: "contract"}
	assert.True(t, c.Due(progressFrame(gate, 10), at(22)), "gate")
}

func TestCadenceStaleFrames(t *testing.T) {
	var c Cadence
	t0 := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
	rows := int64(10)
	f := func(r int64) frame {
		rows = r
		return staleFrame(StatusView{Phase: "backfilling", Activities: []PendingActivity{{Type: "BackfillSlice", RowsDone: &rows}}})
	}
	assert.True(t, c.Due(f(10), t0))
	assert.False(t, c.Due(f(20), t0.Add(time.Second)), "rows moving in heartbeats alone do not print")
	assert.True(t, c.Due(backfilling(50), t0.Add(2*time.Second)), "worker back")
}

func TestPlainLinesPrintOnlyWhenDue(t *testing.T) {
	var out bytes.Buffer
	d := &plainLines{w: &out}
	t0 := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
	d.show(backfilling(1), t0)
	d.show(backfilling(2), t0.Add(time.Second))
	d.show(backfilling(12), t0.Add(2*time.Second))
	d.end()
	assert.Equal(t,
		"10:00:00 [----------] 1.0%  10 / 1,000 rows  backfilling\n"+
			"10:00:02 [#---------] 12.0%  120 / 1,000 rows  backfilling\n", out.String())
}

func TestLiveLineRedrawsInPlace(t *testing.T) {
	var out bytes.Buffer
	d := &liveLine{w: &out, width: 20}
	d.show(frame{line: "short"}, time.Time{})
	d.show(frame{line: "a line longer than the terminal"}, time.Time{})
	d.end()
	d.end()
	assert.Equal(t, "\rshort\x1b[K\ra line longer than \x1b[K\n", out.String())
}
