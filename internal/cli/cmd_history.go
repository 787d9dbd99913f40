package cli

import (
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/zdmhq/zdm/internal/pgexec"
)

func (e *env) historyCommand() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "history [--json]",
		Short: "List every run of every migration on the database, newest last",
		Long: `History reads zdm's schema in the database in DATABASE_URL and lists every run of
every migration, oldest first: its name, file, checksum, status (running,
completed, rolled_back, failed, or baselined: recorded as applied without being
run), who started it, when, and how long it took. It changes nothing.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			pool, err := e.db(cmd.Context(), "zdm history reads zdm's schema in the database")
			if err != nil {
				return err
			}
			runs, err := pgexec.ReadRuns(cmd.Context(), pool)
			if err != nil && !errors.Is(err, pgexec.ErrNoState) {
				return exitf(ExitFailed, "%v", err)
			}
			if asJSON {
				if runs == nil {
					runs = []pgexec.Run{}
				}
				return e.printJSON(runs)
			}
			if len(runs) == 0 {
				fmt.Fprintln(e.Stdout, "no migration has run on this database")
				return nil
			}
			fmt.Fprint(e.Stdout, RenderHistory(runs, e.Now()))
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the runs as JSON")
	return cmd
}

// RenderHistory is history's table; now gives a running run its duration so far.
func RenderHistory(runs []pgexec.Run, now time.Time) string {
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tFILE\tCHECKSUM\tSTATUS\tSTARTED BY\tSTARTED\tDURATION")
	for _, r := range runs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Name, orDash(r.File), orDash(shortSum(r.Checksum)), r.Status,
			orDash(r.StartedBy), r.StartedAt.Local().Format("2006-01-02 15:04:05"), runDuration(r, now))
	}
	tw.Flush()
	return b.String()
}

// runDuration is how long a run took, or has taken so far ("12s so far").
func runDuration(r pgexec.Run, now time.Time) string {
	switch {
	case r.Status == pgexec.StatusBaselined:
		return "-"
	case r.FinishedAt != nil:
		return HumanDuration(r.FinishedAt.Sub(r.StartedAt).Round(time.Second))
	case r.Status == pgexec.StatusRunning:
		return HumanDuration(now.Sub(r.StartedAt).Round(time.Second)) + " so far"
	}
	return "-"
}
