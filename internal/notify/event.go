package notify

import (
	"fmt"
	"time"

	"github.com/slack-go/slack"

	"github.com/zdmhq/zdm/internal/spec"
)

// Kinds of event a migration reports.
const (
	KindGate       = "gate"        // waits for a person at Gate
	KindCompleted  = "completed"   // contract done; the migration is over
	KindFailed     = "failed"      // failed; Detail says why
	KindRolledBack = "rolled_back" // rolled back after a rejection or a failure
	KindHeld       = "held"        // contract holds: old code still uses what it retires
)

// Event is something a migration tells the channel about.
type Event struct {
	Kind      string
	Migration string
	Table     string
	Gate      string // for KindGate
	// Run is the workflow's first run ID, carried by the gate buttons so that they
	// decide this run only (empty: no buttons, only where to find them).
	Run string
	// Detail is free text: why it failed, who rejected and why, what to check.
	Detail    string
	RowsDone  int64
	RowsTotal int64
	// Elapsed is how long the migration has run so far (zero: unknown).
	Elapsed time.Duration
}

// Validate says what is missing or wrong in e.
func (e Event) Validate() error {
	if !migrationName.MatchString(e.Migration) {
		return fmt.Errorf("notification names no valid migration (%q)", e.Migration)
	}
	switch e.Kind {
	case KindGate:
		if _, err := ParseGateAction(GateAction{Migration: e.Migration, Gate: e.Gate, Run: e.Run}.Value()); err != nil {
			return fmt.Errorf("gate notification of %s: %w", e.Migration, err)
		}
	case KindCompleted, KindFailed, KindRolledBack, KindHeld:
	default:
		return fmt.Errorf("unknown notification kind %q: kinds are %s, %s, %s, %s, %s", e.Kind, KindGate, KindCompleted, KindFailed, KindRolledBack, KindHeld)
	}
	return nil
}

// Message is the text (shown in notifications and by clients without Block Kit) and
// the blocks of e.
func Message(e Event) (string, []slack.Block) {
	var icon, title string
	switch e.Kind {
	case KindGate:
		icon, title = ":raised_hand:", fmt.Sprintf("Migration %s waits for approval at gate %s", e.Migration, e.Gate)
		if e.Gate == spec.GateRecover {
			icon, title = ":rotating_light:", fmt.Sprintf("Migration %s: the guard found the application unhealthy and switched read_new back; it waits at gate %s", e.Migration, e.Gate)
		}
	case KindCompleted:
		icon, title = ":white_check_mark:", fmt.Sprintf("Migration %s completed", e.Migration)
	case KindFailed:
		icon, title = ":x:", fmt.Sprintf("Migration %s failed", e.Migration)
	case KindRolledBack:
		icon, title = ":leftwards_arrow_with_hook:", fmt.Sprintf("Migration %s rolled back", e.Migration)
	case KindHeld:
		icon, title = ":warning:", fmt.Sprintf("Migration %s holds before contract: old code still runs", e.Migration)
	default:
		icon, title = ":grey_question:", fmt.Sprintf("Migration %s: %s", e.Migration, e.Kind)
	}
	blocks := []slack.Block{slack.NewSectionBlock(mrkdwn(icon+" *"+Escape(title)+"*"), nil, nil)}

	var fields []*slack.TextBlockObject
	if e.Table != "" {
		fields = append(fields, mrkdwn("*Table*\n"+Escape(e.Table)))
	}
	if rows := rowsText(e.RowsDone, e.RowsTotal); rows != "" {
		fields = append(fields, mrkdwn("*Rows backfilled*\n"+rows))
	}
	if e.Elapsed > 0 {
		fields = append(fields, mrkdwn("*Running for*\n"+Duration(e.Elapsed)))
	}
	if len(fields) > 0 {
		blocks = append(blocks, slack.NewSectionBlock(nil, fields, nil))
	}
	if e.Detail != "" {
		blocks = append(blocks, slack.NewSectionBlock(mrkdwn(Truncate(Escape(e.Detail), 2900)), nil, nil))
	}
	if e.Kind == KindGate {
		blocks = append(blocks, GateBlocks(e.Migration, e.Run, e.Gate)...)
		blocks = append(blocks, slack.NewContextBlock("", mrkdwn(fmt.Sprintf(
			"Only approvers named in the bot's SLACK_APPROVERS can press these. Or: `zdm approve %s --gate %s --by <you>`", e.Migration, e.Gate))))
	}
	return title, blocks
}

func rowsText(done, total int64) string {
	switch {
	case total > 0:
		pct := min(100, 100*float64(done)/float64(total))
		return fmt.Sprintf("%s / %s (%.0f%%)", Count(done), Count(total), pct)
	case done > 0:
		return Count(done)
	}
	return ""
}
