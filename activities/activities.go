// Package activities holds everything the migration workflow does to the outside world:
// PostgreSQL (inspect, expand, backfill, verify, contract, roll back) and Unleash (flags).
// Credentials live here, in the worker's process, and never in workflow inputs or history.
package activities

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/zdmhq/zdm/internal/flags"
	"github.com/zdmhq/zdm/internal/notify"
	"github.com/zdmhq/zdm/internal/pgexec"
	"github.com/zdmhq/zdm/internal/wire"
)

// Error types the workflow's retry policies treat as final (package wire).
const (
	ErrInvalidMigration = wire.ErrInvalidMigration
	ErrTableBusy        = wire.ErrTableBusy
	ErrSQL              = wire.ErrSQL
	ErrFlagsUnavailable = wire.ErrFlagsUnavailable
	ErrMismatch         = wire.ErrMismatch
	ErrWrongDatabase    = wire.ErrWrongDatabase
)

// The activities' inputs and outputs live in package wire, which the workflow shares.
type (
	PrepareInput  = wire.PrepareInput
	PrepareResult = wire.PrepareResult
	DDLInput      = wire.DDLInput
	DDLResult     = wire.DDLResult
	ContractInput = wire.ContractInput
	FinishInput   = wire.FinishInput
	BoundsInput   = wire.BoundsInput
	Bounds        = wire.Bounds
	SliceInput    = wire.SliceInput
	SliceProgress = wire.SliceProgress
	VerifyInput   = wire.VerifyInput
	VerifyResult  = wire.VerifyResult
	FlagInput     = wire.FlagInput
	NotifyInput   = wire.NotifyInput
)

// Activities is registered with the worker; the workflow calls its methods through a nil
// *Activities.
type Activities struct {
	DB *pgxpool.Pool
	// Flags is nil when the worker has no Unleash configuration; migrations that name
	// flags then fail with a clear error before they change anything.
	Flags *flags.Client
	// Retry is the backoff for statements that time out waiting for a lock.
	Retry pgexec.Retry
	// Metrics, when set, hears about backfill batches and lock retries.
	Metrics Metrics
	// Notifier posts to Slack; when nil or without a token, Notify does nothing.
	Notifier *notify.Notifier
	// Targets are the fleet's databases this worker serves, by the name of the
	// environment variable holding each URL (ZDM_TARGET_ENVS); CheckTargets reads them.
	Targets map[string]*pgxpool.Pool

	// db caches the identity of DB's database, read once per pool.
	db dbIdentity
}

// Metrics receives what the worker exports.
type Metrics interface {
	BatchDone(migration string, rows int64, d time.Duration)
	LockRetry(migration, statement string)
}

type noMetrics struct{}

func (noMetrics) BatchDone(string, int64, time.Duration) {}
func (noMetrics) LockRetry(string, string)               {}

func (a *Activities) metrics() Metrics {
	if a.Metrics == nil {
		return noMetrics{}
	}
	return a.Metrics
}

func (a *Activities) retry(ctx context.Context, migration string) pgexec.Retry {
	r := a.Retry
	if r.Attempts == 0 {
		r = pgexec.DefaultRetry
	}
	logger := activity.GetLogger(ctx)
	r.OnRetry = func(id string, attempt int, wait time.Duration, err error) {
		a.metrics().LockRetry(migration, id)
		logger.Warn("lock not granted in time, retrying", "statement", id, "attempt", attempt, "wait", wait, "error", err.Error())
	}
	return r
}

// classify turns errors that would fail the same way again (bad SQL, a violated
// constraint, a bad value) into non-retryable ones; connection trouble and lock timeouts
// stay retryable.
func classify(err error) error {
	if err == nil {
		return nil
	}
	var me *pgexec.MismatchError
	if errors.As(err, &me) {
		return temporal.NewNonRetryableApplicationError(err.Error(), ErrMismatch, err)
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) && !pgexec.IsLockTimeout(err) {
		switch pe.Code[:2] {
		case "22", "23", "42", "2B", "2F", "39", "44":
			return temporal.NewNonRetryableApplicationError(err.Error(), ErrSQL, err)
		}
	}
	return err
}

// keepAlive heartbeats every interval until the returned stop is called, for activities
// that spend long in one statement.
func keepAlive(ctx context.Context, every time.Duration, details func() any) (stop func()) {
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
				activity.RecordHeartbeat(ctx, details())
			}
		}
	}()
	return func() { close(done) }
}

func invalid(err error) error {
	return temporal.NewNonRetryableApplicationError(err.Error(), ErrInvalidMigration, nil)
}
