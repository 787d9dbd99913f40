package governor

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const ms = time.Millisecond

func waited(d time.Duration, n int) Observation {
	return Observation{Latency: d, Waiters: n, Source: "longest lock wait", Valid: true}
}

func TestDefaultsBoundBatchTimeByTheLimit(t *testing.T) {
	c := Defaults(20*ms, 0, 0)
	assert.Equal(t, 20*ms, c.MaxBatchTime)
	assert.Equal(t, time.Millisecond, c.MinBatchTime)
	assert.Equal(t, 500*ms, c.MaxPause)
	// A user's target_batch_time under the limit is the ceiling instead.
	c = Defaults(100*ms, 50*ms, 5*ms)
	assert.Equal(t, 50*ms, c.MaxBatchTime)
	assert.Equal(t, 5*ms, c.BasePause)
	c = Defaults(20*ms, 200*ms, 0)
	assert.Equal(t, 20*ms, c.MaxBatchTime)
}

func TestStartsAtTheCeilingAndHoldsNothing(t *testing.T) {
	c := New(Defaults(20*ms, 0, 0))
	d := c.Decision()
	assert.Equal(t, 20*ms, d.BatchTime)
	assert.Zero(t, d.Pause)
	assert.Empty(t, d.Holding)
}

func TestShrinksInProportionToTheOvershootAtMostHalving(t *testing.T) {
	c := New(Defaults(20*ms, 0, 0))
	d := c.Observe(waited(25*ms, 2))
	assert.Equal(t, 16*ms, d.BatchTime, "20ms * 20/25")
	assert.Equal(t, "app latency: longest lock wait 25ms > 20ms (2 waiting); batches of 16ms", d.Holding)
	d = c.Observe(waited(400*ms, 1))
	assert.Equal(t, 8*ms, d.BatchTime, "never more than halved per batch")
}

func TestPausesOnlyWhenTheSmallestBatchIsStillTooSlow(t *testing.T) {
	c := New(Defaults(20*ms, 0, 0))
	var d Decision
	for range 10 {
		d = c.Observe(waited(30*ms, 1))
	}
	require.Equal(t, time.Millisecond, d.BatchTime)
	assert.Positive(t, d.Pause)
	assert.Contains(t, d.Holding, ", pause ")
	// Bounded however long it lasts.
	for range 100 {
		d = c.Observe(waited(time.Second, 1))
	}
	assert.Equal(t, 500*ms, d.Pause)
	assert.Equal(t, time.Millisecond, d.BatchTime)
}

func TestGivesBackPauseFirstThenBatchTimeAfterCalmBatches(t *testing.T) {
	c := New(Defaults(20*ms, 0, 0))
	for range 12 {
		c.Observe(waited(30*ms, 1))
	}
	d := c.Decision()
	require.Positive(t, d.Pause)
	pause := d.Pause
	// Two calm batches change nothing; the third halves the pause.
	c.Observe(waited(0, 0))
	d = c.Observe(waited(0, 0))
	assert.Equal(t, pause, d.Pause)
	d = c.Observe(waited(0, 0))
	assert.Equal(t, pause/2, d.Pause)
	assert.Equal(t, time.Millisecond, d.BatchTime)
	for d.Pause > 0 {
		d = c.Observe(waited(0, 0))
	}
	assert.Equal(t, time.Millisecond, d.BatchTime, "the pause goes before the batch grows")
	for range 3 {
		d = c.Observe(waited(0, 0))
	}
	assert.Equal(t, 3*ms, d.BatchTime, "additive: a tenth of the ceiling per calm step")
	assert.NotEmpty(t, d.Holding, "still below the ceiling after a breach")
	for range 200 {
		d = c.Observe(waited(0, 0))
	}
	assert.Equal(t, 20*ms, d.BatchTime, "never past the ceiling")
	assert.Empty(t, d.Holding)
}

func TestDeadBandHoldsStill(t *testing.T) {
	c := New(Defaults(20*ms, 0, 0))
	before := c.Decision()
	for range 50 {
		c.Observe(waited(15*ms, 1))
	}
	assert.Equal(t, before, c.Decision(), "between half the limit and the limit nothing moves")
}

func TestInvalidObservationChangesNothing(t *testing.T) {
	c := New(Defaults(20*ms, 0, 0))
	c.Observe(waited(40*ms, 1))
	before := c.Decision()
	assert.Equal(t, before, c.Observe(Observation{}))
}

// A plant where the application's worst wait is the batch time plus noise: the
// controller settles inside the band without swinging between the bounds.
func TestSettlesWithoutOscillating(t *testing.T) {
	c := New(Defaults(20*ms, 0, 0))
	d := c.Decision()
	var times []time.Duration
	for i := range 300 {
		wait := d.BatchTime * 3 / 2 // waits last a batch and a half: the limit binds
		if i%7 == 0 {
			wait += 5 * ms
		}
		d = c.Observe(waited(wait, 1))
		times = append(times, d.BatchTime)
	}
	tail := times[200:]
	lo, hi := tail[0], tail[0]
	for _, x := range tail {
		lo, hi = min(lo, x), max(hi, x)
	}
	assert.LessOrEqual(t, hi, 14*ms, "the latency stays near the limit: batch time*1.5 <= ~20ms")
	assert.GreaterOrEqual(t, lo, 5*ms, "and it does not collapse to the floor")
	assert.LessOrEqual(t, hi-lo, 8*ms, "bounded swing")
	assert.Zero(t, d.Pause, "a shrinking batch was enough; no pause")
}

func TestResumeContinuesWithinBounds(t *testing.T) {
	c := New(Defaults(20*ms, 0, 0))
	c.Resume(State{BatchTime: 7 * ms, Pause: 40 * ms, Over: true})
	assert.Equal(t, State{BatchTime: 7 * ms, Pause: 40 * ms, Over: true}, c.State())
	assert.NotEmpty(t, c.Decision().Holding)
	c = New(Defaults(20*ms, 0, 0))
	c.Resume(State{BatchTime: time.Hour, Pause: time.Hour})
	assert.Equal(t, State{BatchTime: 20 * ms, Pause: 500 * ms}, c.State(), "a state from other settings is clamped")
	c = New(Defaults(20*ms, 0, 0))
	c.Resume(State{})
	assert.Equal(t, State{BatchTime: 20 * ms}, c.State(), "a first slice starts fresh")
}
