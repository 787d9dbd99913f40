package cli

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/zdmhq/zdm/internal/pgexec"
	"github.com/zdmhq/zdm/internal/spec"
)

// SequenceView is where a migrations directory stands against the database's history
// (zdm status without NAME).
type SequenceView struct {
	Dir   string         `json:"dir"`
	Files []SequenceFile `json:"files"`
	// Gone are the latest runs of migrations the history has and no file of Dir names.
	Gone []pgexec.Run `json:"not_in_dir,omitempty"`
	// Note says what could not be looked at (Temporal not reachable).
	Note string `json:"note,omitempty"`
}

// SequenceFile is one file of the directory.
type SequenceFile struct {
	File      string `json:"file"`
	Migration string `json:"migration,omitempty"`
	// State is applied, running, pending, edited (after it was applied) or invalid (the
	// file does not parse; Problem says why).
	State    string      `json:"state"`
	Checksum string      `json:"checksum,omitempty"`
	LastRun  *pgexec.Run `json:"last_run,omitempty"`
	// Phase, AwaitingGate and Percent come from a running migration's progress query.
	Phase        string   `json:"phase,omitempty"`
	AwaitingGate string   `json:"awaiting_gate,omitempty"`
	Percent      *float64 `json:"percent,omitempty"`
	Problem      string   `json:"problem,omitempty"`
}

const stateInvalid = "invalid"

func (e *env) sequenceStatus(ctx context.Context, dir string, asJSON bool) error {
	files, err := readMigrationsDir(dir, false)
	if err != nil {
		return err
	}
	pool, err := e.db(ctx, "zdm status without NAME compares the directory with the history in the database")
	if err != nil {
		return err
	}
	latest, err := latestRuns(ctx, pool)
	if err != nil {
		return err
	}
	v := SequenceView{Dir: dir, Files: make([]SequenceFile, 0, len(files))}
	named := map[string]bool{}
	for _, f := range files {
		sf := SequenceFile{File: f.Name}
		m, err := spec.ParseFile(f.Path)
		if err != nil {
			sf.State = stateInvalid
			sf.Problem = strings.SplitN(err.Error(), "\n", 2)[0]
			v.Files = append(v.Files, sf)
			continue
		}
		named[m.Name] = true
		sf.Migration, sf.Checksum, sf.LastRun = m.Name, m.Source.Checksum, latest[m.Name]
		sf.State = string(stateOf(m.Source.Checksum, sf.LastRun))
		v.Files = append(v.Files, sf)
	}
	for name, r := range latest {
		if !named[name] {
			v.Gone = append(v.Gone, *r)
		}
	}
	sort.Slice(v.Gone, func(i, j int) bool { return v.Gone[i].StartedAt.Before(v.Gone[j].StartedAt) })
	e.runningPhases(ctx, &v)
	if asJSON {
		return e.printJSON(v)
	}
	fmt.Fprint(e.Stdout, RenderSequence(v))
	return nil
}

// runningPhases asks Temporal about the files not applied: whether their workflow runs
// (it may have started before it recorded anything), and in which phase. Without
// Temporal the view keeps what the database says, and a note.
func (e *env) runningPhases(ctx context.Context, v *SequenceView) {
	var ask []*SequenceFile
	for i := range v.Files {
		if s := v.Files[i].State; s == string(stateRunning) || s == string(statePending) {
			ask = append(ask, &v.Files[i])
		}
	}
	if len(ask) == 0 {
		return
	}
	c, err := e.client(ctx)
	if err != nil {
		v.Note = fmt.Sprintf("Temporal at %s did not answer: running migrations are shown as the database recorded them", e.address)
		return
	}
	for _, sf := range ask {
		resp, err := e.describe(ctx, c, sf.Migration)
		switch {
		case err == nil && running(resp):
			sf.State = string(stateRunning)
			if p, err := queryProgress(ctx, c, spec.WorkflowID(sf.Migration), time.Second); err == nil {
				sf.Phase, sf.AwaitingGate = string(p.Phase), p.AwaitingGate
				if p.RowsTotal > 0 {
					pct := p.Percent
					sf.Percent = &pct
				}
			} else {
				sf.Phase = resp.GetWorkflowExecutionInfo().GetStatus().String() + " (worker not answering)"
			}
		case sf.State == string(stateRunning) && (err == nil || ExitCode(err) == ExitNotFound):
			sf.Problem = fmt.Sprintf("its workflow %s is not running: it was terminated (see zdm leftovers)", spec.WorkflowID(sf.Migration))
		case err != nil && ExitCode(err) != ExitNotFound && !errors.Is(err, context.Canceled):
			v.Note = fmt.Sprintf("Temporal did not answer about %s: %v", sf.Migration, err)
		}
	}
}

// RenderSequence is zdm status without NAME.
func RenderSequence(v SequenceView) string {
	var b strings.Builder
	counts := map[string]int{}
	for _, f := range v.Files {
		counts[f.State]++
	}
	var summary []string
	for _, s := range []string{string(stateApplied), string(stateRunning), string(statePending), string(stateEdited), stateInvalid} {
		if counts[s] > 0 {
			summary = append(summary, fmt.Sprintf("%d %s", counts[s], s))
		}
	}
	if len(v.Files) == 0 {
		summary = append(summary, "no migration file")
	}
	fmt.Fprintf(&b, "migrations in %s: %s\n", v.Dir, strings.Join(summary, ", "))
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	for _, f := range v.Files {
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", f.File, orDash(f.Migration), f.State, sequenceDetail(f))
	}
	tw.Flush()
	if len(v.Gone) > 0 {
		fmt.Fprintf(&b, "in the history, with no file in %s:\n", v.Dir)
		tw = tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
		for _, r := range v.Gone {
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", orDash(r.File), r.Name, r.Status, runWhen(r))
		}
		tw.Flush()
	}
	if v.Note != "" {
		fmt.Fprintf(&b, "note: %s\n", v.Note)
	}
	return b.String()
}

func sequenceDetail(f SequenceFile) string {
	r := f.LastRun
	switch f.State {
	case string(stateApplied):
		if r.Status == pgexec.StatusBaselined {
			return "baselined " + runWhen(*r)
		}
		return runWhen(*r)
	case string(stateEdited):
		return fmt.Sprintf("%s; checksum %s, now %s: restore the file, or write a new migration", runWhen(*r), shortSum(r.Checksum), shortSum(f.Checksum))
	case string(stateRunning):
		d := f.Phase
		if f.Percent != nil {
			d += fmt.Sprintf(" %.1f%%", *f.Percent)
		}
		if f.AwaitingGate != "" {
			d += fmt.Sprintf(", waits at gate %s (zdm approve %s --gate %s)", f.AwaitingGate, f.Migration, f.AwaitingGate)
		}
		if r != nil {
			d = strings.TrimSpace(d + " " + runWhen(*r))
		}
		if f.Problem != "" {
			d += "; " + f.Problem
		}
		return d
	case string(statePending):
		if r != nil {
			return fmt.Sprintf("last run %s %s", r.Status, runWhen(*r))
		}
		return ""
	case stateInvalid:
		return f.Problem
	}
	return ""
}

// runWhen is when a run started, and by whom.
func runWhen(r pgexec.Run) string {
	s := r.StartedAt.Local().Format("2006-01-02 15:04:05")
	if r.StartedBy != "" {
		s += " by " + r.StartedBy
	}
	return s
}
