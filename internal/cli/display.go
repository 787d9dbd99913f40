package cli

import (
	"fmt"
	"io"
	"math"
	"time"

	"github.com/zdmhq/zdm/workflows"
)

// display shows watch's progress: one line redrawn in place on a terminal, or plain
// lines at a log-friendly cadence otherwise.
type display interface {
	show(f frame, now time.Time)
	// end finishes the current line so that what follows starts on its own.
	end()
}

// liveLine redraws a single line with a carriage return, cut to the terminal's width.
type liveLine struct {
	w     io.Writer
	width int
	drawn bool
}

func (l *liveLine) show(f frame, _ time.Time) {
	line := f.line
	if l.width > 1 {
		if r := []rune(line); len(r) > l.width-1 {
			line = string(r[:l.width-1])
		}
	}
	// \x1b[K clears what a longer previous line left behind.
	fmt.Fprintf(l.w, "\r%s\x1b[K", line)
	l.drawn = true
}

func (l *liveLine) end() {
	if l.drawn {
		fmt.Fprintln(l.w)
		l.drawn = false
	}
}

// plainLines prints a line only when Cadence says so.
type plainLines struct {
	w io.Writer
	c Cadence
}

func (l *plainLines) show(f frame, now time.Time) {
	if l.c.Due(f, now) {
		fmt.Fprintf(l.w, "%s %s\n", now.Format("15:04:05"), f.line)
	}
}

func (l *plainLines) end() {}

// frame is one poll's worth of display.
type frame struct {
	line    string
	state   string  // phase, pause and awaited gate: a change shows at once
	percent float64 // negative when unknown
}

// progressFrame is the frame of a progress answer.
func progressFrame(p workflows.Progress, width int) frame {
	return frame{
		line:    LiveLine(p, width),
		state:   fmt.Sprintf("%s|%t|%s", p.Phase, p.Paused, p.AwaitingGate),
		percent: p.Percent,
	}
}

// Cadence decides when a non-terminal watcher prints: on the first answer, when the
// phase, pause state or awaited gate changes, when the backfill crosses another 10%,
// and otherwise every 10 seconds, so a log shows both the steps and that it is alive.
type Cadence struct {
	Every time.Duration // 10s when zero

	started bool
	last    time.Time
	state   string
	decile  int
}

// Due says whether to print f now, and if so remembers that it did.
func (c *Cadence) Due(f frame, now time.Time) bool {
	every := c.Every
	if every <= 0 {
		every = 10 * time.Second
	}
	state, decile := f.state, -1
	if f.percent >= 0 {
		decile = int(math.Floor(f.percent / 10))
	}
	due := !c.started || state != c.state || decile > c.decile || now.Sub(c.last) >= every
	if due {
		c.started, c.last, c.state, c.decile = true, now, state, decile
	}
	return due
}
