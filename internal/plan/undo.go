package plan

import "time"

// Undo is how a migration with an undo_window keeps its old shape restorable after
// contract.
type Undo struct {
	Window time.Duration `json:"window"`
	// Contract replaces the plan's Contract: the old shape is set aside, not dropped.
	Contract []Statement `json:"contract"`
	// Revert, in one transaction, brings the table back to where it stood before
	// contract (old and new shape side by side, kept in step); the workflow then
	// switches the flags back and runs the plan's Rollback.
	Revert []Statement `json:"revert"`
	// Finalize drops what Contract set aside.
	Finalize []Statement `json:"finalize"`
	// Changes say, per operation, what its undo is.
	Changes []UndoChange `json:"changes"`
}

// UndoChange is one operation's undo as zdm plan shows it.
type UndoChange struct {
	Field string `json:"field"`
	Kind  string `json:"kind"`
	Says  string `json:"says"`
}

// RevertAll is what revert runs, in order: Revert, then (once applications are back
// on the old shape) the rollback. Rehearsals run them together.
func (p *Plan) RevertAll() []Statement {
	if p.Undo == nil {
		return nil
	}
	return append(append([]Statement{}, p.Undo.Revert...), p.Rollback...)
}

// Status of a migration reverted during its undo window.
const StatusReverted = "reverted"
