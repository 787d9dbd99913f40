package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
	"go.temporal.io/sdk/temporal"

	"github.com/zdmhq/zdm/activities"
	"github.com/zdmhq/zdm/internal/governor"
	"github.com/zdmhq/zdm/internal/pgexec"
	"github.com/zdmhq/zdm/internal/planner"
	"github.com/zdmhq/zdm/internal/spec"
)

func (e *env) planCommand() *cobra.Command {
	var file string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "plan -f FILE [--json]",
		Short: "Check a migration against the live database and print every statement it will run",
		Long: `Plan reads the table the migration names from the database in DATABASE_URL, checks
the migration against it (columns, key, expressions and types, through EXPLAIN), and
prints, phase by phase, the SQL zdm will run, the lock each statement takes, whether
it reads or rewrites the whole table, and the row estimate. It changes nothing.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if file == "" {
				return usageError("plan needs the migration file: zdm plan -f FILE")
			}
			m, err := spec.ParseFile(file)
			if err != nil {
				if isSpecError(err) {
					return err
				}
				return exitf(ExitUsage, "%v", err)
			}
			p, err := e.livePlan(cmd.Context(), m, true)
			if err != nil {
				return err
			}
			if asJSON {
				return e.printJSON(p)
			}
			RenderPlan(e.Stdout, m, p)
			e.renderUsageAvailability(cmd.Context(), e.Stdout, p)
			if line := rehearsalLine(cmd.Context(), e.pool, m); line != "" {
				fmt.Fprintf(e.Stdout, "\nrehearsal: %s\n", line)
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&file, "file", "f", "", "migration file (YAML)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the plan as JSON")
	return cmd
}

// livePlan plans m against the database in DATABASE_URL. Without DATABASE_URL it
// returns (nil, nil) unless required. A migration that does not fit the live table is a
// usage error (exit 2) printed as file:line problems.
func (e *env) livePlan(ctx context.Context, m *spec.Migration, required bool) (*planner.Plan, error) {
	dsn := e.getenv("DATABASE_URL", "")
	if dsn == "" {
		if required {
			return nil, usageError("zdm plan reads the live table: set DATABASE_URL to the database the worker migrates")
		}
		return nil, nil
	}
	pool, err := e.db(ctx, "zdm plan")
	if err != nil {
		return nil, err
	}
	p, err := activities.Plan(ctx, &activities.Activities{DB: pool}, m, false)
	var app *temporal.ApplicationError
	if errors.As(err, &app) && app.Type() == activities.ErrInvalidMigration {
		return nil, exitf(ExitUsage, "%s", app.Message())
	}
	if err != nil {
		return nil, exitf(ExitFailed, "plan %s: %v", m.Name, err)
	}
	// Which database this is (system identifier and name, no URL): zdm start hands it
	// to the worker, which refuses to migrate another.
	if p.Database, err = pgexec.DatabaseIdentity(ctx, pool); err != nil {
		return nil, exitf(ExitFailed, "plan %s: %v", m.Name, err)
	}
	return p, nil
}

// RenderPlan prints a plan phase by phase.
func RenderPlan(w io.Writer, m *spec.Migration, p *planner.Plan) {
	switch tables := p.Tables; {
	case len(tables) > 1:
		fmt.Fprintf(w, "migration %s on %s (claims %s)\n", p.Migration, orNone(p.TableName()), strings.Join(tables, ", "))
	case p.TableName() == "":
		fmt.Fprintf(w, "migration %s on no table\n", p.Migration)
	default:
		fmt.Fprintf(w, "migration %s on %s\n", p.Migration, p.TableName())
	}
	if len(p.Key) > 0 {
		fmt.Fprintf(w, "key       %s (%s); about %s rows (planner estimate)\n", strings.Join(p.KeyNames(), ", "), p.KeySource, Thousands(p.EstimatedRows))
	}
	for _, ch := range p.Changes {
		on := ""
		if ch.Table != "" && ch.Table != p.TableName() {
			on = " (on " + ch.Table + ")"
		}
		raw := ""
		if ch.Raw {
			raw = "RAW SQL, run as written: "
		}
		fmt.Fprintf(w, "operation %s%s: %s%s\n", ch.Field, on, raw, ch.Summary)
		for _, c := range ch.Carried {
			fmt.Fprintf(w, "          carried: %s\n", c)
		}
		for _, n := range ch.Notes {
			fmt.Fprintf(w, "          note: %s\n", n)
		}
	}
	if p.QuietTriggers {
		fmt.Fprintf(w, "triggers  the table's own triggers do not fire for backfilled rows (session_replication_role = replica)\n")
	}
	gates := "none (runs unattended)"
	if len(m.Gates) > 0 {
		gates = strings.Join(m.Gates, ", ")
	}
	fmt.Fprintf(w, "gates     %s\n", gates)
	if f := m.Flags; f != nil {
		fmt.Fprintf(w, "flags     dual_write=%s read_new=%s (applications refresh every %s)\n", orNone(f.DualWrite), orNone(f.ReadNew), f.AppRefresh.D())
	}

	section(w, 1, "expand", fmt.Sprintf("each statement in its own transaction under lock_timeout %s, lock timeouts retried with backoff", p.LockTimeout))
	statements(w, p.Expand)
	if m.Flags != nil && m.Flags.DualWrite != "" {
		fmt.Fprintf(w, "   then: flag %s on (and %s off)\n", m.Flags.DualWrite, orNone(m.Flags.ReadNew))
	}

	if p.NoBackfill {
		section(w, 2, "backfill", "none: no operation fills a column")
		section(w, 3, "validate", "after expand")
		statements(w, p.Validate)
		renderTail(w, m, p, 4)
		return
	}
	batches := int64(0)
	if b := int64(m.Backfill.BatchSize); b > 0 {
		batches = (p.EstimatedRows + b - 1) / b
	}
	section(w, 2, "backfill", fmt.Sprintf("batches of %d rows by %s, one transaction each (about %s batches); row locks of one batch only; the sync trigger is bypassed; the cursor commits with each batch",
		m.Backfill.BatchSize, strings.Join(p.KeyNames(), ", "), Thousands(batches)))
	fmt.Fprintf(w, "   UPDATE %s SET %s\n     WHERE <key> > <cursor> AND <key> <= <batch end>\n", planner.TableIdent(p), p.BackfillSet)
	if m.Backfill.MaxRowsPerSecond > 0 || m.Backfill.Pause > 0 {
		fmt.Fprintf(w, "   throttled: at most %d rows/s, pause %s between batches\n", m.Backfill.MaxRowsPerSecond, m.Backfill.Pause.D())
	}
	if d := m.Backfill.TargetBatchTime; d > 0 {
		fmt.Fprintf(w, "   the batch size adapts so that a batch takes about %s\n", d.D())
	}
	if l := m.Backfill.MaxAppP99.D(); l > 0 {
		fmt.Fprintf(w, "   governed: batches of at most %s, shorter and paused while the application waits longer than max_app_p99 %s (lock waits on the batch from pg_locks; a p99 estimate from pg_stat_statements when installed)\n",
			governor.Defaults(l, m.Backfill.TargetBatchTime.D(), 0).MaxBatchTime, l)
	}
	if l := m.Backfill.MaxReplicationLag; l > 0 {
		fmt.Fprintf(w, "   holds while a replica lags more than %s\n", l.D())
	}
	if q := m.Backfill.ThrottleQuery; q != "" {
		fmt.Fprintf(w, "   holds while this returns true: %s\n", q)
	}

	section(w, 3, "verify", "reads every row in pages; any mismatch fails the migration, which then rolls back")
	fmt.Fprintf(w, "   SELECT count(*) FROM %s WHERE <page> AND (%s)\n", planner.TableIdent(p), p.Mismatch)
	statements(w, p.Validate)
	renderTail(w, m, p, 4)
}

// renderTail prints the read switch, the contract and the rollback.
func renderTail(w io.Writer, m *spec.Migration, p *planner.Plan, step int) {
	if m.Flags != nil && m.Flags.ReadNew != "" {
		gate := ""
		if m.HasGate(spec.GateReadNew) {
			gate = "after gate read_new is approved: "
		}
		section(w, step, "switch reads", gate+"flag "+m.Flags.ReadNew+" on")
		renderGuardPlan(w, m)
		step++
	}
	gate := "after gate contract is approved; "
	if !m.HasGate(spec.GateContract) {
		gate = ""
	}
	moves := "no flags"
	if m.Flags != nil {
		if p.FlagsFinalReadNew() {
			moves = "flag " + orNone(m.Flags.DualWrite) + " off (applications use the new columns only)"
		} else {
			moves = "both flags off (the new type lands under the original name)"
		}
	}
	section(w, step, "contract", gate+moves+"; then one transaction under lock_timeout "+p.LockTimeout.String())
	if p.Undo != nil {
		renderUndo(w, m, p)
	} else {
		statements(w, p.Contract)
		fmt.Fprintf(w, "   (rehearsed in a transaction that is rolled back before the contract gate opens)\n")
	}
	renderRetired(w, m, p)
	how := "each statement in its own transaction"
	if p.RollbackTx {
		how = "one transaction, so that no application write meets a half-undone table"
	}
	fmt.Fprintf(w, "\nrollback (on reject or failure before contract): flags off, then %s\n", how)
	statements(w, p.Rollback)
}

func section(w io.Writer, n int, name, what string) {
	fmt.Fprintf(w, "\n%d. %s: %s\n", n, name, what)
}

func statements(w io.Writer, stmts []planner.Statement) {
	for _, s := range stmts {
		cost := "no table scan"
		switch {
		case s.Rewrites:
			cost = "rewrites the table"
		case s.Scans:
			cost = "reads every row"
		}
		if s.Concurrent {
			cost += "; runs on its own, outside any transaction"
		}
		fmt.Fprintf(w, "   -- %s: lock %s; %s", s.ID, s.Lock, cost)
		if s.Note != "" {
			fmt.Fprintf(w, "; %s", s.Note)
		}
		fmt.Fprintf(w, "\n   %s;\n", strings.ReplaceAll(s.SQL, "\n", "\n   "))
	}
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}
