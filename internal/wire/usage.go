package wire

import (
	"time"

	"github.com/zdmhq/zdm/internal/plan"
)

// UsageCheck is the activity that looks for statements still using what contract
// retires.
const UsageCheck = "UsageCheck"

// Retired is a name that stops working at contract: a column (Column set) or a whole
// table or view (Column empty).
type Retired struct {
	Schema string `json:"schema"`
	Table  string `json:"table"`
	Column string `json:"column,omitempty"`
	// How says what contract does to it: "column dropped", "view dropped", ...
	How string `json:"how"`
	// Replacement is the name new code uses instead ("" when there is none): a
	// statement that names it too is new code writing both (dual_write) or zdm's own
	// backfill, not old code.
	Replacement string `json:"replacement,omitempty"`
}

// Name is schema.table[.column] as a person writes it.
func (r Retired) Name() string {
	n := r.Schema + "." + r.Table
	if r.Column != "" {
		n += "." + r.Column
	}
	return n
}

// StatementCalls is one pg_stat_statements entry as last counted.
type StatementCalls struct {
	QueryID int64  `json:"query_id"`
	UserID  uint32 `json:"user_id"`
	Calls   int64  `json:"calls"`
}

// UsageInput asks which statements naming Retired ran since Since was counted.
type UsageInput struct {
	// Plan is given to the first check only: the names its contract retires are read
	// from it and returned, and later checks pass them as Retired.
	Plan    *plan.Plan `json:"plan,omitempty"`
	Retired []Retired  `json:"retired,omitempty"`
	// Since are the counts of the previous check; a statement not among them is new
	// since (all its calls count).
	Since []StatementCalls `json:"since,omitempty"`
	// Snapshot asks for the counts only: the soak starts now.
	Snapshot bool          `json:"snapshot,omitempty"`
	Database plan.Identity `json:"database,omitzero"`
}

// UsageFinding is one statement of old code: it names a retired name and ran again
// since the previous check.
type UsageFinding struct {
	QueryID int64  `json:"query_id"`
	User    string `json:"user"`
	// Query is the normalized statement as pg_stat_statements shows it, shortened.
	Query string `json:"query"`
	// Names are the retired names it uses (schema.table.column) and how (read, write).
	Names []string `json:"names"`
	// Rose is how many more calls it made since the previous check.
	Rose int64 `json:"rose"`
	// Clients are the connections pg_stat_activity shows running it now or last:
	// application_name and client address.
	Clients []string `json:"clients,omitempty"`
}

// UsageResult is what one check found.
type UsageResult struct {
	// Retired is what the plan's contract retires (the first check's answer).
	Retired []Retired `json:"retired,omitempty"`
	// Unavailable says why zdm cannot tell, with the fix; empty when it can.
	Unavailable string         `json:"unavailable,omitempty"`
	Findings    []UsageFinding `json:"findings,omitempty"`
	// Counts are the calls now of every statement naming a retired name: the next
	// check compares with them.
	Counts    []StatementCalls `json:"counts,omitempty"`
	CheckedAt time.Time        `json:"checked_at"`
}
