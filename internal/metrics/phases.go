package metrics

import (
	"context"
	"log/slog"
	"strings"
	"time"

	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/converter"

	"github.com/zdmhq/zdm/internal/spec"
	"github.com/zdmhq/zdm/workflows"
)

// migrationWorkflowType is the name the worker registers workflows.MigrationWorkflow under.
const migrationWorkflowType = "MigrationWorkflow"

// listPageSize bounds how many migrations, newest first, the phase gauge covers.
const listPageSize = 200

// Lister is the part of the Temporal client that WatchPhases uses.
type Lister interface {
	ListWorkflow(ctx context.Context, req *workflowservice.ListWorkflowExecutionsRequest) (*workflowservice.ListWorkflowExecutionsResponse, error)
}

// WatchPhases keeps the phase gauge equal to the MigrationPhase search attribute of the
// newest migrations in the namespace, read from Temporal's visibility store now and then
// every interval, until ctx ends.
//
// The search attribute is what the Temporal UI and `zdm list` show, and the workflow
// sets it at every phase change. Reading it here, rather than having the workflow report
// to the worker that runs it, gives every worker the same answer, survives worker
// restarts, and adds nothing to workflow histories. The gauge lags by at most interval.
func (r *Registry) WatchPhases(ctx context.Context, c Lister, namespace string, interval time.Duration, logger *slog.Logger) {
	failing := false
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		err := r.RefreshPhases(ctx, c, namespace)
		switch {
		case err != nil && ctx.Err() != nil:
			return
		case err != nil && !failing:
			logger.Warn("cannot read migration phases from Temporal; the phase gauge keeps its last values", "error", err)
			failing = true
		case err == nil && failing:
			logger.Info("reading migration phases from Temporal again")
			failing = false
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// RefreshPhases reads the phases once; see WatchPhases.
func (r *Registry) RefreshPhases(ctx context.Context, c Lister, namespace string) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	resp, err := c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
		Namespace: namespace,
		PageSize:  listPageSize,
		Query:     "WorkflowType = '" + migrationWorkflowType + "'",
	})
	if err != nil {
		return err
	}
	attr := workflows.MigrationPhase.GetName()
	prefix := spec.WorkflowID("")
	seen := map[string]bool{}
	// Newest first: of the runs of one workflow ID (continue-as-new, a migration started
	// again under the same name) the first one listed is the current one.
	for _, ex := range resp.GetExecutions() {
		id := ex.GetExecution().GetWorkflowId()
		if seen[id] {
			continue
		}
		seen[id] = true
		payload, ok := ex.GetSearchAttributes().GetIndexedFields()[attr]
		if !ok {
			continue // started, but no phase recorded yet
		}
		var phase string
		if err := converter.GetDefaultDataConverter().FromPayload(payload, &phase); err != nil || phase == "" {
			continue
		}
		r.Phase(strings.TrimPrefix(id, prefix), phase)
	}
	return nil
}
