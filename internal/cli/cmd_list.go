package cli

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	enumspb "go.temporal.io/api/enums/v1"
	workflowpb "go.temporal.io/api/workflow/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/zdmhq/zdm/internal/spec"
	"github.com/zdmhq/zdm/workflows"
)

// recentClosed is how far back list shows migrations that have ended.
const recentClosed = 24 * time.Hour

// maxListed bounds what list reads, so a namespace with years of history stays quick.
const maxListed = 500

func (e *env) listCommand() *cobra.Command {
	var phase string
	var all bool
	cmd := &cobra.Command{
		Use:   "list [--phase PHASE] [--all]",
		Short: "List migrations: running ones and those ended in the last 24 hours",
		Long: `List shows the migration workflows Temporal knows: running ones, and those that
ended in the last 24 hours (--all: every one kept). --phase keeps only those whose
MigrationPhase search attribute is PHASE, e.g. awaiting_approval or backfilling.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if phase != "" && !knownPhase(phase) {
				return usageError("unknown phase %q: phases are %s", phase, strings.Join(phaseNames(), ", "))
			}
			c, err := e.client(cmd.Context())
			if err != nil {
				return err
			}
			rows, err := e.list(cmd.Context(), c, listQuery(phase, all, e.Now()))
			if err != nil {
				return err
			}
			if len(rows) == 0 {
				fmt.Fprintln(e.Stdout, "no migrations")
				return nil
			}
			fmt.Fprint(e.Stdout, RenderList(rows))
			return nil
		},
	}
	cmd.Flags().StringVar(&phase, "phase", "", "only migrations in this phase")
	cmd.Flags().BoolVar(&all, "all", false, "include migrations that ended more than 24 hours ago")
	return cmd
}

var allPhases = []workflows.Phase{
	workflows.PhaseValidating, workflows.PhaseExpanding, workflows.PhaseBackfilling,
	workflows.PhaseVerifying, workflows.PhaseAwaiting, workflows.PhaseSwitching,
	workflows.PhaseContracting, workflows.PhaseCompleted, workflows.PhaseRollingBack,
	workflows.PhaseRolledBack, workflows.PhaseFailed,
	workflows.PhaseUndoWindow, workflows.PhaseReverting, workflows.PhaseReverted, workflows.PhaseFinalizing,
}

func knownPhase(p string) bool {
	for _, x := range allPhases {
		if string(x) == p {
			return true
		}
	}
	return false
}

func phaseNames() []string {
	out := make([]string, len(allPhases))
	for i, p := range allPhases {
		out[i] = string(p)
	}
	return out
}

// listQuery is the visibility query of list. phase is one of allPhases, so it needs no
// quoting.
func listQuery(phase string, all bool, now time.Time) string {
	q := "WorkflowType = 'MigrationWorkflow'"
	switch {
	case phase != "":
		q += fmt.Sprintf(" AND MigrationPhase = '%s'", phase)
	case !all:
		q += fmt.Sprintf(" AND (ExecutionStatus = 'Running' OR CloseTime > '%s')", now.Add(-recentClosed).UTC().Format(time.RFC3339))
	}
	return q
}

// ListRow is one migration in list.
type ListRow struct {
	Name    string
	Table   string
	Phase   string
	Status  string
	Started time.Time
	Percent *float64 // running migrations whose worker answered
}

func (e *env) list(ctx context.Context, c client.Client, query string) ([]ListRow, error) {
	var rows []ListRow
	var token []byte
	for len(rows) < maxListed {
		lctx, cancel := context.WithTimeout(ctx, dialTimeout)
		resp, err := c.ListWorkflow(lctx, &workflowservice.ListWorkflowExecutionsRequest{
			Namespace: e.namespace, Query: query, PageSize: 100, NextPageToken: token,
		})
		cancel()
		if err != nil {
			return nil, e.listError(query, err)
		}
		for _, info := range resp.GetExecutions() {
			// A run that continued as new lives on in the next one, listed on its own.
			if info.GetStatus() == enumspb.WORKFLOW_EXECUTION_STATUS_CONTINUED_AS_NEW {
				continue
			}
			rows = append(rows, listRow(info))
		}
		if token = resp.GetNextPageToken(); len(token) == 0 {
			break
		}
	}
	// The dev server's visibility store cannot ORDER BY: newest first, here.
	sort.SliceStable(rows, func(i, j int) bool { return rows[i].Started.After(rows[j].Started) })
	for i := range rows {
		if rows[i].Status != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING.String() {
			continue
		}
		if p, err := queryProgress(ctx, c, spec.WorkflowID(rows[i].Name), time.Second); err == nil {
			rows[i].Percent = &p.Percent
			rows[i].Phase = string(p.Phase)
		}
	}
	return rows, nil
}

func (e *env) listError(query string, err error) error {
	if isServiceError(err) && !unreachable(err) && strings.Contains(err.Error(), "MigrationPhase") {
		return exitf(ExitFailed, "Temporal at %s cannot filter on MigrationPhase: %v (register it: temporal operator search-attribute create --namespace %s --name MigrationPhase --type Keyword)", e.address, err, e.namespace)
	}
	return e.temporalError("", err)
}

func listRow(info *workflowpb.WorkflowExecutionInfo) ListRow {
	r := ListRow{
		Name:   strings.TrimPrefix(info.GetExecution().GetWorkflowId(), "zdm-"),
		Table:  keyword(info.GetSearchAttributes(), workflows.MigrationTable),
		Phase:  keyword(info.GetSearchAttributes(), workflows.MigrationPhase),
		Status: info.GetStatus().String(),
	}
	if t := info.GetStartTime(); t != nil {
		r.Started = t.AsTime().Local()
	}
	return r
}

// RenderList is list's table.
func RenderList(rows []ListRow) string {
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tTABLE\tPHASE\tSTATUS\tSTARTED\tPROGRESS")
	for _, r := range rows {
		pct := "-"
		if r.Percent != nil {
			pct = fmt.Sprintf("%.1f%%", *r.Percent)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.Name, orDash(r.Table), orDash(r.Phase), r.Status, r.Started.Format("2006-01-02 15:04:05"), pct)
	}
	tw.Flush()
	return b.String()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
