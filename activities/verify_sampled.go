package activities

import (
	"context"
	"fmt"

	"github.com/zdmhq/zdm/internal/pgexec"
	"github.com/zdmhq/zdm/internal/wire"
)

// SampledVerifyRows is about how many rows a sampled verification reads. Tables the
// planner thinks hold at most twice as many are read in full: that is cheap.
const SampledVerifyRows = 100_000

// verifySampled is the verification of a backfill whose batches proved their own rows: it
// shows that every backfilled row was proven, that the sync trigger still fires for the
// writes since, and reads a random sample of the table's pages. ok is false, with the
// reason, when it cannot stand in for reading every row.
func (a *Activities) verifySampled(ctx context.Context, in VerifyInput) (res *VerifyResult, why string, err error) {
	t := in.Target
	done, proven, err := pgexec.ProvenRows(ctx, a.DB, t.Migration)
	if err != nil {
		return nil, "", classify(err)
	}
	if proven < done {
		return nil, fmt.Sprintf("%d of the %d backfilled rows were written by batches that did not prove them (an older zdm)", done-proven, done), nil
	}
	if in.Trigger != "" {
		fires, err := pgexec.TriggerFires(ctx, a.DB, t, in.Trigger)
		if err != nil {
			return nil, "", classify(err)
		}
		if !fires {
			return nil, fmt.Sprintf("the sync trigger %s is missing or disabled, so writes since the backfill may not be in the new columns", in.Trigger), nil
		}
	}
	est, err := pgexec.EstimatedRows(ctx, a.DB, t)
	if err != nil {
		return nil, "", classify(err)
	}
	if est < 2*SampledVerifyRows {
		return nil, fmt.Sprintf("the table is small (about %.0f rows): reading it all is cheap", max(est, 0)), nil
	}
	checked, bad, sample, err := pgexec.SampledMismatches(ctx, a.DB, t, 100*SampledVerifyRows/est)
	if err != nil {
		return nil, "", classify(err)
	}
	return &VerifyResult{Mode: wire.VerifySampled, Checked: checked, Mismatches: bad, Sample: sample}, "", nil
}
