package workflows

import (
	"fmt"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/zdmhq/zdm/internal/spec"
	"github.com/zdmhq/zdm/internal/wire"
)

// OldUsage is what zdm saw of code still using what contract retires: statements that
// name a dropped or renamed column or table and whose calls rose (pg_stat_statements).
// Counting starts when the soak does (read_new switched and settled, or verify done
// without a read_new flag); the workflow looks again while the contract gate waits and
// once more just before contract.
type OldUsage struct {
	// Retired are the names contract takes away; Known once the plan was read.
	Retired []wire.Retired `json:"retired,omitempty"`
	Known   bool           `json:"known,omitempty"`
	// Since is when the soak started.
	Since     time.Time `json:"since"`
	CheckedAt time.Time `json:"checked_at,omitzero"`
	NextCheck time.Time `json:"next_check,omitzero"`
	// Checks counts the looks that compared with an earlier count.
	Checks int `json:"checks"`
	// Findings are the statements whose calls rose since the look before the last.
	Findings []wire.UsageFinding `json:"findings,omitempty"`
	// LastSeen is when a look last found old code; SeenCalls adds up the calls seen.
	LastSeen  time.Time `json:"last_seen,omitzero"`
	SeenCalls int64     `json:"seen_calls,omitempty"`
	// Unavailable says why zdm cannot tell (no pg_stat_statements, no privilege).
	Unavailable string `json:"unavailable,omitempty"`
	// Required is the file's contract_requires_no_old_usage.
	Required bool `json:"required,omitempty"`
	// Holding says why the contract gate (or contract) is held; "" when it is not.
	Holding string `json:"holding,omitempty"`

	// Counts are the calls at the last look, compared with at the next; Baseline is
	// false until a look could count (the next one then counts again).
	Counts   []wire.StatementCalls `json:"counts,omitempty"`
	Baseline bool                  `json:"baseline,omitempty"`
	notified bool
}

// nothingRetired: contract takes no name away, so there is nothing to look for.
func (u *OldUsage) nothingRetired() bool { return u.Known && len(u.Retired) == 0 }

// view is the copy the progress query shows.
func (u *OldUsage) view() *OldUsage {
	if u == nil {
		return nil
	}
	c := *u
	c.Counts = nil
	return &c
}

func usageOptions(ctx workflow.Context) workflow.Context {
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 2 * time.Minute,
		RetryPolicy: &temporal.RetryPolicy{InitialInterval: time.Second, MaximumInterval: 10 * time.Second,
			MaximumAttempts: 3, NonRetryableErrorTypes: final},
	})
}

// startOldUsage counts, as the soak starts, the statements naming what contract
// retires. A history recorded before this existed has no marker here and goes on as it
// did.
func (r *run) startOldUsage(ctx workflow.Context) {
	if r.st.OldUsage != nil || r.st.Plan == nil {
		return
	}
	if workflow.GetVersion(ctx, "old-usage", workflow.DefaultVersion, 1) == workflow.DefaultVersion {
		return
	}
	r.st.OldUsage = &OldUsage{Since: workflow.Now(ctx), Required: r.m.ContractRequiresNoOldUsage}
	r.checkOldUsage(ctx)
}

// checkOldUsage looks once: it counts (the first time, or after a look that could
// not), else reports what rose since the last look. It returns false when ctx was
// cancelled (the gate was decided meanwhile).
func (r *run) checkOldUsage(ctx workflow.Context) bool {
	u := r.st.OldUsage
	in := wire.UsageInput{Retired: u.Retired, Since: u.Counts, Snapshot: !u.Baseline, Database: r.st.Plan.Database}
	if !u.Known {
		in.Plan, in.Snapshot = r.st.Plan, true
	}
	var res wire.UsageResult
	err := workflow.ExecuteActivity(usageOptions(ctx), wire.UsageCheck, in).Get(ctx, &res)
	if ctx.Err() != nil {
		return false
	}
	now := workflow.Now(ctx)
	u.CheckedAt = now
	if err != nil {
		u.Unavailable = "cannot tell: the last look failed: " + rootMessage(err)
		u.Baseline, u.Findings = false, nil
		u.Holding = u.hold()
		return true
	}
	if !u.Known {
		u.Retired, u.Known = res.Retired, true
	}
	if in.Snapshot {
		u.Findings = nil
	} else {
		u.Checks++
		u.Findings = res.Findings
		for _, f := range res.Findings {
			u.SeenCalls += f.Rose
			u.LastSeen = now
		}
	}
	u.Unavailable = res.Unavailable
	u.Counts, u.Baseline = res.Counts, res.Unavailable == ""
	u.Holding = u.hold()
	return true
}

// hold says why contract_requires_no_old_usage keeps contract from running now, ""
// when nothing does.
func (u *OldUsage) hold() string {
	if !u.Required || u.nothingRetired() {
		return ""
	}
	switch {
	case u.Unavailable != "":
		return "contract_requires_no_old_usage: " + u.Unavailable
	case !u.Known || u.Checks == 0:
		return "contract_requires_no_old_usage: zdm has not looked for old code since the soak started yet"
	case len(u.Findings) > 0:
		return "contract_requires_no_old_usage: old code still uses what contract retires: " + FindingsText(u.Findings, 3) +
			"; the gate opens once their calls stop rising"
	}
	return ""
}

// FindingsText names up to limit findings in one line.
func FindingsText(fs []wire.UsageFinding, limit int) string {
	var parts []string
	for i, f := range fs {
		if i == limit {
			parts = append(parts, fmt.Sprintf("and %d more", len(fs)-limit))
			break
		}
		s := fmt.Sprintf("%q by %s (%s, %d more calls)", f.Query, f.User, strings.Join(f.Names, ", "), f.Rose)
		if len(f.Clients) > 0 {
			s += " from " + strings.Join(f.Clients, "; ")
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, "; ")
}

// watchOldUsage looks again every OldUsageEvery while the contract gate waits, and
// tells the channel when old code is first seen; the returned func stops it. After
// twenty looks it looks five times less often, so that a gate left open for days does
// not fill the workflow's history.
func (r *run) watchOldUsage(ctx workflow.Context) func() {
	u := r.st.OldUsage
	if u == nil || u.nothingRetired() {
		return func() {}
	}
	ctx, stop := workflow.WithCancel(ctx)
	workflow.Go(ctx, func(ctx workflow.Context) {
		for n := 0; ; n++ {
			every := r.opts.OldUsageEvery
			if n >= 20 {
				every *= 5
			}
			u.NextCheck = workflow.Now(ctx).Add(every)
			if workflow.Sleep(ctx, every) != nil || !r.checkOldUsage(ctx) {
				return
			}
			switch {
			case len(u.Findings) > 0 && !u.notified:
				u.notified = true
				r.notify(ctx, wire.NotifyGate, spec.GateContract, r.oldUsageDetail())
			case len(u.Findings) == 0:
				u.notified = false
			}
		}
	})
	return func() {
		stop()
		u.NextCheck = time.Time{}
	}
}

// holdForOldUsage looks once more just before contract. With
// contract_requires_no_old_usage it holds contract (and says so) while old code still
// runs, looking again every OldUsageEvery; a cancel meanwhile rolls back as before the
// gate.
func (r *run) holdForOldUsage(ctx workflow.Context) error {
	u := r.st.OldUsage
	if u == nil || u.nothingRetired() {
		return nil
	}
	told := false
	if u.Required && u.Checks == 0 {
		// No gate gave the soak time: wait one interval, so that the look before
		// contract covers one.
		u.NextCheck = workflow.Now(ctx).Add(r.opts.OldUsageEvery)
		if err := workflow.Sleep(ctx, r.opts.OldUsageEvery); err != nil {
			return err
		}
	}
	for {
		if !r.checkOldUsage(ctx) {
			return temporal.NewCanceledError("canceled while contract was held for old code")
		}
		if u.Holding == "" {
			u.NextCheck = time.Time{}
			return nil
		}
		if !told {
			told = true
			r.notify(ctx, wire.NotifyHeld, "", "contract is held: "+u.Holding)
		}
		u.NextCheck = workflow.Now(ctx).Add(r.opts.OldUsageEvery)
		if err := workflow.Sleep(ctx, r.opts.OldUsageEvery); err != nil {
			return err
		}
	}
}

// oldUsageRefusal refuses an approval of the contract gate while old usage holds it.
func (r *run) oldUsageRefusal(d Decision) error {
	u := r.st.OldUsage
	if d.Gate != spec.GateContract || u == nil || u.Holding == "" {
		return nil
	}
	msg := "gate contract is held: " + u.Holding
	if !u.NextCheck.IsZero() {
		msg += fmt.Sprintf(" (next look at %s)", u.NextCheck.UTC().Format(time.RFC3339))
	}
	return fmt.Errorf("%s", msg)
}

// oldUsageDetail is what the contract gate's notification says about old code.
func (r *run) oldUsageDetail() string {
	u := r.st.OldUsage
	if u == nil || u.nothingRetired() {
		return ""
	}
	var names []string
	for _, rt := range u.Retired {
		names = append(names, rt.Name())
	}
	var b strings.Builder
	switch {
	case u.Unavailable != "":
		b.WriteString("Old code: " + u.Unavailable + ".")
	case len(u.Findings) > 0:
		fmt.Fprintf(&b, "Old code still running: %s.", FindingsText(u.Findings, 5))
	default:
		fmt.Fprintf(&b, "zdm watches pg_stat_statements for statements naming %s (contract retires them).", strings.Join(names, ", "))
	}
	if u.Required {
		b.WriteString(" contract_requires_no_old_usage: the gate stays closed while any remain.")
	}
	return b.String()
}

// OldUsageLines says for a person (zdm status, Slack) what zdm saw of old code: a
// headline, then one line per statement. Nil when there is nothing to say.
func OldUsageLines(u *OldUsage) []string {
	if u == nil || u.nothingRetired() {
		return nil
	}
	var names []string
	for _, rt := range u.Retired {
		names = append(names, rt.Name()+" ("+rt.How+")")
	}
	const at = "15:04:05 UTC"
	var out []string
	switch {
	case !u.Known:
		out = append(out, "not looked yet: "+u.Unavailable)
	case u.Unavailable != "":
		out = append(out, u.Unavailable)
	case len(u.Findings) > 0:
		out = append(out, fmt.Sprintf("%d statement(s) naming what contract retires ran since the last look at %s:", len(u.Findings), u.CheckedAt.UTC().Format(at)))
		for _, f := range u.Findings {
			s := fmt.Sprintf("  %s  [by %s, %d more calls; uses %s]", f.Query, f.User, f.Rose, strings.Join(f.Names, ", "))
			if len(f.Clients) > 0 {
				s += " from " + strings.Join(f.Clients, "; ")
			}
			out = append(out, s)
		}
	case u.Checks == 0:
		out = append(out, fmt.Sprintf("counted at %s; the first look comes after the soak's first interval", u.Since.UTC().Format(at)))
	default:
		s := fmt.Sprintf("none seen in the last look at %s (%d looks since %s)", u.CheckedAt.UTC().Format(at), u.Checks, u.Since.UTC().Format(at))
		if u.SeenCalls > 0 {
			s += fmt.Sprintf("; earlier looks saw %d calls, the last at %s", u.SeenCalls, u.LastSeen.UTC().Format(at))
		}
		out = append(out, s)
	}
	out = append(out, "watching: "+strings.Join(names, ", "))
	if !u.NextCheck.IsZero() {
		out = append(out, "next look at "+u.NextCheck.UTC().Format(at))
	}
	switch {
	case u.Holding != "" && len(u.Findings) > 0:
		out = append(out, "HELD by contract_requires_no_old_usage: contract waits until their calls stop rising")
	case u.Holding != "":
		out = append(out, "HELD: "+u.Holding)
	case u.Required:
		out = append(out, "contract_requires_no_old_usage: nothing holds contract now")
	}
	return out
}
