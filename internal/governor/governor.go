// Package governor keeps the application's latency under a limit while the backfill runs.
// It is pure: observations of the application's latency go in, and the batch time to aim
// at, the pause between batches and the reason the backfill is held back come out. The
// control is additive increase, multiplicative decrease (AIMD) with a dead band between
// half the limit and the limit, so that it neither oscillates nor drifts.
package governor

import (
	"fmt"
	"time"
)

// Observation is what one batch saw of the application.
type Observation struct {
	// Latency is the application's latency by Source while the batch ran: the longest
	// lock wait the batch caused, or an estimate of the p99.
	Latency time.Duration
	// Waiters is the number of sessions the batch made wait (lock waits only).
	Waiters int
	// Source names the measure in progress, e.g. "longest lock wait".
	Source string
	// Valid is false when nothing could be measured; the controller then holds still.
	Valid bool
}

// Config bounds the controller.
type Config struct {
	// Limit is the application latency to stay under (max_app_p99).
	Limit time.Duration
	// MinBatchTime and MaxBatchTime bound the batch time it aims at.
	MinBatchTime, MaxBatchTime time.Duration
	// BasePause is the pause the user asked for: the controller never goes below it.
	BasePause time.Duration
	// MaxPause bounds the pause it adds when the smallest batch is still too slow.
	MaxPause time.Duration
}

// Defaults for a limit: a batch holds its rows' locks until it commits, so a session that
// needs one of them waits up to one batch; batch time never exceeds the limit.
func Defaults(limit, userBatchTime, userPause time.Duration) Config {
	maxBatch := limit
	if userBatchTime > 0 && userBatchTime < maxBatch {
		maxBatch = userBatchTime
	}
	minBatch := max(maxBatch/20, time.Millisecond)
	return Config{
		Limit:        limit,
		MinBatchTime: minBatch,
		MaxBatchTime: maxBatch,
		BasePause:    userPause,
		MaxPause:     max(userPause, 25*limit, 500*time.Millisecond),
	}
}

// Decision is what the next batch should do.
type Decision struct {
	BatchTime time.Duration
	Pause     time.Duration
	// Holding says why the backfill goes slower than it could ("" when the latency
	// limit is not what holds it).
	Holding string
}

// State is the controller's setting, carried from one slice of the backfill to the next.
type State struct {
	BatchTime time.Duration `json:"batch_time,omitempty"`
	Pause     time.Duration `json:"pause,omitempty"`
	// Over: the limit was breached and the batch time is not back at its ceiling.
	Over bool `json:"over,omitempty"`
}

// calmBatches is how many batches in a row must stay under half the limit before the
// controller gives any speed back.
const calmBatches = 3

// Controller adapts batch time and pause to the observations, one batch at a time.
type Controller struct {
	cfg       Config
	batchTime time.Duration
	pause     time.Duration
	calm      int
	last      Observation
	over      bool
}

// New starts a controller at the largest batch time: lock waits never exceed it, and
// each batch costs a few round trips whatever its size, so shorter batches are chosen
// only when the application is seen waiting longer than the limit.
func New(cfg Config) *Controller {
	if cfg.MinBatchTime <= 0 {
		cfg.MinBatchTime = time.Millisecond
	}
	cfg.MaxBatchTime = max(cfg.MaxBatchTime, cfg.MinBatchTime)
	cfg.MaxPause = max(cfg.MaxPause, cfg.BasePause)
	return &Controller{cfg: cfg, batchTime: cfg.MaxBatchTime, pause: cfg.BasePause}
}

// Resume continues from a state a previous controller left (a zero state changes
// nothing), kept within this controller's bounds.
func (c *Controller) Resume(s State) {
	if s.BatchTime > 0 {
		c.batchTime = min(max(s.BatchTime, c.cfg.MinBatchTime), c.cfg.MaxBatchTime)
		c.pause = min(max(s.Pause, c.cfg.BasePause), c.cfg.MaxPause)
		c.over = s.Over
	}
}

// Config is the controller's configuration.
func (c *Controller) Config() Config { return c.cfg }

// State is the setting to carry to the next controller.
func (c *Controller) State() State {
	return State{BatchTime: c.batchTime, Pause: c.pause, Over: c.over}
}

// Decision is the current decision without a new observation.
func (c *Controller) Decision() Decision {
	return Decision{BatchTime: c.batchTime, Pause: c.pause, Holding: c.holding()}
}

// Observe takes one batch's observation and returns what the next batch should do.
func (c *Controller) Observe(o Observation) Decision {
	if !o.Valid {
		return c.Decision()
	}
	c.last = o
	limit := c.cfg.Limit
	switch {
	case o.Latency > limit:
		// Multiplicative decrease, in proportion to the overshoot but at most halving.
		c.calm, c.over = 0, true
		if c.batchTime > c.cfg.MinBatchTime {
			f := max(float64(limit)/float64(o.Latency), 0.5)
			c.batchTime = max(time.Duration(float64(c.batchTime)*f), c.cfg.MinBatchTime)
		} else {
			// The smallest batch is still too much: leave the application room.
			c.pause = min(max(2*c.pause, c.cfg.BasePause+limit/4, time.Millisecond), c.cfg.MaxPause)
		}
	case o.Latency <= limit/2:
		c.calm++
		if c.calm < calmBatches {
			break
		}
		c.calm = 0
		// Give back the pause first, then batch time, a step at a time.
		if c.pause > c.cfg.BasePause {
			c.pause /= 2
			if c.pause-c.cfg.BasePause < time.Millisecond {
				c.pause = c.cfg.BasePause
			}
			break
		}
		c.batchTime = min(c.batchTime+max(c.cfg.MaxBatchTime/10, time.Millisecond), c.cfg.MaxBatchTime)
		if c.batchTime >= c.cfg.MaxBatchTime {
			c.over = false
		}
	default:
		// Dead band: near the limit but under it; hold.
		c.calm = 0
	}
	return c.Decision()
}

func (c *Controller) holding() string {
	if !c.over && c.pause <= c.cfg.BasePause {
		return ""
	}
	o := c.last
	rel := "<="
	if o.Latency > c.cfg.Limit {
		rel = ">"
	}
	s := fmt.Sprintf("app latency: %s %s %s %s", o.Source, round(o.Latency), rel, round(c.cfg.Limit))
	if o.Waiters > 0 {
		s += fmt.Sprintf(" (%d waiting)", o.Waiters)
	}
	s += fmt.Sprintf("; batches of %s", round(c.batchTime))
	if c.pause > c.cfg.BasePause {
		s += fmt.Sprintf(", pause %s", round(c.pause))
	}
	return s
}

func round(d time.Duration) time.Duration {
	switch {
	case d >= 10*time.Second:
		return d.Round(time.Second)
	case d >= 10*time.Millisecond:
		return d.Round(time.Millisecond)
	default:
		return d.Round(100 * time.Microsecond)
	}
}
