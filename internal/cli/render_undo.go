package cli

import (
	"github.com/zdmhq/zdm/workflows"
)

// undoRows are status's lines about an open undo window: when it ends, and how to
// revert or finalize before.
func undoRows(row func(k, format string, args ...any), name string, p workflows.Progress) {
	if p.Phase != workflows.PhaseUndoWindow {
		return
	}
	switch {
	case !p.UndoUntil.IsZero():
		row("undo window", "open until %s (%s left)", p.UndoUntil.Format(timeLayout), HumanDuration(p.UndoUntil.Sub(p.StartedAt.Add(p.Elapsed))))
	case p.AwaitingGate != "":
		row("undo window", "ended; waits at gate %s", p.AwaitingGate)
	default:
		row("undo window", "waits for a person (see last error)")
	}
	row("", "revert:   zdm revert %s --by <you>   (the old schema back, with every write made since contract)", name)
	row("", "finalize: zdm finalize %s --by <you> (drop what the window keeps, now)", name)
}

// undoLive is what watch adds while the undo window is open.
func undoLive(p workflows.Progress) string {
	if p.UndoUntil.IsZero() || p.Phase != workflows.PhaseUndoWindow {
		return ""
	}
	return "  undo window until " + p.UndoUntil.Format(timeLayout)
}
