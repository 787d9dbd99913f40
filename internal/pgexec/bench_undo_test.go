package pgexec_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/zdmhq/zdm/activities"
	"github.com/zdmhq/zdm/internal/pgexec"
	"github.com/zdmhq/zdm/internal/spec"
	"github.com/zdmhq/zdm/internal/testenv"
)

// BenchmarkUndoWindowWrites measures what an undo window costs new code's writes after
// contract: the same single-row UPDATEs and INSERTs of a rename_column's new name, timed
// one by one, while the window's trigger keeps the old column set aside in step, and
// after finalize (as after a contract without a window). It also times the revert
// transaction of that table, rehearsed and rolled back. Median and 99th percentile in
// microseconds.
func BenchmarkUndoWindowWrites(b *testing.B) {
	const rows, writes = 200_000, 5_000
	ctx := context.Background()
	_, pool := testenv.DB(b, "zdm_bench_undo")
	for i := 0; i < b.N; i++ {
		mustExec(b, pool, "DROP TABLE IF EXISTS accounts")
		mustExec(b, pool, "DROP SCHEMA IF EXISTS zdm CASCADE")
		mustExec(b, pool, `CREATE TABLE accounts (aid bigint PRIMARY KEY, bid int NOT NULL, abalance int NOT NULL DEFAULT 0,
			name text NOT NULL, email text NOT NULL)`)
		mustExec(b, pool, `INSERT INTO accounts SELECT g, g % 10, 0, 'Name ' || g, 'User.' || g || '@Example.COM' FROM generate_series(1, $1::int) g`, rows)
		mustExec(b, pool, `CREATE INDEX accounts_name_idx ON accounts (name)`)
		mustExec(b, pool, "VACUUM ANALYZE accounts")

		m, err := spec.Parse("bench.yaml", []byte("name: bench-undo\ntable: accounts\noperations:\n  - rename_column: {column: name, to: full_name}\nundo_window: 24h\n"))
		require.NoError(b, err)
		p, err := activities.Plan(ctx, &activities.Activities{DB: pool}, m, false)
		require.NoError(b, err)
		require.NoError(b, pgexec.EnsureState(ctx, pool))
		_, err = pgexec.Claim(ctx, pool, p.Migration, p.Claims(), "bench-"+strconv.Itoa(i))
		require.NoError(b, err)
		_, err = pgexec.Exec(ctx, pool, p.Expand, p.LockTimeout, pgexec.DefaultRetry)
		require.NoError(b, err)
		target := pgexec.TargetOf(p)
		upper, err := pgexec.Upper(ctx, pool, target)
		require.NoError(b, err)
		bf := &pgexec.Backfiller{Pool: pool, Target: target, Upper: upper, Size: 10_000}
		st, err := pgexec.ReadProgress(ctx, pool, p.Migration)
		require.NoError(b, err)
		cursor := st.Cursor
		for {
			batch, err := bf.Next(ctx, cursor)
			require.NoError(b, err)
			cursor = batch.Cursor
			if batch.Done {
				break
			}
		}
		_, err = pgexec.Exec(ctx, pool, p.Validate, p.LockTimeout, pgexec.DefaultRetry)
		require.NoError(b, err)
		_, err = pgexec.ExecOneTx(ctx, pool, "contract", p.Undo.Contract, p.LockTimeout, pgexec.DefaultRetry)
		require.NoError(b, err)

		measure := func(label string, from int64) (p50, p99 time.Duration) {
			return writeLatency(b, label, writes, func(w int64) {
				mustExec(b, pool, `UPDATE accounts SET abalance = abalance + 1, full_name = $2 WHERE aid = $1`, 1+(w*7919)%rows, "n"+strconv.FormatInt(w, 10))
			}, func(w int64) {
				mustExec(b, pool, `INSERT INTO accounts (aid, bid, full_name, email) VALUES ($1, 1, 'new', 'N@Example.COM')`, from+w)
			})
		}
		windowP50, windowP99 := measure("undo window (trigger keeps the old column)", 10_000_000)

		start := time.Now()
		_, err = pgexec.Rehearse(ctx, pool, "rehearse/revert", p.RevertAll(), p.LockTimeout, pgexec.DefaultRetry)
		require.NoError(b, err)
		revert := time.Since(start)
		b.Logf("revert and rollback of %d rows, in one transaction rolled back: %s", rows+writes, revert)

		_, err = pgexec.ExecOneTx(ctx, pool, "finalize", p.Undo.Finalize, p.LockTimeout, pgexec.DefaultRetry)
		require.NoError(b, err)
		plainP50, plainP99 := measure("after finalize (no trigger)", 20_000_000)

		b.ReportMetric(float64(windowP50.Microseconds()), "window_p50_us")
		b.ReportMetric(float64(windowP99.Microseconds()), "window_p99_us")
		b.ReportMetric(float64(plainP50.Microseconds()), "plain_p50_us")
		b.ReportMetric(float64(plainP99.Microseconds()), "plain_p99_us")
		b.ReportMetric(float64(revert.Microseconds()), "revert_us")
	}
}
