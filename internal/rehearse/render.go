package rehearse

import (
	"fmt"
	"io"
	"math"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/zdmhq/zdm/internal/human"
	"github.com/zdmhq/zdm/internal/pgexec"
)

// Render prints the report for a person.
func Render(w io.Writer, rep *Report) {
	on := "the whole table"
	if rep.Sample < 100 {
		on = fmt.Sprintf("a %g%% sample", rep.Sample)
	}
	fmt.Fprintf(w, "rehearsal of %s (%s) on %s\n", rep.Migration, rep.File, on)
	for _, c := range rep.Copied {
		of := ""
		if c.Sampled {
			of = fmt.Sprintf(" of about %s (%s)", human.Count(c.SourceRows), pct(c.CopiedRows, c.SourceRows))
		}
		fmt.Fprintf(w, "copied    %s: %s rows%s, %s in %s\n", c.Table, human.Count(c.CopiedRows), of, Bytes(c.Bytes), secs(c.Seconds))
	}
	if rep.Sample < 100 {
		fmt.Fprintf(w, "sample    %s; per-row work x %.2f\n", rep.SampleMethod, rep.RowRatio)
	}
	switch {
	case len(rep.Load) == 0:
		fmt.Fprintf(w, "load      none\n")
	default:
		for _, l := range rep.Load {
			fmt.Fprintf(w, "load      %s: %.0f writes/s (inserts %.1f, updates %.1f, deletes %.1f per second; %s)\n",
				l.Table, l.total(), l.Inserts, l.Updates, l.Deletes, map[LoadMode]string{LoadAuto: "the source's recent rate", LoadFixed: "--load"}[rep.LoadMode])
		}
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	head := "phase\ttook\t"
	if rep.Sample < 100 {
		head += "predicted\t"
	}
	fmt.Fprintln(tw, head+"rows/s\tlock retries (waited)\tlongest statement\tload p99 / max\tWAL\ttable size")
	for _, ph := range rep.Phases {
		line := ph.Name + "\t" + secs(ph.Seconds) + "\t"
		if rep.Sample < 100 {
			line += secs(ph.PredictedSeconds) + "\t"
		}
		rate := "-"
		if ph.RowsPerSecond > 0 {
			rate = human.Count(int64(ph.RowsPerSecond))
		}
		longest := "-"
		if ph.LongestStatement != "" {
			longest = fmt.Sprintf("%s %s", secs(ph.LongestStatementSeconds), ph.LongestStatement)
		}
		load := "-"
		if l := ph.Load; l != nil {
			load = fmt.Sprintf("%s / %s", ms(l.P99Seconds), ms(l.MaxSeconds))
			if l.Errors > 0 {
				load += fmt.Sprintf(" (%d of %d failed)", l.Errors, l.Writes)
			}
		}
		size := Bytes(ph.TableBytesAfter)
		if d := ph.TableBytesAfter - ph.TableBytesBefore; d != 0 {
			sign := "+"
			if d < 0 {
				sign, d = "-", -d
			}
			size += " (" + sign + Bytes(d) + ")"
		}
		line += fmt.Sprintf("%s\t%d (%s)\t%s\t%s\t%s\t%s", rate, ph.LockRetries, secs(ph.LockWaitSeconds), longest, load, Bytes(ph.WALBytes), size)
		fmt.Fprintln(tw, line)
	}
	_ = tw.Flush()
	fmt.Fprintln(w)
	if rep.Success {
		fmt.Fprintf(w, "migration completed on the copy in %s (copy %s)\n", secs(rep.MeasuredSeconds), secs(rep.CopySeconds))
	} else {
		fmt.Fprintf(w, "migration FAILED on the copy after %s: %s\n", secs(rep.MeasuredSeconds), rep.Error)
	}
	fmt.Fprintf(w, "predicted for the real run: %s\n", Prediction(rep.PredictedSeconds, rep.MarginSeconds))
	for _, n := range rep.Notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
}

// Prediction writes "31 s ± 4 s".
func Prediction(predicted, margin float64) string {
	if margin < 0.005 {
		return secs(predicted)
	}
	if predicted >= 10 && predicted < 120 {
		return fmt.Sprintf("%s ± %.0f s", secs(predicted), math.Max(1, math.Round(margin)))
	}
	return secs(predicted) + " ± " + secs(margin)
}

// Summary is the line zdm start and zdm plan print about a file's latest rehearsal.
func Summary(r *pgexec.Rehearsal, age time.Duration) string {
	if r == nil {
		return "never rehearsed (zdm rehearse -f FILE tries it on a copy and predicts its duration)"
	}
	on := "the whole table"
	if r.Sample < 100 {
		on = fmt.Sprintf("a %g%% sample", r.Sample)
	}
	ago := human.Duration(age) + " ago"
	if !r.Success {
		msg := r.Error
		if len(msg) > 200 {
			msg = msg[:197] + "..."
		}
		return fmt.Sprintf("rehearsed %s on %s: FAILED: %s", ago, on, msg)
	}
	predicted := "no prediction"
	if r.PredictedSeconds != nil {
		var margin float64
		if r.MarginSeconds != nil {
			margin = *r.MarginSeconds
		}
		predicted = "predicted " + Prediction(*r.PredictedSeconds, margin)
	}
	return fmt.Sprintf("rehearsed %s on %s: %s", ago, on, predicted)
}

func pct(a, b int64) string {
	if b <= 0 {
		return "?"
	}
	return fmt.Sprintf("%.1f%%", 100*float64(a)/float64(b))
}

// secs writes seconds as "0.42 s", "31 s", "4m05s".
func secs(s float64) string {
	switch {
	case s < 10:
		return fmt.Sprintf("%.2f s", s)
	case s < 120:
		return fmt.Sprintf("%.0f s", s)
	}
	return human.Duration(time.Duration(s * float64(time.Second)))
}

func ms(s float64) string { return fmt.Sprintf("%.1f ms", s*1000) }

// Bytes writes a size: 512 B, 12 kB, 3.4 MB.
func Bytes(n int64) string {
	f := float64(n)
	for _, u := range []string{"B", "kB", "MB", "GB", "TB"} {
		if f < 1000 || u == "TB" {
			if u == "B" {
				return fmt.Sprintf("%d B", n)
			}
			return strings.TrimSuffix(strings.TrimSuffix(fmt.Sprintf("%.1f", f), ".0"), ".") + " " + u
		}
		f /= 1000
	}
	return ""
}
