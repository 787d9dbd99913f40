package cli

import (
	"encoding/json"
	"fmt"
	"math"
	"net/url"
	"strings"
	"time"

	"github.com/zdmhq/zdm/internal/human"
	"github.com/zdmhq/zdm/internal/spec"
	"github.com/zdmhq/zdm/workflows"
)

// Thousands writes n with comma separators: 1234567 -> "1,234,567".
func Thousands(n int64) string { return human.Count(n) }

// HumanDuration writes d to the second, the way people read it: 3s, 4m05s, 2h03m.
func HumanDuration(d time.Duration) string { return human.Duration(d) }

// Bar is a text progress bar of width cells: Bar(52.1, 10) = "[#####-----]".
func Bar(percent float64, width int) string {
	if width < 1 {
		width = 1
	}
	p := math.Max(0, math.Min(100, percent))
	full := int(p / 100 * float64(width))
	return "[" + strings.Repeat("#", full) + strings.Repeat("-", width-full) + "]"
}

// ProgressText is the backfill's progress in one line:
// "[#####-----] 52.1%  521,000 / 1,000,000 rows  183,000 rows/s  ETA 3s".
// Figures not known yet are left out, and so are the rate and ETA while a pause holds
// the backfill: it moves at no rate then, towards no foreseeable end.
func ProgressText(p workflows.Progress, width int) string {
	parts := []string{fmt.Sprintf("%s %.1f%%", Bar(p.Percent, width), p.Percent)}
	if p.RowsTotal > 0 {
		parts = append(parts, fmt.Sprintf("%s / %s rows", Thousands(p.RowsDone), Thousands(p.RowsTotal)))
	} else {
		parts = append(parts, Thousands(p.RowsDone)+" rows")
	}
	if Holding(p) {
		return strings.Join(parts, "  ")
	}
	if p.RowsPerSec > 0 {
		parts = append(parts, Thousands(int64(math.Round(p.RowsPerSec)))+" rows/s")
	}
	if p.ETA > 0 && !p.Paused {
		parts = append(parts, "ETA "+HumanDuration(p.ETA))
	}
	return strings.Join(parts, "  ")
}

// Holding says whether a pause holds the migration now. Pause acts on the backfill: it
// holds the migration until the backfill is over, and means nothing after it.
func Holding(p workflows.Progress) bool {
	if !p.Paused {
		return false
	}
	switch p.Phase {
	case workflows.PhaseValidating, workflows.PhaseExpanding, workflows.PhaseBackfilling:
		return true
	}
	return false
}

// phaseText is the phase as status and watch say it: "backfilling, paused by bob"
// while a pause holds it.
func phaseText(p workflows.Progress) string {
	s := string(p.Phase)
	if Holding(p) {
		s += ", paused"
		if p.PausedBy != "" {
			s += " by " + p.PausedBy
		}
	}
	return s
}

// LiveLine is what watch shows for one progress answer: the bar, then the phase, and
// whatever asks for a person's attention.
func LiveLine(p workflows.Progress, width int) string {
	s := ProgressText(p, width) + "  " + string(p.Phase)
	if p.Paused {
		s += "  PAUSED"
		if p.PausedBy != "" {
			s += " by " + p.PausedBy
		}
	}
	if p.Throttled != "" {
		s += "  THROTTLED: " + p.Throttled
	}
	if p.Governor != "" {
		s += "  GOVERNED: " + p.Governor
	}
	if parts := workflows.PartitionsSummary(p); parts != "" && p.Phase == workflows.PhaseBackfilling {
		s += "  " + parts
	}
	if p.AwaitingGate != "" {
		s += "  awaiting gate " + p.AwaitingGate
	}
	if u := p.OldUsage; u != nil && len(u.Findings) > 0 {
		s += fmt.Sprintf("  OLD CODE: %d statement(s)", len(u.Findings))
	}
	if u := p.OldUsage; u != nil && u.Holding != "" {
		s += "  HELD"
	}
	s += undoLive(p)
	if g := GuardLine(p); g != "" {
		s += "  " + g
	}
	return s
}

// workflowURL is the Temporal UI page of a workflow.
func workflowURL(base, namespace, workflowID string) string {
	return strings.TrimRight(base, "/") + "/namespaces/" + url.PathEscape(namespace) + "/workflows/" + url.PathEscape(workflowID)
}

// gateMeaning says what approving a gate lets the migration do.
func gateMeaning(gate string) string {
	switch gate {
	case spec.GateReadNew:
		return "approving switches applications to read the new columns"
	case spec.GateContract:
		return "approving drops the old columns; there is no rollback after it"
	case spec.GateFinalize:
		return "approving drops what the undo window kept; rejecting reverts the migration"
	case spec.GateRecover:
		return "the guard found the application unhealthy and switched read_new back; approving retries the rollout step"
	}
	return ""
}

// GateHelp tells a person how to approve or reject the gate a migration waits at, from
// the CLI and from the Temporal UI.
func GateHelp(name, gate, uiURL string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "migration %s waits at gate %s", name, gate)
	if m := gateMeaning(gate); m != "" {
		fmt.Fprintf(&b, " (%s)", m)
	}
	b.WriteString("\n")
	fmt.Fprintf(&b, "  approve: zdm approve %s --gate %s --by <you> [--comment \"...\"]\n", name, gate)
	fmt.Fprintf(&b, "  reject:  zdm reject %s --gate %s --by <you> --reason \"...\"   (rolls the migration back)\n", name, gate)
	fmt.Fprintf(&b, "  in the Temporal UI: open %s, Send a Signal → approve (or reject), payload %s\n", uiURL, uiPayload(gate))
	return b.String()
}

// OldUsageText is what the contract gate shows of old code still running, one line
// each, "" when there is nothing to say.
func OldUsageText(p workflows.Progress) string {
	var b strings.Builder
	for i, l := range workflows.OldUsageLines(p.OldUsage) {
		k := ""
		if i == 0 {
			k = "old code:"
		}
		fmt.Fprintf(&b, "  %-9s %s\n", k, l)
	}
	return b.String()
}

// uiPayload is the JSON a person types in the UI's signal form, written for reading.
func uiPayload(gate string) string {
	g, _ := json.Marshal(gate)
	return fmt.Sprintf(`{"gate": %s, "by": "<your name>", "comment": "<optional>"}`, g)
}

// StatusView is everything status knows about a migration. Progress is nil when the
// worker did not answer the query; the fields after it then come from Temporal's own
// record of the workflow and may lag.
type StatusView struct {
	Name       string              `json:"name"`
	WorkflowID string              `json:"workflow_id"`
	RunID      string              `json:"run_id"`
	UIURL      string              `json:"ui_url"`
	Status     string              `json:"status"` // Temporal's: Running, Completed, Failed...
	Progress   *workflows.Progress `json:"progress,omitempty"`

	Stale      bool      `json:"stale,omitempty"` // the worker did not answer
	QueryError string    `json:"query_error,omitempty"`
	Phase      string    `json:"phase,omitempty"` // search attribute MigrationPhase
	Table      string    `json:"table,omitempty"` // search attribute MigrationTable
	StartTime  time.Time `json:"start_time"`
	CloseTime  time.Time `json:"close_time,omitzero"`
	// Activities are the workflow's pending activities, with their retries and, for a
	// backfill slice, the rows its last heartbeat reported.
	Activities []PendingActivity `json:"pending_activities,omitempty"`
	// Failure is why a closed workflow failed.
	Failure string `json:"failure,omitempty"`
}

// PendingActivity is an activity Temporal has scheduled or started and not seen end.
type PendingActivity struct {
	Type          string    `json:"type"`
	State         string    `json:"state"` // Scheduled, Started, CancelRequested...
	Attempt       int32     `json:"attempt"`
	LastHeartbeat time.Time `json:"last_heartbeat,omitzero"`
	LastFailure   string    `json:"last_failure,omitempty"`
	// RowsDone is the backfill's committed row count, from a BackfillSlice heartbeat.
	RowsDone *int64 `json:"rows_done,omitempty"`
	// Note is a DDL activity's last heartbeat: its step, and what it waits for.
	Note string `json:"note,omitempty"`
}

const timeLayout = "2006-01-02 15:04:05 MST"

// RenderStatus is the readable status block.
func RenderStatus(v StatusView) string {
	var b strings.Builder
	row := func(k, format string, args ...any) {
		fmt.Fprintf(&b, "%-13s %s\n", k, fmt.Sprintf(format, args...))
	}
	row("migration", "%s", v.Name)
	run := ""
	if v.RunID != "" {
		run = " (run " + v.RunID + ")"
	}
	row("workflow", "%s%s", v.WorkflowID, run)
	row("web UI", "%s", v.UIURL)
	row("status", "%s", v.Status)
	if !v.CloseTime.IsZero() {
		row("ended", "%s", v.CloseTime.Format(timeLayout))
	}
	if v.Failure != "" {
		row("failure", "%s", v.Failure)
	}
	p := v.Progress
	if p == nil {
		renderStale(&b, row, v)
		return b.String()
	}
	row("phase", "%s", phaseText(*p))
	row("table", "%s", p.Table)
	if Holding(*p) {
		row("progress", "%s  (paused: no rate or ETA until resumed)", ProgressText(*p, 10))
	} else {
		row("progress", "%s", ProgressText(*p, 10))
	}
	if p.Batches > 0 || p.LockRetries > 0 {
		size := ""
		if p.BatchSize > 0 {
			size = " of " + Thousands(int64(p.BatchSize)) + " rows"
		}
		row("", "%s batches%s, %d lock timeouts retried", Thousands(p.Batches), size, p.LockRetries)
	}
	for i, l := range PartitionLines(*p) {
		k := ""
		if i == 0 {
			k = "partitions"
		}
		row(k, "%s", l)
	}
	if !p.StartedAt.IsZero() {
		row("started", "%s (elapsed %s)", p.StartedAt.Format(timeLayout), HumanDuration(p.Elapsed))
	}
	if len(p.Gates) > 0 {
		row("gates", "%s", strings.Join(p.Gates, ", "))
	} else {
		row("gates", "none")
	}
	if p.AwaitingGate != "" {
		row("awaiting", "gate %s", p.AwaitingGate)
		for _, l := range strings.Split(strings.TrimRight(GateHelp(v.Name, p.AwaitingGate, v.UIURL), "\n"), "\n")[1:] {
			b.WriteString(l + "\n")
		}
	}
	for i, l := range workflows.OldUsageLines(p.OldUsage) {
		k := ""
		if i == 0 {
			k = "old code"
		}
		row(k, "%s", l)
	}
	undoRows(row, v.Name, *p)
	if p.Paused {
		by := ""
		if p.PausedBy != "" {
			by = " (" + p.PausedBy + ")"
		}
		row("paused", "yes%s; resume with: zdm resume %s", by, v.Name)
	} else {
		row("paused", "no")
	}
	if p.Verification != "" {
		row("verified", "%s", p.Verification)
	}
	if p.Throttled != "" {
		row("throttled", "%s (the backfill holds until it clears)", p.Throttled)
	}
	if p.Governor != "" {
		row("governed", "%s (backfill.max_app_p99 slows the backfill)", p.Governor)
	}
	if len(p.FlagsOn) > 0 {
		row("flags on", "%s", strings.Join(p.FlagsOn, ", "))
	} else {
		row("flags on", "none")
	}
	renderGuard(row, *p)
	if len(p.Approvals) == 0 {
		row("approvals", "none")
	}
	for i, ap := range p.Approvals {
		k := ""
		if i == 0 {
			k = "approvals"
		}
		row(k, "%s", approvalText(ap))
	}
	if p.LastError != "" {
		row("last error", "%s", p.LastError)
	}
	if p.LastRefusal != "" {
		row("last refusal", "%s", p.LastRefusal)
	}
	for _, a := range v.Activities {
		// A first attempt going well is the normal case; retries are worth a look.
		if a.Attempt > 1 || a.LastFailure != "" {
			row("retrying", "%s", activityText(a))
		}
		if strings.Contains(a.Note, "waiting for") {
			row("waiting", "%s", a.Note)
		}
	}
	return b.String()
}

func activityText(a PendingActivity) string {
	s := fmt.Sprintf("%s %s, attempt %d", a.Type, strings.ToLower(a.State), a.Attempt)
	if a.RowsDone != nil {
		s += fmt.Sprintf(", %s rows done", Thousands(*a.RowsDone))
	}
	if !a.LastHeartbeat.IsZero() {
		s += ", last heartbeat " + a.LastHeartbeat.Format(timeLayout)
	}
	if a.LastFailure != "" {
		s += ", last failure: " + a.LastFailure
	}
	if strings.Contains(a.Note, "waiting for") {
		s += ", " + a.Note
	}
	return s
}

func renderStale(b *strings.Builder, row func(string, string, ...any), v StatusView) {
	if v.Phase != "" {
		row("phase", "%s", v.Phase)
	}
	if v.Table != "" {
		row("table", "%s", v.Table)
	}
	if !v.StartTime.IsZero() {
		row("started", "%s", v.StartTime.Format(timeLayout))
	}
	for i, a := range v.Activities {
		k := ""
		if i == 0 {
			k = "activities"
		}
		row(k, "%s", activityText(a))
	}
	if v.Stale {
		b.WriteString("(worker not answering; figures may be stale)\n")
	}
}

func approvalText(ap workflows.Approval) string {
	verb := "rejected"
	if ap.Approved {
		verb = "approved"
	}
	s := fmt.Sprintf("%s %s by %s at %s via %s", ap.Gate, verb, ap.By, ap.At.Format(timeLayout), ap.Via)
	if ap.Comment != "" {
		s += ": " + ap.Comment
	}
	return s
}

// Summary is how a watched migration ended.
type Summary struct {
	Name     string
	Status   string // completed, rolled_back, failed, canceled, terminated, timed_out
	Rows     int64
	Duration time.Duration
	Err      string              // why it failed
	Rejected *workflows.Approval // who rejected it, when it rolled back on a rejection
}

// RenderSummary is the last thing watch prints.
func RenderSummary(s Summary) string {
	var b strings.Builder
	fmt.Fprintf(&b, "migration %s %s", s.Name, strings.ReplaceAll(s.Status, "_", " "))
	if s.Duration > 0 {
		fmt.Fprintf(&b, " after %s", HumanDuration(s.Duration))
	}
	if s.Rows > 0 && s.Status == string(workflows.PhaseCompleted) {
		fmt.Fprintf(&b, ": %s rows backfilled", Thousands(s.Rows))
	}
	b.WriteString("\n")
	if r := s.Rejected; r != nil {
		fmt.Fprintf(&b, "  gate %s rejected by %s", r.Gate, r.By)
		if r.Comment != "" {
			fmt.Fprintf(&b, ": %s", r.Comment)
		}
		b.WriteString("\n")
	}
	if s.Err != "" {
		fmt.Fprintf(&b, "  error: %s\n", s.Err)
	}
	return b.String()
}
