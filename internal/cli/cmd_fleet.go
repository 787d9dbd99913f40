package cli

import (
	"context"
	"fmt"
	"strings"
	"text/tabwriter"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/zdmhq/zdm/internal/fleet"
	"github.com/zdmhq/zdm/internal/spec"
	"github.com/zdmhq/zdm/workflows"
)

// fleetWorkflowType is how Temporal names the fleet's parent workflow.
const fleetWorkflowType = "FleetWorkflow"

// startFleet starts m across the databases of a targets file. Only the names of the
// variables holding their URLs travel; each worker reads them from its own environment.
func (e *env) startFleet(ctx context.Context, m *spec.Migration, targetsFile string) error {
	ts, err := fleet.ParseFile(targetsFile)
	if err != nil {
		if isSpecError(err) {
			return err
		}
		return exitf(ExitUsage, "%v", err)
	}
	if m.Flags != nil {
		return exitf(ExitUsage, "%s: flags: a migration across a fleet cannot name flags: every database would switch the same Unleash flags at its own time (fix: remove flags, or start the migration on each database by itself)", m.Source.File)
	}
	c, err := e.client(ctx)
	if err != nil {
		return err
	}
	opts := startOptions(m)
	opts.TypedSearchAttributes = temporal.NewSearchAttributes(workflows.MigrationTable.ValueSet(qualifiedTable(m)))
	sctx, cancel := context.WithTimeout(ctx, dialTimeout)
	defer cancel()
	run, err := c.ExecuteWorkflow(sctx, opts, workflows.FleetWorkflow, workflows.FleetInput{Migration: *m, Targets: *ts, StartedBy: e.user()})
	if err != nil {
		return e.startError(m, err)
	}
	fmt.Fprintf(e.Stdout, "started migration %s on %s across %d databases\n", m.Name, startedOn(m), len(ts.Targets))
	fmt.Fprintf(e.Stdout, "  workflow  %s\n", run.GetID())
	fmt.Fprintf(e.Stdout, "  web UI    %s\n", e.uiURL(run.GetID()))
	for i, w := range ts.Waves {
		gate := ""
		if i > 0 && ts.GateBetweenWaves {
			gate = fmt.Sprintf("  (after: zdm approve %s --gate %s)", m.Name, fleet.WaveGate(w.Name))
		}
		fmt.Fprintf(e.Stdout, "  wave %-8s %s%s\n", w.Name, strings.Join(w.Targets, ", "), gate)
	}
	fmt.Fprintf(e.Stdout, "at most %d at once per wave; on a failure: %s\n", ts.Concurrency, ts.OnFailure)
	fmt.Fprintf(e.Stdout, "follow it:  zdm status %s\n", m.Name)
	return nil
}

// FleetView is zdm status of a fleet: the parent's record, and each running database's
// own progress.
type FleetView struct {
	Name       string                   `json:"name"`
	WorkflowID string                   `json:"workflow_id"`
	Status     string                   `json:"status"`
	Fleet      *workflows.FleetProgress `json:"fleet,omitempty"`
	// Progress is the live progress of each database whose migration runs, by target.
	Progress   map[string]*workflows.Progress `json:"progress,omitempty"`
	QueryError string                         `json:"query_error,omitempty"`
}

// fleetStatus answers zdm status NAME when NAME is a fleet; ok is false when it is not.
func (e *env) fleetStatus(ctx context.Context, c client.Client, name string) (v FleetView, ok bool, err error) {
	resp, err := e.describe(ctx, c, name)
	if err != nil {
		return v, false, err
	}
	if resp.GetWorkflowExecutionInfo().GetType().GetName() != fleetWorkflowType {
		return v, false, nil
	}
	v = FleetView{Name: name, WorkflowID: spec.WorkflowID(name), Status: viewOf(name, "", resp).Status}
	qctx, cancel := context.WithTimeout(ctx, queryTimeout)
	defer cancel()
	val, err := c.QueryWorkflow(qctx, v.WorkflowID, "", workflows.QueryFleet)
	var fp workflows.FleetProgress
	if err == nil {
		err = val.Get(&fp)
	}
	if err != nil {
		v.QueryError = err.Error()
		return v, true, nil
	}
	v.Fleet = &fp
	v.Progress = map[string]*workflows.Progress{}
	for _, t := range fp.Targets {
		if t.Status != workflows.TargetRunning {
			continue
		}
		if p, err := queryProgress(ctx, c, t.WorkflowID, queryTimeout); err == nil {
			v.Progress[t.Name] = p
		}
	}
	return v, true, nil
}

// RenderFleet is the text of zdm status for a fleet: one line per database.
func RenderFleet(v FleetView) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%-13s %s (fleet)\n", "migration", v.Name)
	fmt.Fprintf(&b, "%-13s %s\n", "workflow", v.WorkflowID)
	fmt.Fprintf(&b, "%-13s %s\n", "status", v.Status)
	f := v.Fleet
	if f == nil {
		fmt.Fprintf(&b, "%-13s no worker answered (%s): is zdm-worker running?\n", "databases", v.QueryError)
		return b.String()
	}
	fmt.Fprintf(&b, "%-13s %s\n", "phase", f.Phase)
	if f.Wave != "" {
		fmt.Fprintf(&b, "%-13s %s\n", "wave", f.Wave)
	}
	fmt.Fprintf(&b, "%-13s at most %d at once per wave; on a failure: %s\n", "policy", f.Concurrency, f.OnFailure)
	if f.AwaitingGate != "" {
		fmt.Fprintf(&b, "%-13s %s: zdm approve %s --gate %s (or zdm reject)\n", "waiting", f.AwaitingGate, v.Name, f.AwaitingGate)
	}
	if f.LastError != "" {
		fmt.Fprintf(&b, "%-13s %s\n", "failure", f.LastError)
	}
	if f.LastRefusal != "" {
		fmt.Fprintf(&b, "%-13s %s\n", "refused", f.LastRefusal)
	}
	b.WriteString("\n")
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	// PROGRESS comes last: an error there does not push the other columns apart.
	fmt.Fprintln(tw, "DATABASE\tWAVE\tSTATUS\tPHASE\tMIGRATION\tPROGRESS")
	for _, t := range f.Targets {
		phase, prog := string(t.Phase), ""
		if p := v.Progress[t.Name]; p != nil {
			phase, prog = string(p.Phase), ProgressText(*p, 10)
			if p.AwaitingGate != "" {
				phase += " (gate " + p.AwaitingGate + ")"
			}
		}
		if t.Error != "" {
			prog = t.Error
		}
		name := strings.TrimPrefix(t.WorkflowID, "zdm-")
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", t.Name, t.Wave, t.Status, orDash(phase), name, orDash(prog))
	}
	_ = tw.Flush()
	for _, a := range f.Approvals {
		verb := "approved"
		if !a.Approved {
			verb = "rejected"
		}
		fmt.Fprintf(&b, "%s %s by %s at %s\n", a.Gate, verb, a.By, a.At.Format(timeLayout))
	}
	return b.String()
}
