package activities

import (
	"context"
	"fmt"
	"sync"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.temporal.io/sdk/temporal"

	"github.com/zdmhq/zdm/internal/pgexec"
	"github.com/zdmhq/zdm/internal/planner"
)

// dbIdentity remembers which database a pool is connected to: it does not change while
// the worker runs, so it is read once, not before every statement.
type dbIdentity struct {
	mu   sync.Mutex
	pool *pgxpool.Pool
	id   planner.Identity
}

// database is the identity of the worker's database (a.DB).
func (a *Activities) database(ctx context.Context) (planner.Identity, error) {
	a.db.mu.Lock()
	defer a.db.mu.Unlock()
	if a.db.pool == a.DB && a.db.pool != nil {
		return a.db.id, nil
	}
	id, err := pgexec.DatabaseIdentity(ctx, a.DB)
	if err != nil {
		return id, err
	}
	a.db.pool, a.db.id = a.DB, id
	return id, nil
}

// onRecordedDatabase refuses to act unless the worker's database is the one the
// migration was validated against. A zero want (a plan or input recorded before zdm
// recorded identities) is not checked, so migrations started before keep running.
func (a *Activities) onRecordedDatabase(ctx context.Context, want planner.Identity) error {
	if want.IsZero() {
		return nil
	}
	have, err := a.database(ctx)
	if err != nil {
		return err
	}
	if err := wrongDatabase(want, have); err != nil {
		return temporal.NewApplicationError(err.Error(), ErrWrongDatabase)
	}
	return nil
}

// wrongDatabase says what is wrong when the worker's database (have) is not the
// migration's (want), and nil when it is.
func wrongDatabase(want, have planner.Identity) error {
	if want.Same(have) {
		return nil
	}
	return fmt.Errorf("this migration belongs to %s, but this worker's DATABASE_URL points at %s: nothing was done there (fix: point the worker's DATABASE_URL at %s, or start the migration again against this one)",
		want, have, want)
}

// checkedElsewhere says what is wrong when zdm start checked the migration against
// another database (checked) than the worker's (have), and nil when not.
func checkedElsewhere(checked *planner.Identity, have planner.Identity) error {
	if checked == nil || checked.IsZero() || checked.Same(have) {
		return nil
	}
	return fmt.Errorf("zdm start checked this migration against %s, but the worker migrates %s: nothing was changed (fix: point the CLI's DATABASE_URL and the worker's at the same database, then start the migration again)",
		*checked, have)
}
