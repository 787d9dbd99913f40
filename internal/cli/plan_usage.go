package cli

import (
	"context"
	"fmt"
	"io"

	"github.com/zdmhq/zdm/internal/planner"
	"github.com/zdmhq/zdm/internal/spec"
	"github.com/zdmhq/zdm/internal/usage"
)

// renderRetired says which application statements stop working once contract has run,
// read from the contract's own statements.
func renderRetired(w io.Writer, m *spec.Migration, p *planner.Plan) {
	retired, err := usage.Retired(p)
	if err != nil {
		fmt.Fprintf(w, "   (what contract retires could not be read: %v)\n", err)
		return
	}
	changed := usage.TypeChanges(p)
	if len(retired) == 0 && len(changed) == 0 {
		fmt.Fprintf(w, "   after contract: every statement that works now keeps working\n")
		return
	}
	for _, r := range retired {
		fmt.Fprintf(w, "   %s\n", usage.Describe(r))
	}
	for _, c := range changed {
		fmt.Fprintf(w, "   after contract: %s.%s.%s is %s (was %s): statements using it keep working where their values fit the new type\n",
			c.Schema, c.Table, c.Column, c.NewType, c.OldType)
	}
	if len(retired) == 0 {
		return
	}
	if m.ContractRequiresNoOldUsage {
		fmt.Fprintf(w, "   contract_requires_no_old_usage: the contract gate, and contract itself, hold while statements naming these still run\n")
	} else {
		fmt.Fprintf(w, "   zdm shows statements still naming these at the contract gate (contract_requires_no_old_usage: true holds it while any run)\n")
	}
}

// renderUsageAvailability says whether zdm will be able to see old code in this
// database.
func (e *env) renderUsageAvailability(ctx context.Context, w io.Writer, p *planner.Plan) {
	retired, err := usage.Retired(p)
	if err != nil || len(retired) == 0 {
		return
	}
	pool, err := e.db(ctx, "zdm plan")
	if err != nil {
		return
	}
	reason, _, err := usage.Available(ctx, pool)
	switch {
	case err != nil:
		fmt.Fprintf(w, "\nold code: cannot tell whether pg_stat_statements is available: %v\n", err)
	case reason != "":
		fmt.Fprintf(w, "\nold code: %s\n", reason)
	default:
		fmt.Fprintf(w, "\nold code: pg_stat_statements is available: zdm counts statements naming these from the soak on\n")
	}
}
