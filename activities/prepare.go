package activities

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"go.temporal.io/sdk/temporal"

	"github.com/zdmhq/zdm/internal/ops"
	"github.com/zdmhq/zdm/internal/pgexec"
	"github.com/zdmhq/zdm/internal/planner"
	"github.com/zdmhq/zdm/internal/schema"
	"github.com/zdmhq/zdm/internal/spec"
)

// Prepare checks the migration against the live table, plans it, and claims the table.
// Every problem with the file comes back at once, naming file, line, field and fix; the
// database is not changed unless the migration is valid.
func (a *Activities) Prepare(ctx context.Context, in PrepareInput) (*PrepareResult, error) {
	m := &in.Migration
	if err := m.Check(); err != nil {
		return nil, invalid(err)
	}
	if m.Flags != nil && a.Flags == nil {
		return nil, temporal.NewNonRetryableApplicationError(
			m.Errorf("flags", "set UNLEASH_URL and UNLEASH_ADMIN_TOKEN in the worker's environment, or remove flags", "the worker has no Unleash configuration").Error(),
			ErrFlagsUnavailable, nil)
	}
	if err := checkGuard(ctx, m); err != nil {
		return nil, err
	}
	// The worker migrates the database of its own DATABASE_URL: it must be the one the
	// file was checked against, and the plan records it for every later activity.
	db, err := a.database(ctx)
	if err != nil {
		return nil, err
	}
	if err := checkedElsewhere(in.CheckedAgainst, db); err != nil {
		return nil, invalid(err)
	}
	resuming := false
	if !in.DryRun {
		if st, err := pgexec.ReadProgress(ctx, a.DB, m.Name); err == nil && st.RunID == in.RunID && st.Status == pgexec.StatusRunning {
			resuming = true
		}
	}
	plan, err := Plan(ctx, a, m, resuming)
	if err != nil {
		return nil, err
	}
	plan.Database = db
	if in.DryRun {
		return &PrepareResult{Plan: *plan}, nil
	}
	// require_rehearsal: a start that skipped zdm start's check is refused here too.
	if m.RequireRehearsal && !resuming {
		err := pgexec.CheckRehearsed(ctx, a.DB, m.Source.Checksum, m.RehearsalAge())
		var nr *pgexec.NotRehearsedError
		if errors.As(err, &nr) {
			return nil, invalid(pgexec.RehearsalRequired(m, nr))
		}
		if err != nil {
			return nil, err
		}
	}
	if err := pgexec.EnsureState(ctx, a.DB); err != nil {
		return nil, err
	}
	resuming, err = pgexec.Claim(ctx, a.DB, m.Name, plan.Claims(), in.RunID)
	var busy *pgexec.BusyError
	if errors.As(err, &busy) {
		return nil, temporal.NewNonRetryableApplicationError(m.Errorf("table", "wait for the other migration to finish, or reject it", "%s", busy).Error(), ErrTableBusy, nil)
	}
	if err != nil {
		return nil, fmt.Errorf("claim %v: %w", plan.Claims(), err)
	}
	if err := pgexec.RecordRun(ctx, a.DB, pgexec.RunRecord{Name: m.Name, RunID: in.RunID,
		File: m.Source.HistoryFile(), Checksum: m.Source.Checksum, StartedBy: in.StartedBy}); err != nil {
		return nil, err
	}
	return &PrepareResult{Plan: *plan, Resuming: resuming}, nil
}

// tablesNamed lists the tables the migration names: its own, its operations', and the
// ones they reference.
func tablesNamed(m *spec.Migration) []string {
	names := m.Tables()
	if m.Table != "" {
		names = append([]string{m.Table}, names...)
	}
	for _, op := range m.Operations {
		if r, ok := op.Op.(ops.Referencer); ok {
			names = append(names, r.References()...)
		}
	}
	seen := map[string]bool{}
	out := names[:0]
	for _, n := range names {
		if !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	return out
}

// Plan inspects the table and plans m, checking its expressions with EXPLAIN. It changes
// nothing. Invalid migrations come back as non-retryable InvalidMigration errors.
func Plan(ctx context.Context, a *Activities, m *spec.Migration, resuming bool) (*planner.Plan, error) {
	opts := planner.Options{Resuming: resuming, CanQuietTriggers: canQuietTriggers(ctx, a.DB),
		Others: map[string]*schema.Table{}, Missing: map[string]*schema.NoTableError{}, RowSecurity: map[string]bool{},
		CatalogFor: func(t *schema.Table) ops.Catalog { return newCatalog(ctx, a.DB, t) }}
	var own *schema.Table
	for _, name := range tablesNamed(m) {
		sch, n := spec.SplitTable(name)
		t, err := schema.Inspect(ctx, a.DB, sch, n)
		var nt *schema.NoTableError
		switch {
		case errors.As(err, &nt):
			opts.Missing[name] = nt
			continue
		case err != nil:
			return nil, err
		case name == m.Table:
			own = t
		default:
			opts.Others[name] = t
		}
		opts.RowSecurity[name] = rowSecurityActive(ctx, a.DB, t)
	}
	plan, err := planner.Build(m, own, opts)
	if err != nil {
		return nil, invalid(err)
	}
	failures, err := pgexec.Check(ctx, a.DB, plan)
	if err != nil {
		return nil, err
	}
	if q := m.Backfill.ThrottleQuery; q != "" {
		if err := pgexec.CheckThrottleQuery(ctx, a.DB, q); err != nil {
			failures["backfill.throttle_query"] = err
		}
	}
	if len(failures) > 0 {
		var errs spec.Errors
		for field, ferr := range failures {
			fix := "write an SQL expression over the table's columns that yields the column's type"
			if field == "backfill.throttle_query" {
				fix = "write one read-only SELECT returning one boolean, true meaning wait"
			}
			msg := ferr.Error()
			// The check that failed says what to do, not another of the same field.
			var ce *pgexec.CheckError
			if errors.As(ferr, &ce) {
				if ce.Check.Fix != "" {
					fix = ce.Check.Fix
				}
				if ce.Check.Says != "" {
					msg = ce.Check.Says + ": " + msg
				}
			}
			errs = append(errs, m.Errorf(field, fix, "%s", msg))
		}
		sort.Slice(errs, func(i, j int) bool { return errs[i].Field < errs[j].Field })
		return nil, invalid(errs.Err())
	}
	if err := oldUsageVisible(ctx, a, m, plan); err != nil {
		return nil, err
	}
	return plan, nil
}
