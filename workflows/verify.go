package workflows

import (
	"fmt"

	"go.temporal.io/sdk/workflow"

	"github.com/zdmhq/zdm/internal/spec"
	"github.com/zdmhq/zdm/internal/wire"
)

// sampledVerify asks for a sampled verification unless the migration wants every row
// read: each batch proved its own rows as it wrote them, so reading them all again is
// needed only where that cannot be shown (the activity then reads every row anyway).
func (r *run) sampledVerify(ctx workflow.Context, in *wire.VerifyInput) {
	if r.m.Backfill.Verify == spec.VerifyEveryRow {
		return
	}
	if workflow.GetVersion(ctx, "sampled-verify", workflow.DefaultVersion, 1) == 1 {
		in.Mode, in.Trigger = wire.VerifySampled, r.st.Plan.Trigger
	}
}

// verificationText is what progress says of a verification.
func verificationText(v wire.VerifyResult) string {
	switch {
	case v.Mode == wire.VerifySampled:
		return fmt.Sprintf("every batch proved its rows as it wrote them; the sync trigger fires; a sample of %d rows matches", v.Checked)
	case v.Why != "":
		return "read every row: " + v.Why
	default:
		return "read every row"
	}
}
