package activities

import (
	"context"
	"errors"

	"go.temporal.io/sdk/temporal"

	"github.com/zdmhq/zdm/internal/flags"
)

// SetFlag creates the flag if needed and switches it on or off in the worker's Unleash
// environment. It is idempotent.
func (a *Activities) SetFlag(ctx context.Context, in FlagInput) error {
	if err := a.ensureFlag(ctx, in.Flag, in.Description); err != nil {
		return err
	}
	return a.Flags.Set(ctx, in.Flag, in.On)
}

// ensureFlag makes sure the flag exists in the worker's Unleash. No Unleash
// configuration, or a flag someone archived, is final: retrying cannot mend it.
func (a *Activities) ensureFlag(ctx context.Context, flag, description string) error {
	if a.Flags == nil {
		return temporal.NewNonRetryableApplicationError("the worker has no Unleash configuration (UNLEASH_URL, UNLEASH_ADMIN_TOKEN)", ErrFlagsUnavailable, nil)
	}
	if err := a.Flags.Ensure(ctx, flag, description); err != nil {
		if errors.Is(err, flags.ErrArchived) {
			return temporal.NewNonRetryableApplicationError(err.Error(), ErrFlagsUnavailable, err)
		}
		return err
	}
	return nil
}
