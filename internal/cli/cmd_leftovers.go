package cli

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/spf13/cobra"
	"go.temporal.io/sdk/client"

	"github.com/zdmhq/zdm/internal/pgexec"
	"github.com/zdmhq/zdm/internal/planner"
	"github.com/zdmhq/zdm/internal/spec"
	"github.com/zdmhq/zdm/workflows"
)

func (e *env) leftoversCommand() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "leftovers [--json]",
		Short: "List migrations whose workflow ended without cleaning up, and what they left in the database",
		Long: `Leftovers lists the migrations that zdm.migrations (in the database of DATABASE_URL)
says are running but whose workflow is not: terminated or timed out in the Temporal
UI, failed without rolling back, or unknown to Temporal. Each still holds its table
(no other migration of it can start) and may have left its sync trigger and function,
new columns, NOT VALID checks and index copies. For each, zdm reads the plan the
workflow recorded (the result of its Prepare activity) and checks which of the plan's
objects are still there. zdm cleanup NAME removes them.

It also lists, from the catalog alone, zdm's objects that no running migration
explains: sync triggers (zz_zdm_sync_*) and functions (zdm.sync_*) of no running
migration, and _zdm_ columns, checks and indexes on tables none holds.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			pool, err := e.database(cmd.Context(), "leftovers")
			if err != nil {
				return err
			}
			defer pool.Close()
			c, err := e.client(cmd.Context())
			if err != nil {
				return err
			}
			v, err := e.leftovers(cmd.Context(), c, pool)
			if err != nil {
				return err
			}
			if asJSON {
				return e.printJSON(v)
			}
			RenderLeftovers(e.Stdout, v)
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the leftovers as JSON")
	return cmd
}

// LeftoversView is what zdm leftovers found.
type LeftoversView struct {
	Migrations []Leftover `json:"migrations"`
	// Unexplained are zdm's objects that no running migration explains.
	Unexplained []Object `json:"unexplained"`
}

// Leftover is a migration that zdm.migrations says is running and whose workflow is not.
type Leftover struct {
	Name  string `json:"name"`
	Table string `json:"table"`
	// RunID is the workflow's first run ID, which holds the claim.
	RunID string `json:"run_id"`
	// ClaimedSince is when the run claimed the table.
	ClaimedSince time.Time `json:"claimed_since"`
	// Workflow is how the workflow's run ended: Terminated, TimedOut, Failed, Canceled,
	// Completed, or "unknown to Temporal".
	Workflow string `json:"workflow"`
	// Planned says that the workflow recorded its plan (else it changed nothing but its
	// claim, or Temporal no longer knows it).
	Planned       bool `json:"planned"`
	ContractBegan bool `json:"contract_began,omitempty"`
	TableGone     bool `json:"table_gone,omitempty"`
	// Left is what of the plan is still in the database; Gone what is not (never made,
	// or removed). Without a plan, Left holds what is named after the migration.
	Left []Object `json:"left"`
	Gone []Object `json:"gone,omitempty"`
	// Cleanup says what zdm cleanup NAME does with it.
	Cleanup string `json:"cleanup"`

	action cleanupAction
	claim  claim
	plan   *planner.Plan
	input  *workflows.MigrationInput
}

// cleanupAction is what zdm cleanup does with a leftover.
type cleanupAction int

const (
	// cleanupRollback runs the plan's rollback and marks the claim rolled_back.
	cleanupRollback cleanupAction = iota
	// cleanupRelease marks the claim rolled_back: the run never planned, so it changed
	// nothing else.
	cleanupRelease
	// cleanupComplete marks the claim completed: the contract committed before the
	// workflow stopped, and the table has its final shape.
	cleanupComplete
	// cleanupRefuse does nothing: zdm cannot know what to undo.
	cleanupRefuse
)

// leftovers finds every leftover migration and every stray object.
func (e *env) leftovers(ctx context.Context, c client.Client, pool *pgxpool.Pool) (LeftoversView, error) {
	ctx, cancel := context.WithTimeout(ctx, historyTimeout)
	defer cancel()
	v := LeftoversView{Migrations: []Leftover{}, Unexplained: []Object{}}
	claims, err := readClaims(ctx, pool, "")
	if err != nil {
		return v, exitf(ExitFailed, "%v", err)
	}
	for _, cl := range claims {
		l, err := e.leftoverOf(ctx, c, pool, cl)
		if err != nil {
			return v, err
		}
		if l != nil {
			v.Migrations = append(v.Migrations, *l)
		}
	}
	s, err := strays(ctx, pool, claims)
	if err != nil {
		return v, exitf(ExitFailed, "%v", err)
	}
	if s != nil {
		v.Unexplained = s
	}
	return v, nil
}

// leftoverOf says what the running claim cl left, or nil when its workflow (or a new
// run of the same name, which takes the claim over) is still running.
func (e *env) leftoverOf(ctx context.Context, c client.Client, pool *pgxpool.Pool, cl claim) (*Leftover, error) {
	resp, err := c.DescribeWorkflowExecution(ctx, spec.WorkflowID(cl.Name), "")
	switch {
	case err == nil && running(resp):
		return nil, nil
	case err != nil && !isNotFound(err):
		return nil, e.temporalError(cl.Name, err)
	}
	rec, err := e.readRecord(ctx, c, cl.Name, cl.RunID)
	if err != nil {
		return nil, err
	}
	if rec.Running() {
		return nil, nil
	}
	l := &Leftover{Name: cl.Name, Table: cl.Table, RunID: cl.RunID, ClaimedSince: cl.StartedAt,
		Workflow: rec.StatusName(), Planned: rec.Plan != nil, ContractBegan: rec.ContractBegan,
		Left: []Object{}, claim: cl, plan: rec.Plan, input: rec.Input}
	var in inspection
	switch {
	case rec.Plan != nil:
		if in, err = inspect(ctx, pool, rec.Plan); err != nil {
			return nil, exitf(ExitFailed, "%v", err)
		}
		l.TableGone = !in.TableExists
		l.Left = append(l.Left, in.Left...)
		l.Gone = in.Gone
	case !rec.Known:
		named, err := namedObjects(ctx, pool, cl.Name)
		if err != nil {
			return nil, exitf(ExitFailed, "look for what migration %s left: %v", cl.Name, err)
		}
		l.Left = append(l.Left, named...)
	}
	l.action, l.Cleanup = cleanupOf(l, rec, in)
	if rec.Plan != nil && !rec.Plan.Database.IsZero() && l.action != cleanupRefuse {
		// The claim lives in the migrated database, so this is a copy of it at most
		// (a clone of the cluster); even so, act only where the plan was made.
		id, err := pgexec.DatabaseIdentity(ctx, pool)
		if err != nil {
			return nil, exitf(ExitFailed, "%v", err)
		}
		if msg := otherDatabase(l.Name, rec.Plan.Database, id); msg != "" {
			l.action, l.Cleanup = cleanupRefuse, msg
		}
	}
	return l, nil
}

// otherDatabase says why cleanup refuses to act on database id when the plan was made
// against planned, or "" when they are the same.
func otherDatabase(name string, planned, id planner.Identity) string {
	if planned.Same(id) {
		return ""
	}
	return fmt.Sprintf("migration %s was planned against %s, but DATABASE_URL names %s: zdm cleanup does nothing here; point DATABASE_URL at the database the migration ran on", name, planned, id)
}

// cleanupOf decides what zdm cleanup does with leftover l, and says it.
func cleanupOf(l *Leftover, rec *record, in inspection) (cleanupAction, string) {
	name := l.Name
	switch {
	case !rec.Known:
		return cleanupRefuse, fmt.Sprintf("Temporal has no history of run %s of workflow %s (its retention passed, or it ran in another namespace), so zdm cannot read what it added: zdm cleanup does nothing. Remove by hand what it left (named after it: its trigger and function; look for its new columns, checks and _zdm_ indexes on %s), then free the table: UPDATE zdm.migrations SET status = 'rolled_back', finished_at = now() WHERE name = %s AND run_id = %s",
			l.RunID, spec.WorkflowID(name), l.Table, planner.Literal(name), planner.Literal(l.RunID))
	case rec.Plan == nil:
		return cleanupRelease, "it stopped before it was planned, so it changed nothing but its claim: zdm cleanup " + name + " releases the claim (marks it rolled_back)"
	case rec.ContractBegan && rec.Plan.Undo != nil:
		return cleanupRefuse, "it has an undo window, and its contract began: zdm cleanup does nothing, since only a person can choose between the window's revert and finalize statements (zdm plan prints both); run the one you choose, then mark the row in zdm.migrations by hand"
	case rec.ContractBegan:
		syncing := len(rec.Plan.Ops) > 0
		switch {
		case syncing && in.TableExists && !in.triggerLeft():
			return cleanupComplete, "its contract committed before the workflow stopped (the sync trigger is gone): the table has its final shape and nothing is rolled back; zdm cleanup " + name + " marks it completed"
		case syncing && in.triggerLeft():
			return cleanupRollback, "its contract began but did not commit (the sync trigger is still there): zdm cleanup " + name + " runs the rollback its plan recorded, after checking that the trigger is still there, and marks it rolled_back"
		}
		return cleanupRefuse, "its contract began, and zdm cannot tell whether it committed: zdm cleanup does nothing; compare " + l.Table + " with the plan (zdm plan) and mark the row in zdm.migrations by hand"
	}
	return cleanupRollback, "zdm cleanup " + name + " runs the rollback its plan recorded, in one transaction, and marks it rolled_back"
}

// RenderLeftovers prints what zdm leftovers found.
func RenderLeftovers(w io.Writer, v LeftoversView) {
	if len(v.Migrations) == 0 {
		fmt.Fprintln(w, "no leftover migrations: every migration zdm.migrations holds as running has a running workflow")
	}
	for i, l := range v.Migrations {
		if i > 0 {
			fmt.Fprintln(w)
		}
		renderLeftover(w, l)
		fmt.Fprintf(w, "  %-13s %s\n", "clean up", l.Cleanup)
	}
	fmt.Fprintln(w)
	if len(v.Unexplained) == 0 {
		fmt.Fprintln(w, "no zdm objects outside a running migration")
		return
	}
	fmt.Fprintln(w, "zdm objects no running migration explains (find out where they come from before removing them by hand):")
	for _, o := range v.Unexplained {
		where := ""
		if o.Table != "" && o.Kind != "trigger" {
			where = " on " + o.Table
		}
		fmt.Fprintf(w, "  %s%s\n", o, where)
	}
}

// renderLeftover prints one leftover migration: its workflow, its claim, what it left.
func renderLeftover(w io.Writer, l Leftover) {
	row := func(k, format string, args ...any) { fmt.Fprintf(w, "  %-13s %s\n", k, fmt.Sprintf(format, args...)) }
	fmt.Fprintf(w, "migration %s on %s\n", l.Name, l.Table)
	row("workflow", "%s %s (run %s), not running", spec.WorkflowID(l.Name), l.Workflow, l.RunID)
	row("claim", "zdm.migrations says running since %s: no other migration of %s can start", l.ClaimedSince.UTC().Format("2006-01-02 15:04:05 MST"), l.Table)
	if l.TableGone {
		row("table", "%s no longer exists", l.Table)
	}
	label := "left behind"
	if !l.Planned && l.Workflow == "unknown to Temporal" {
		label = "named after it"
	}
	if len(l.Left) == 0 {
		row(label, "nothing")
	}
	for i, o := range l.Left {
		if i > 0 {
			label = ""
		}
		row(label, "%s", o)
	}
	if len(l.Gone) > 0 {
		names := make([]string, len(l.Gone))
		for i, o := range l.Gone {
			names[i] = o.Kind + " " + o.Name
		}
		row("already gone", "%s", strings.Join(names, ", "))
	}
}

// pgexecStatus maps an action to the status cleanup records.
func (a cleanupAction) status() string {
	if a == cleanupComplete {
		return pgexec.StatusCompleted
	}
	return pgexec.StatusRolledBack
}
