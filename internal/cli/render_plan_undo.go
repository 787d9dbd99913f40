package cli

import (
	"fmt"
	"io"

	"github.com/zdmhq/zdm/internal/planner"
	"github.com/zdmhq/zdm/internal/spec"
)

// renderUndo prints, for zdm plan, the contract of a migration with an undo window:
// what each operation keeps, the window, and the revert and finalize statements with
// their locks.
func renderUndo(w io.Writer, m *spec.Migration, p *planner.Plan) {
	u := p.Undo
	fmt.Fprintf(w, "   with undo_window %s, the old shape is kept restorable:\n", HumanDuration(u.Window))
	for _, c := range u.Changes {
		fmt.Fprintf(w, "   - %s: %s\n", c.Field, c.Says)
	}
	statements(w, u.Contract)
	fmt.Fprintf(w, "   (rehearsed before the contract gate opens, in transactions that are rolled back: followed by the whole revert, and by finalize)\n")

	end := "when the window ends, or on zdm finalize " + m.Name
	if m.HasGate(spec.GateFinalize) {
		end = "once gate finalize is approved (it opens when the window ends), or on zdm finalize " + m.Name
	}
	fmt.Fprintf(w, "\nundo window: %s after contract, on a durable timer\n", HumanDuration(u.Window))
	fmt.Fprintf(w, "\nrevert (zdm revert %s, during the window%s): first, in one transaction, the table back to where it stood before contract\n", m.Name, rejectFinalize(m))
	statements(w, u.Revert)
	fmt.Fprintf(w, "   then flags back to the old shape (as a rollback), and the rollback statements below; the migration ends as reverted\n")
	fmt.Fprintf(w, "\nfinalize (%s): one transaction\n", end)
	statements(w, u.Finalize)
}

func rejectFinalize(m *spec.Migration) string {
	if m.HasGate(spec.GateFinalize) {
		return ", or on rejecting gate finalize"
	}
	return ""
}
