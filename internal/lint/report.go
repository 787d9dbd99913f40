package lint

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"
)

// Formats zdm lint can print.
var Formats = []string{"text", "json", "github"}

// Write prints the result in format (text, json or github).
func Write(w io.Writer, r *Result, format string) error {
	switch format {
	case "text", "":
		writeText(w, r)
		return nil
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		out := struct {
			Findings   []Finding `json:"findings"`
			Throughput string    `json:"throughput,omitempty"`
		}{Findings: r.Findings, Throughput: r.Throughput}
		if out.Findings == nil {
			out.Findings = []Finding{}
		}
		return enc.Encode(out)
	case "github":
		writeGitHub(w, r)
		return nil
	}
	return fmt.Errorf("unknown format %q (text, json or github)", format)
}

func writeText(w io.Writer, r *Result) {
	if r.Throughput != "" {
		fmt.Fprintf(w, "read throughput: %s\n\n", r.Throughput)
	}
	file := ""
	counts := map[Level]int{}
	for _, f := range r.Findings {
		counts[f.Level]++
		if f.File != file {
			if file != "" {
				fmt.Fprintln(w)
			}
			file = f.File
			fmt.Fprintf(w, "%s\n", file)
		}
		fmt.Fprintf(w, "  %s:%d:%d: %s [%s] %s\n", f.File, f.Line, f.Column, f.Level, f.Rule, f.Message)
		fmt.Fprintf(w, "    statement: %s\n", oneLine(f.Statement, 100))
		if f.Lock != "" {
			fmt.Fprintf(w, "    lock: %s\n", f.Lock)
		}
		if f.Live != nil {
			fmt.Fprintf(w, "    table: %s\n", liveText(f.Live))
		}
		if f.Note != "" {
			fmt.Fprintf(w, "    %s\n", f.Note)
		}
		fmt.Fprintf(w, "    why: %s\n", f.Why)
		if f.Safe != "" {
			what := "safe way (SQL)"
			if f.SafeZDM {
				what = "safe way (zdm migration)"
			}
			fmt.Fprintf(w, "    %s:\n      %s\n", what, strings.ReplaceAll(strings.TrimRight(f.Safe, "\n"), "\n", "\n      "))
		}
	}
	if len(r.Findings) == 0 {
		fmt.Fprintln(w, "no findings")
		return
	}
	noun := "findings"
	if len(r.Findings) == 1 {
		noun = "finding"
	}
	fmt.Fprintf(w, "\n%d %s: %d error, %d warning, %d info\n", len(r.Findings), noun, counts[Error], counts[Warning], counts[Info])
}

func liveText(l *LiveTable) string {
	s := fmt.Sprintf("%s, about %s rows", humanBytes(l.Bytes), thousands(l.Rows))
	if l.Rows < 0 {
		s = humanBytes(l.Bytes) + ", rows unknown (never analyzed)"
	}
	if l.Rewrites {
		s += "; the statement rewrites it"
	}
	if l.LockEstimate > 0 {
		s += "; lock held about " + roundDuration(l.LockEstimate) + " or more (the time to read it at the measured throughput; writing it again or sorting it for an index takes longer)"
	}
	return s
}

func roundDuration(d time.Duration) string {
	switch {
	case d >= time.Second:
		return d.Round(100 * time.Millisecond).String()
	case d >= time.Millisecond:
		return d.Round(time.Millisecond).String()
	}
	return d.Round(time.Microsecond).String()
}

func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

// writeGitHub prints GitHub Actions workflow commands: one annotation per finding.
func writeGitHub(w io.Writer, r *Result) {
	for _, f := range r.Findings {
		kind := map[Level]string{Error: "error", Warning: "warning", Info: "notice"}[f.Level]
		msg := f.Message + ". " + f.Why
		if f.Note != "" {
			msg += " (" + f.Note + ")"
		}
		if f.Safe != "" {
			msg += "\nSafe way:\n" + f.Safe
		}
		fmt.Fprintf(w, "::%s file=%s,line=%d,col=%d,title=%s::%s\n", kind, ghProperty(f.File), f.Line, f.Column, ghProperty(f.Rule), ghData(msg))
	}
}

// ghData escapes a workflow command's message; ghProperty a property value.
func ghData(s string) string {
	return strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A").Replace(s)
}

func ghProperty(s string) string {
	return strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A", ":", "%3A", ",", "%2C").Replace(s)
}
