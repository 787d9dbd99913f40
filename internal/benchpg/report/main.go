// Command report is make bench-pgbench's reader (scripts/bench-pgbench.sh builds it into
// .stack/bench-pgbench/): it is not part of zdm.
//
//	report latency FROM TO LOG...        pgbench -l logs: transactions that ended in [FROM, TO]
//	                                     (Unix seconds, with a fraction); prints
//	                                     "committed failed skipped p50_ms p99_ms max_ms"
//	report balances URL                  prints "accounts mismatched history_rows"
//	report history WORKFLOW_ID ROWS      Temporal's share, from the workflow's history
//	                                     (TEMPORAL_ADDRESS, default 127.0.0.1:7233)
package main

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"go.temporal.io/sdk/client"

	"github.com/zdmhq/zdm/internal/benchpg"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "report:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("usage: report latency|balances|history ...")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	switch {
	case args[0] == "latency" && len(args) >= 4:
		from, err := unixTime(args[1])
		if err != nil {
			return err
		}
		to, err := unixTime(args[2])
		if err != nil {
			return err
		}
		var all []benchpg.Txn
		for _, p := range args[3:] {
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			txns, err := benchpg.ParseLog(f)
			_ = f.Close()
			if err != nil {
				return fmt.Errorf("%s: %w", p, err)
			}
			all = append(all, txns...)
		}
		s := benchpg.Window(all, from, to)
		fmt.Printf("%d %d %d %s %s %s %s\n", s.Committed, s.Failed, s.Skipped, ms(s.P50), ms(s.P99), ms(s.Max), ms(s.Stall))
		return nil
	case args[0] == "balances" && len(args) == 2:
		conn, err := pgx.Connect(ctx, args[1])
		if err != nil {
			return err
		}
		defer conn.Close(ctx)
		b, err := benchpg.CheckBalances(ctx, conn)
		if err != nil {
			return err
		}
		fmt.Printf("%d %d %d\n", b.Accounts, b.Mismatched, b.History)
		return nil
	case args[0] == "history" && len(args) == 3:
		rows, err := strconv.ParseFloat(args[2], 64)
		if err != nil || rows <= 0 {
			return fmt.Errorf("rows %q: want a positive number", args[2])
		}
		addr := os.Getenv("TEMPORAL_ADDRESS")
		if addr == "" {
			addr = "127.0.0.1:7233"
		}
		c, err := client.Dial(client.Options{HostPort: addr, Logger: quiet{}})
		if err != nil {
			return err
		}
		defer c.Close()
		runs, err := benchpg.FetchRuns(ctx, c, args[1])
		if err != nil {
			return err
		}
		s, err := benchpg.HistoryShare(runs)
		if err != nil {
			return err
		}
		fmt.Printf("workflow %s: wall %s in %d runs, %d history events (%.0f per million rows)\n",
			args[1], sec(s.Wall), s.Runs, s.Events, float64(s.Events)/(rows/1e6))
		fmt.Printf("  activities' own time %s (%d activities), timers %s; together (overlaps once) %s\n",
			sec(s.ActivityTime), s.Activities, sec(s.TimerTime), sec(s.Covered))
		fmt.Printf("  Temporal's share (wall minus activities and timers): %s (%.1f%% of wall)\n",
			sec(s.Overhead), 100*s.Overhead.Seconds()/s.Wall.Seconds())
		types := make([]string, 0, len(s.ByType))
		for t := range s.ByType {
			types = append(types, t)
		}
		sort.Slice(types, func(i, j int) bool { return s.ByType[types[i]] > s.ByType[types[j]] })
		for _, t := range types {
			fmt.Printf("  %-28s %s\n", t, sec(s.ByType[t]))
		}
		return nil
	}
	return fmt.Errorf("usage: report latency FROM TO LOG... | balances URL | history WORKFLOW_ID ROWS")
}

func unixTime(s string) (time.Time, error) {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("time %q: want Unix seconds: %w", s, err)
	}
	sec := int64(f)
	return time.Unix(sec, int64((f-float64(sec))*1e9)), nil
}

func ms(d time.Duration) string  { return strconv.FormatFloat(d.Seconds()*1000, 'f', 1, 64) }
func sec(d time.Duration) string { return strconv.FormatFloat(d.Seconds(), 'f', 1, 64) + " s" }

// quiet drops the SDK client's log lines.
type quiet struct{}

func (quiet) Debug(string, ...any) {}
func (quiet) Info(string, ...any)  {}
func (quiet) Warn(string, ...any)  {}
func (quiet) Error(string, ...any) {}
