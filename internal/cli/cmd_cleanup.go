package cli

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/zdmhq/zdm/internal/pgexec"
	"github.com/zdmhq/zdm/internal/planner"
	"github.com/zdmhq/zdm/internal/spec"
)

// stdin is where cleanup reads its confirmation; stdinIsTerminal says whether a person
// can answer there.
var (
	stdin           io.Reader = os.Stdin
	stdinIsTerminal           = func() bool { return term.IsTerminal(int(os.Stdin.Fd())) }
)

// defaultCleanupLockTimeout is used for plans that recorded none.
const defaultCleanupLockTimeout = 500 * time.Millisecond

func (e *env) cleanupCommand() *cobra.Command {
	var yes bool
	cmd := &cobra.Command{
		Use:   "cleanup NAME [--yes]",
		Short: "Remove what a migration whose workflow was terminated left in the database",
		Long: `Cleanup undoes the expand of a migration whose workflow ended without rolling back
(terminated or timed out in the Temporal UI, or failed while rolling back), as zdm
leftovers lists it. It reads the plan the workflow recorded, shows its rollback
statements and, once confirmed (--yes, or y at the prompt on a terminal), runs them in
one transaction under the plan's lock_timeout, retrying lock timeouts with backoff,
then marks the migration rolled_back in zdm.migrations, which frees its table for the
next migration. It touches nothing the plan does not name.

It refuses (exit 1) a migration whose workflow is still running (zdm cancel NAME rolls
it back through the workflow) and one that has already ended cleanly. Without --yes,
and with no terminal to ask on, it does nothing (exit 2).`,
		Args: oneName,
		RunE: func(cmd *cobra.Command, args []string) error {
			return e.cleanup(cmd.Context(), args[0], yes)
		},
	}
	cmd.Flags().BoolVarP(&yes, "yes", "y", false, "run the rollback without asking")
	return cmd
}

func (e *env) cleanup(ctx context.Context, name string, yes bool) error {
	pool, err := e.database(ctx, "cleanup")
	if err != nil {
		return err
	}
	defer pool.Close()
	c, err := e.client(ctx)
	if err != nil {
		return err
	}
	rctx, cancel := context.WithTimeout(ctx, historyTimeout)
	defer cancel()
	claims, err := readClaims(rctx, pool, name)
	if err != nil {
		return exitf(ExitFailed, "%v", err)
	}
	resp, derr := c.DescribeWorkflowExecution(rctx, spec.WorkflowID(name), "")
	switch {
	case derr != nil && !isNotFound(derr):
		return e.temporalError(name, derr)
	case derr == nil && running(resp):
		return stillRunning(name, viewOf(name, "", resp).Phase)
	case len(claims) == 0 && derr != nil:
		return &exitError{code: ExitNotFound, msg: fmt.Sprintf("no migration named %s (workflow %s not found, and zdm.migrations has no row of it)", name, spec.WorkflowID(name))}
	case len(claims) == 0:
		return exitf(ExitFailed, "migration %s has nothing to clean up: it never claimed a table in this database (zdm.migrations has no row of it), and nothing was done", name)
	}
	cl := claims[0]
	if cl.Status != pgexec.StatusRunning {
		how := "ended cleanly"
		if cl.Status == pgexec.StatusFailed {
			how = "ended before it changed anything"
		}
		return exitf(ExitFailed, "migration %s has already %s (zdm.migrations says %s): there is nothing to clean up, and nothing was done", name, how, cl.Status)
	}
	l, err := e.leftoverOf(rctx, c, pool, cl)
	if err != nil {
		return err
	}
	if l == nil {
		return stillRunning(name, "")
	}
	cancel()

	renderLeftover(e.Stdout, *l)
	if l.action == cleanupRefuse {
		return exitf(ExitFailed, "%s", l.Cleanup)
	}
	stmts := cleanupStatements(l)
	lockTimeout := l.lockTimeout()
	fmt.Fprintln(e.Stdout)
	switch l.action {
	case cleanupRollback:
		fmt.Fprintf(e.Stdout, "the rollback zdm recorded for it, in one transaction under lock_timeout %s (lock timeouts retried with backoff):\n", lockTimeout)
		statements(e.Stdout, stmts)
		fmt.Fprintf(e.Stdout, "then zdm.migrations marks it rolled_back, and %s is free for the next migration\n", l.Table)
		if f := l.flagsWarning(); f != "" {
			fmt.Fprintf(e.Stdout, "\nwarning: %s\n", f)
		}
	case cleanupRelease:
		fmt.Fprintf(e.Stdout, "%s\nno statement runs; zdm.migrations marks it rolled_back, and %s is free for the next migration\n", l.Cleanup, l.Table)
	case cleanupComplete:
		fmt.Fprintf(e.Stdout, "%s\nno statement runs; zdm.migrations marks it completed, and %s is free for the next migration\n", l.Cleanup, l.Table)
	}

	if !yes {
		if !stdinIsTerminal() {
			return exitf(ExitUsage, "nothing was done: cleanup asks before it changes the database, and stdin is not a terminal; run zdm cleanup %s --yes", name)
		}
		fmt.Fprintf(e.Stdout, "\ngo ahead? [y/N] ")
		if !confirmed(stdin) {
			fmt.Fprintln(e.Stdout, "nothing was done")
			return quietExit(ExitFailed)
		}
	}

	retry := pgexec.DefaultRetry
	retry.OnRetry = func(id string, attempt int, wait time.Duration, err error) {
		fmt.Fprintf(e.Stderr, "zdm: %s: lock not granted within %s (try %d); retrying in %s\n", id, lockTimeout, attempt, wait.Round(time.Millisecond))
	}
	retry.OnWait = func(id string, h pgexec.Holder, _ time.Duration) {
		fmt.Fprintf(e.Stderr, "zdm: %s: %s before asking for the lock\n", id, h)
	}
	retries := 0
	if len(stmts) > 0 {
		if retries, err = pgexec.ExecOneTx(ctx, pool, "cleanup", stmts, lockTimeout, retry); err != nil {
			return exitf(ExitFailed, "cleanup of migration %s failed: %v\nits transaction was rolled back; zdm.migrations still holds %s; see zdm leftovers, and run zdm cleanup %s again once the cause is fixed", name, err, l.Table, name)
		}
	}
	status := l.action.status()
	if err := release(ctx, pool, cl, status); err != nil {
		return exitf(ExitFailed, "the rollback of migration %s ran, but zdm.migrations could not be updated: %v; run zdm cleanup %s again", name, err, name)
	}

	if l.action == cleanupRollback {
		after, err := inspect(ctx, pool, l.plan)
		if err != nil {
			return exitf(ExitFailed, "%v", err)
		}
		if len(after.Left) > 0 {
			left := make([]string, len(after.Left))
			for i, o := range after.Left {
				left[i] = o.String()
			}
			return exitf(ExitFailed, "the rollback of migration %s ran but left: %s", name, strings.Join(left, ", "))
		}
		fmt.Fprintf(e.Stdout, "rolled back: the guard and %d rollback statement(s) ran (%d lock retries); nothing of migration %s is left in %s\n", len(stmts)-1, retries, name, l.Table)
	}
	fmt.Fprintf(e.Stdout, "zdm.migrations marks migration %s %s; %s is free for the next migration\n", name, status, l.Table)
	return nil
}

func stillRunning(name, phase string) error {
	at := ""
	if phase != "" {
		at = " (phase " + phase + ")"
	}
	return exitf(ExitFailed, "migration %s is still running%s: use zdm cancel %s, which rolls back through the workflow; nothing was done", name, at, name)
}

// confirmed reads a yes from r.
func confirmed(r io.Reader) bool {
	line, _ := bufio.NewReader(r).ReadString('\n')
	switch strings.ToLower(strings.TrimSpace(line)) {
	case "y", "yes":
		return true
	}
	return false
}

// lockTimeout is the plan's, or zdm's default for a plan without one.
func (l *Leftover) lockTimeout() time.Duration {
	if l.plan != nil && l.plan.LockTimeout > 0 {
		return l.plan.LockTimeout
	}
	return defaultCleanupLockTimeout
}

// flagsWarning reminds that a terminated workflow did not switch its flags off.
func (l *Leftover) flagsWarning() string {
	if l.input == nil || l.input.Migration.Flags == nil {
		return ""
	}
	f := l.input.Migration.Flags
	var names []string
	for _, n := range []string{f.DualWrite, f.ReadNew} {
		if n != "" {
			names = append(names, n)
		}
	}
	if len(names) == 0 {
		return ""
	}
	return fmt.Sprintf("the workflow stopped without switching its flags off: if %s is still on in Unleash, applications write or read the columns this drops; switch it off and wait until applications have seen it (app_refresh %s) before you go ahead",
		strings.Join(names, " or "), f.AppRefresh.D())
}

// cleanupStatements is what cleanup runs for a leftover: a guard, then the plan's
// rollback (only the function's drop when the table itself is gone).
func cleanupStatements(l *Leftover) []planner.Statement {
	if l.action != cleanupRollback || l.plan == nil {
		return nil
	}
	p := l.plan
	stmts := []planner.Statement{guardStatement(l)}
	for _, s := range p.Rollback {
		if l.TableGone && s.ID != "rollback/drop-function" {
			continue
		}
		stmts = append(stmts, s)
	}
	return stmts
}

// guardStatement makes the cleanup transaction check, before it changes anything, that
// the claim is still this run's (no new run of the migration took it over meanwhile)
// and, when the contract had begun, that it did not commit: the sync trigger is there
// while the table is locked. It reads only.
func guardStatement(l *Leftover) planner.Statement {
	p := l.plan
	var b strings.Builder
	fmt.Fprintf(&b, "DO $zdm$ BEGIN\n")
	fmt.Fprintf(&b, "  PERFORM 1 FROM zdm.migrations WHERE name = %s AND run_id = %s AND status = 'running' FOR UPDATE;\n",
		planner.Literal(l.Name), planner.Literal(l.RunID))
	fmt.Fprintf(&b, "  IF NOT FOUND THEN\n    RAISE EXCEPTION %s;\n  END IF;\n",
		planner.Literal("zdm cleanup: migration "+l.Name+" no longer holds its claim as run "+l.RunID+" (a new run took it over, or it was released): nothing was done"))
	lock := planner.LockNone
	if l.ContractBegan && !l.TableGone {
		lock = planner.LockBriefExclusive
		tbl := planner.TableIdent(p)
		fmt.Fprintf(&b, "  LOCK TABLE %s IN ACCESS EXCLUSIVE MODE;\n", tbl)
		fmt.Fprintf(&b, "  IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = %s::regclass AND tgname = %s) THEN\n    RAISE EXCEPTION %s;\n  END IF;\n",
			planner.Literal(tbl), planner.Literal(p.Trigger),
			planner.Literal("zdm cleanup: the contract of migration "+l.Name+" committed meanwhile: nothing was rolled back"))
	}
	b.WriteString("END $zdm$")
	note := "reads only: the claim must still be this run's"
	if lock != planner.LockNone {
		note += ", and the sync trigger still there (the contract did not commit)"
	}
	return planner.Statement{ID: "cleanup/guard", SQL: b.String(), Lock: lock, Note: note}
}
