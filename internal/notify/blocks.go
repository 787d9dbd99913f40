package notify

import (
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"strings"
	"time"

	"github.com/slack-go/slack"

	"github.com/zdmhq/zdm/internal/human"
	"github.com/zdmhq/zdm/internal/spec"
)

// The gate buttons. The Slack bot acts on these action IDs wherever the buttons appear:
// in a notification or in an answer to /migration status.
const (
	ActionApprove = "zdm_approve"
	ActionReject  = "zdm_reject"
	// BlockGate is the block ID of the actions block holding both buttons.
	BlockGate = "zdm_gate"
)

// GateAction is the value a gate button carries: which migration, which run of it,
// which gate. A press is checked against the run of the migration that is current and
// the gate it waits at when it arrives, so an old button can never decide a gate it was
// not drawn for, nor a later run of the same migration name.
type GateAction struct {
	Migration string `json:"migration"`
	Gate      string `json:"gate"`
	// Run is the first run ID of the workflow run the button was drawn for: it stays
	// the same when the run continues as new, and differs between two runs of one
	// migration name. Buttons drawn before zdm wrote it have none, and decide nothing.
	Run string `json:"run,omitempty"`
}

// Value encodes the action as a button value.
func (g GateAction) Value() string {
	b, _ := json.Marshal(g)
	return string(b)
}

var (
	migrationName = regexp.MustCompile(`^[a-z0-9-]+$`)
	// runID is what a Temporal run ID looks like (a UUID); anything else is no run.
	runID = regexp.MustCompile(`^[0-9A-Za-z-]{1,64}$`)
)

// ParseGateAction reads a button value written by Value. A value without a run (from
// a button drawn by an older zdm) is read, with Run empty: the bot refuses to act on it.
func ParseGateAction(v string) (GateAction, error) {
	var g GateAction
	if err := json.Unmarshal([]byte(v), &g); err != nil {
		return g, fmt.Errorf("button value %q is not a zdm gate action: %w", v, err)
	}
	if !migrationName.MatchString(g.Migration) {
		return g, fmt.Errorf("button value %q names no valid migration", v)
	}
	if g.Gate != spec.GateReadNew && g.Gate != spec.GateContract && g.Gate != spec.GateFinalize && g.Gate != spec.GateRecover {
		return g, fmt.Errorf("button value %q names unknown gate %q", v, g.Gate)
	}
	if g.Run != "" && !runID.MatchString(g.Run) {
		return g, fmt.Errorf("button value %q names no valid run", v)
	}
	return g, nil
}

// GateMeaning says what approving a gate lets the migration do.
func GateMeaning(gate string) string {
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

// GateBlocks say which gate a migration waits at, what approving it does, and carry
// the Approve and Reject buttons, each behind a confirmation. run is the workflow's
// first run ID, which the buttons carry; without it no buttons are drawn (they could
// not be told apart from those of another run), only where to find them.
func GateBlocks(migration, run, gate string) []slack.Block {
	text := fmt.Sprintf(":raised_hand: Waiting at gate *%s*", Escape(gate))
	if m := GateMeaning(gate); m != "" {
		text += ": " + m + "."
	}
	if run == "" {
		return []slack.Block{
			slack.NewSectionBlock(mrkdwn(text), nil, nil),
			slack.NewContextBlock("", mrkdwn(fmt.Sprintf("Which run of the migration this is is not known here, so there are no buttons: `/migration status %s` draws them.", migration))),
		}
	}
	value := GateAction{Migration: migration, Gate: gate, Run: run}.Value()
	approve := slack.NewButtonBlockElement(ActionApprove, value, plain("Approve "+gate)).
		WithStyle(slack.StylePrimary).
		WithConfirm(slack.NewConfirmationBlockObject(
			plain("Approve gate "+gate+"?"),
			mrkdwn(fmt.Sprintf("Migration *%s*: %s.", migration, orDefault(GateMeaning(gate), "the migration goes on"))),
			plain("Approve"), plain("Cancel")))
	reject := slack.NewButtonBlockElement(ActionReject, value, plain("Reject")).
		WithStyle(slack.StyleDanger).
		WithConfirm(slack.NewConfirmationBlockObject(
			plain("Reject gate "+gate+"?"),
			mrkdwn(fmt.Sprintf("Migration *%s* rolls back: its new columns, trigger and flags are removed and the table is left as it was.", migration)),
			plain("Reject and roll back"), plain("Cancel")).WithStyle(slack.StyleDanger))
	return []slack.Block{
		slack.NewSectionBlock(mrkdwn(text), nil, nil),
		slack.NewActionBlock(BlockGate, approve, reject),
	}
}

// barCells is how wide progress bars are drawn.
const barCells = 20

// Bar draws percent as a text bar of barCells cells, in a code span so that it keeps
// its width: `██████████░░░░░░░░░░`.
func Bar(percent float64) string {
	p := math.Max(0, math.Min(100, percent))
	full := int(p / 100 * barCells)
	return "`" + strings.Repeat("█", full) + strings.Repeat("░", barCells-full) + "`"
}

// Count writes n with thousands separators: 1234567 -> "1,234,567".
func Count(n int64) string { return human.Count(n) }

// Duration writes d to the second the way people read it: 3s, 4m05s, 2h03m.
func Duration(d time.Duration) string { return human.Duration(d) }

// Date is a time Slack shows in each reader's own time zone.
func Date(t time.Time) string {
	fallback := t.UTC().Format("2006-01-02 15:04 UTC")
	return fmt.Sprintf("<!date^%d^{date_short_pretty} {time}|%s>", t.Unix(), fallback)
}

// Escape makes text safe inside mrkdwn: Slack reads <, > and & as markup.
func Escape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

// Truncate cuts s to at most n runes, saying so, since Slack refuses over-long texts.
func Truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

func plain(s string) *slack.TextBlockObject {
	return slack.NewTextBlockObject(slack.PlainTextType, Truncate(s, 75), false, false)
}

func mrkdwn(s string) *slack.TextBlockObject {
	return slack.NewTextBlockObject(slack.MarkdownType, s, false, false)
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
