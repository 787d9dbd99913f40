package spec

import "time"

// MaxUndoWindow bounds undo_window: the old shape is kept in step with every write for
// the whole window, which costs the application a trigger and the table its space.
const MaxUndoWindow = 30 * 24 * time.Hour

// HasUndoWindow says whether contract keeps the old shape restorable.
func (m *Migration) HasUndoWindow() bool { return m.UndoWindow.D() > 0 }

func (m *Migration) checkUndoWindow() *FieldError {
	if w := m.UndoWindow.D(); w < 0 || w > MaxUndoWindow {
		return m.Errorf("undo_window", "use a duration such as 24h (at most 720h), or leave it out", "%s is out of range", w)
	}
	return nil
}

// checkFinalizeGate: the finalize gate holds the leftovers of an undo window; without
// one there is nothing to finalize.
func (m *Migration) checkFinalizeGate(field string) *FieldError {
	if !m.HasUndoWindow() {
		return m.Errorf(field, "add undo_window: 24h, or drop this gate", "gate finalize ends an undo window, and this migration has none")
	}
	return nil
}
