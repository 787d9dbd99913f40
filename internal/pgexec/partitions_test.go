package pgexec_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zdmhq/zdm/internal/pgexec"
	"github.com/zdmhq/zdm/internal/planner"
)

// skewedKeys are 200,000 keys, 180,000 of them in the first tenth of the range.
func skewedKeys() []pgexec.Cursor {
	var keys []pgexec.Cursor
	for i := int64(1); i <= 180000; i++ {
		keys = append(keys, pgexec.Cursor{strconv.FormatInt(i, 10)})
	}
	for i := int64(0); i < 20000; i++ {
		keys = append(keys, pgexec.Cursor{strconv.FormatInt(180001+i*81, 10)})
	}
	return keys
}

// share counts, for each partition cut by cuts (nil, c1], (c1, c2], ..., the share of
// keys it holds.
func share(keys []int64, cuts []pgexec.Cursor) []float64 {
	counts := make([]float64, len(cuts)+1)
	for _, k := range keys {
		p := 0
		for p < len(cuts) {
			c, _ := strconv.ParseInt(cuts[p][0], 10, 64)
			if k <= c {
				break
			}
			p++
		}
		counts[p]++
	}
	for i := range counts {
		counts[i] /= float64(len(keys))
	}
	return counts
}

func assertBalanced(t *testing.T, shares []float64, n int) {
	t.Helper()
	require.Len(t, shares, n)
	for i, s := range shares {
		assert.InDelta(t, 1/float64(n), s, 0.05, "partition %d holds %.1f%% of the rows (shares %v)", i, 100*s, shares)
	}
}

func TestQuantilesBalanceSkewedKeys(t *testing.T) {
	keys := skewedKeys()
	ints := make([]int64, len(keys))
	for i, k := range keys {
		ints[i], _ = strconv.ParseInt(k[0], 10, 64)
	}
	cuts := pgexec.Quantiles(keys, 4)
	require.Len(t, cuts, 3)
	assertBalanced(t, share(ints, cuts), 4)

	// The even split of the same range is what the histogram is for: it would give one
	// partition nearly all the rows.
	even := pgexec.EvenSplit(1, ints[len(ints)-1], 4)
	require.Len(t, even, 3)
	assert.Greater(t, share(ints, even)[0], 0.9)

	assert.Nil(t, pgexec.Quantiles(keys, 1))
	assert.Equal(t, []pgexec.Cursor{{"2"}}, pgexec.Quantiles([]pgexec.Cursor{{"1"}, {"2"}, {"2"}, {"2"}}, 4), "repeats are dropped")
}

func TestEvenSplit(t *testing.T) {
	assert.Equal(t, []pgexec.Cursor{{"25"}, {"50"}, {"75"}}, pgexec.EvenSplit(0, 100, 4))
	assert.Equal(t, []pgexec.Cursor{{"0"}, {"1"}, {"2"}}, pgexec.EvenSplit(0, 3, 4), "one value each")
	assert.Equal(t, []pgexec.Cursor{{"0"}}, pgexec.EvenSplit(0, 1, 4), "fewer values than partitions")
	assert.Nil(t, pgexec.EvenSplit(5, 5, 4))
	cuts := pgexec.EvenSplit(-1<<63, 1<<63-1, 2)
	assert.Equal(t, []pgexec.Cursor{{"-1"}}, cuts, "the whole bigint range does not overflow")
}

// skewedTable creates t with 200,000 rows, 180,000 of them in the first tenth of the
// key range, and a trigger that keeps n = v on every write (the sync trigger's part).
func skewedTable(t *testing.T, pool *pgxpool.Pool) pgexec.Target {
	t.Helper()
	ctx := context.Background()
	// autovacuum off: an ANALYZE of its own would make the split's source a race.
	_, err := pool.Exec(ctx, `CREATE TABLE t (id bigint PRIMARY KEY, v int NOT NULL, n bigint, touched int NOT NULL DEFAULT 0) WITH (autovacuum_enabled = false);
		INSERT INTO t (id, v) SELECT g, g % 1000 FROM generate_series(1, 180000) g;
		INSERT INTO t (id, v) SELECT 180001 + g * 81, g % 1000 FROM generate_series(0, 19999) g;
		CREATE FUNCTION t_sync() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN
			IF current_setting('zdm.backfill', true) IS DISTINCT FROM 'on' THEN NEW.n := NEW.v; END IF;
			RETURN NEW;
		END $$;
		CREATE TRIGGER t_sync BEFORE INSERT OR UPDATE ON t FOR EACH ROW EXECUTE FUNCTION t_sync();`)
	require.NoError(t, err)
	require.NoError(t, pgexec.EnsureState(ctx, pool))
	_, err = pgexec.Claim(ctx, pool, "m", []string{"public.t"}, "run-1")
	require.NoError(t, err)
	return pgexec.Target{Migration: "m", Schema: "public", Table: "t", Key: []planner.KeyColumn{{Name: "id", Type: "bigint"}},
		Set: `"n" = ("v")::bigint, touched = touched + 1`, LockTimeout: time.Second}
}

func tableKeys(t *testing.T, pool *pgxpool.Pool) []int64 {
	rows, err := pool.Query(context.Background(), `SELECT id FROM t ORDER BY id`)
	require.NoError(t, err)
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	require.NoError(t, err)
	return ids
}

// Skewed keys give balanced partitions, from a sample before ANALYZE and from the
// histogram after.
func TestSplitBalancesSkewedKeys(t *testing.T) {
	pool := testPool(t)
	ctx := context.Background()
	target := skewedTable(t, pool)
	upper, err := pgexec.Upper(ctx, pool, target)
	require.NoError(t, err)
	keys := tableKeys(t, pool)

	cuts, by, err := pgexec.Split(ctx, pool, target, upper, 4)
	require.NoError(t, err)
	assert.Equal(t, pgexec.SplitSample, by, "never analyzed: a sample")
	assertBalanced(t, share(keys, cuts), 4)

	analyzeSettled(t, pool, "t", 200000)
	cuts, by, err = pgexec.Split(ctx, pool, target, upper, 4)
	require.NoError(t, err)
	assert.Equal(t, pgexec.SplitHistogram, by)
	assertBalanced(t, share(keys, cuts), 4)

	cuts, _, err = pgexec.Split(ctx, pool, target, upper, 16)
	require.NoError(t, err)
	require.Len(t, cuts, 15)
	for i, s := range share(keys, cuts) {
		assert.InDelta(t, 1.0/16, s, 0.03, "partition %d of 16", i)
	}
}

// A two-column key is split by sampling; the cuts are whole keys, in the key's order.
func TestSplitMultiColumnKeyBySample(t *testing.T) {
	pool := testPool(t)
	ctx := context.Background()
	// Tenant 1 holds 90% of the rows.
	_, err := pool.Exec(ctx, `CREATE TABLE mt (tenant int, id int, v int, n bigint, PRIMARY KEY (tenant, id)) WITH (autovacuum_enabled = false);
		INSERT INTO mt SELECT 1, g, g FROM generate_series(1, 90000) g;
		INSERT INTO mt SELECT 2 + g % 9, g, g FROM generate_series(1, 10000) g; ANALYZE mt`)
	require.NoError(t, err)
	target := pgexec.Target{Migration: "m", Schema: "public", Table: "mt",
		Key: []planner.KeyColumn{{Name: "tenant", Type: "integer"}, {Name: "id", Type: "integer"}}}
	upper, err := pgexec.Upper(ctx, pool, target)
	require.NoError(t, err)
	cuts, by, err := pgexec.Split(ctx, pool, target, upper, 4)
	require.NoError(t, err)
	assert.Equal(t, pgexec.SplitSample, by)
	require.Len(t, cuts, 3)
	prev := []string(nil)
	for i := 0; i <= len(cuts); i++ {
		where := "true"
		args := []any{}
		if prev != nil {
			where = "(tenant, id) > ($1::int, $2::int)"
			args = append(args, prev[0], prev[1])
		}
		if i < len(cuts) {
			where += fmt.Sprintf(" AND (tenant, id) <= ($%d::int, $%d::int)", len(args)+1, len(args)+2)
			args = append(args, cuts[i][0], cuts[i][1])
			prev = cuts[i]
		}
		var n float64
		require.NoError(t, pool.QueryRow(ctx, "SELECT count(*) FROM mt WHERE "+where, args...).Scan(&n))
		assert.InDelta(t, 0.25, n/100000, 0.05, "partition %d", i)
	}
}

// Four partitions backfill 200,000 rows at once while the application updates rows
// through the trigger: every row ends right, every application write is kept, and each
// partition's count is exact. One batch per partition is killed before its commit; each
// resumes from its committed cursor, so no row is updated twice.
func TestPartitionsBackfillInParallelUnderWrites(t *testing.T) {
	pool := testPool(t)
	ctx := context.Background()
	target := skewedTable(t, pool)
	upper, err := pgexec.Upper(ctx, pool, target)
	require.NoError(t, err)
	cuts, _, err := pgexec.Split(ctx, pool, target, upper, 4)
	require.NoError(t, err)
	parts, err := pgexec.PreparePartitions(ctx, pool, "m", "run-1", cuts, upper)
	require.NoError(t, err)
	require.Len(t, parts, 4)
	again, err := pgexec.PreparePartitions(ctx, pool, "m", "run-1", []pgexec.Cursor{{"5"}}, upper)
	require.NoError(t, err)
	assert.Equal(t, parts, again, "prepared twice for the same run: the first partitions stay")

	// The application: single-row updates of v, counted, until the backfill ends. The sum
	// is read before it starts, so that no counted write is in it already.
	var sumBefore int64
	require.NoError(t, pool.QueryRow(ctx, `SELECT sum(v) FROM t`).Scan(&sumBefore))
	keys := tableKeys(t, pool)
	appCtx, stopApp := context.WithCancel(ctx)
	var appWrites atomic.Int64
	var appWG sync.WaitGroup
	for w := 0; w < 2; w++ {
		appWG.Add(1)
		go func(seed uint64) {
			defer appWG.Done()
			rnd := rand.New(rand.NewPCG(seed, 1))
			for appCtx.Err() == nil {
				id := keys[rnd.IntN(len(keys))]
				// ctx, not appCtx: a write cancelled after its commit would go uncounted.
				if _, err := pool.Exec(ctx, `UPDATE t SET v = v + 1 WHERE id = $1`, id); err == nil {
					appWrites.Add(1)
				}
			}
		}(uint64(w))
	}
	var wg sync.WaitGroup
	killed := make([]bool, len(parts))
	errs := make([]error, len(parts))
	for i, p := range parts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = func() error {
				commit := pgexec.PartitionCommit("m", p.Part)
				batches := 0
				// The third batch of each partition dies after its UPDATE, before its
				// commit: the transaction rolls back with its cursor.
				kill := func(ctx context.Context, tx pgx.Tx, from, to pgexec.Cursor, rows int64, done bool) error {
					batches++
					if batches == 3 && !killed[i] {
						killed[i] = true
						return errors.New("killed")
					}
					return commit(ctx, tx, from, to, rows, done)
				}
				for {
					cur, err := pgexec.ReadPartition(ctx, pool, "m", "run-1", p.Part)
					if err != nil || cur.Done {
						return err
					}
					bf := &pgexec.Backfiller{Pool: pool, Target: target, Upper: cur.Hi, Size: 5000, Commit: kill}
					lo := cur.Cursor
					for {
						b, err := bf.Next(ctx, lo)
						if err != nil {
							break // the slice dies; the next one reads the committed cursor
						}
						if b.Done {
							break
						}
						lo = b.Cursor
					}
				}
			}()
		}()
	}
	wg.Wait()
	stopApp()
	appWG.Wait()
	for i, err := range errs {
		require.NoError(t, err, "partition %d", i)
		assert.True(t, killed[i], "partition %d had a batch killed", i)
	}
	require.Greater(t, appWrites.Load(), int64(0), "the application wrote during the backfill")

	done, err := pgexec.ReadPartitions(ctx, pool, "m", "run-1")
	require.NoError(t, err)
	var total int64
	for _, p := range done {
		assert.True(t, p.Done, "partition %d", p.Part)
		assert.Equal(t, p.Hi, p.Cursor)
		total += p.RowsDone
	}
	assert.EqualValues(t, 200000, total, "every row counted once across the partitions")

	var wrong, twice, untouched, sumAfter int64
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FILTER (WHERE n IS DISTINCT FROM v), count(*) FILTER (WHERE touched > 1),
		count(*) FILTER (WHERE touched = 0), sum(v) FROM t`).Scan(&wrong, &twice, &untouched, &sumAfter))
	assert.Zero(t, wrong, "every row's new column matches")
	assert.Zero(t, twice, "no committed batch was redone")
	assert.Zero(t, untouched, "no row was skipped")
	assert.Equal(t, sumBefore+appWrites.Load(), sumAfter, "no application write was lost")

	var cursor []string
	require.NoError(t, pool.QueryRow(ctx, `SELECT cursor FROM zdm.migrations WHERE name = 'm'`).Scan(&cursor))
	assert.Nil(t, cursor, "partition batches leave the migration's own row alone")
	st, err := pgexec.ReadProgress(ctx, pool, "m")
	require.NoError(t, err)
	assert.EqualValues(t, 200000, st.RowsDone, "progress read from the database sums the partitions")

	// A new run of the same migration starts its partitions again.
	fresh, err := pgexec.PreparePartitions(ctx, pool, "m", "run-2", []pgexec.Cursor{{"100"}}, upper)
	require.NoError(t, err)
	require.Len(t, fresh, 2)
	assert.Zero(t, fresh[1].RowsDone)
}

// On a table larger than the sample, the sample reads some of its pages only
// (TABLESAMPLE SYSTEM), and still balances skewed keys.
func TestSplitBySampledPages(t *testing.T) {
	pool := testPool(t)
	ctx := context.Background()
	target := skewedTable(t, pool)
	_, err := pool.Exec(ctx, `VACUUM t`) // reltuples known, no histogram
	require.NoError(t, err)
	upper, err := pgexec.Upper(ctx, pool, target)
	require.NoError(t, err)
	pages := scalarInt(t, pool, `SELECT relpages FROM pg_class WHERE relname = 't'`)
	defer pgexec.SetSampleSize(100, int(pages)/3)()

	cuts, by, err := pgexec.Split(ctx, pool, target, upper, 4)
	require.NoError(t, err)
	assert.Equal(t, pgexec.SplitSample, by)
	assertBalanced(t, share(tableKeys(t, pool), cuts), 4)
}

func scalarInt(t *testing.T, pool *pgxpool.Pool, sql string) int64 {
	t.Helper()
	var v int64
	require.NoError(t, pool.QueryRow(context.Background(), sql).Scan(&v))
	return v
}

// Keys that are not integers split from their histogram too, in the key type's own
// order: text (the database's collation) and uuid.
func TestSplitTextAndUUIDKeys(t *testing.T) {
	pool := testPool(t)
	ctx := context.Background()
	_, err := pool.Exec(ctx, `CREATE TABLE tk (k text PRIMARY KEY) WITH (autovacuum_enabled = false);
		INSERT INTO tk SELECT 'key-' || lpad(g::text, 6, '0') FROM generate_series(1, 50000) g;
		CREATE TABLE uk (k uuid PRIMARY KEY) WITH (autovacuum_enabled = false);
		INSERT INTO uk SELECT gen_random_uuid() FROM generate_series(1, 50000)`)
	require.NoError(t, err)
	analyzeSettled(t, pool, "tk", 50000)
	analyzeSettled(t, pool, "uk", 50000)
	for _, c := range []struct{ table, typ string }{{"tk", "text"}, {"uk", "uuid"}} {
		target := pgexec.Target{Migration: "m", Schema: "public", Table: c.table, Key: []planner.KeyColumn{{Name: "k", Type: c.typ}}}
		upper, err := pgexec.Upper(ctx, pool, target)
		require.NoError(t, err)
		cuts, by, err := pgexec.Split(ctx, pool, target, upper, 4)
		require.NoError(t, err)
		assert.Equal(t, pgexec.SplitHistogram, by, c.table)
		require.Len(t, cuts, 3, c.table)
		prev := ""
		for i := 0; i <= len(cuts); i++ {
			q := fmt.Sprintf("SELECT count(*) FROM %s WHERE true", c.table)
			var args []any
			if prev != "" {
				args = append(args, prev)
				q += fmt.Sprintf(" AND k > $1::%s", c.typ)
			}
			if i < len(cuts) {
				q += fmt.Sprintf(" AND k <= $%d::%s", len(args)+1, c.typ)
				args = append(args, cuts[i][0])
				prev = cuts[i][0]
			}
			var n float64
			require.NoError(t, pool.QueryRow(ctx, q, args...).Scan(&n))
			assert.InDelta(t, 0.25, n/50000, 0.05, "%s partition %d", c.table, i)
		}
	}
}

// A histogram from before most rows came is not trusted: the split samples instead.
func TestSplitSamplesWhenTheHistogramIsStale(t *testing.T) {
	pool := testPool(t)
	ctx := context.Background()
	_, err := pool.Exec(ctx, `CREATE TABLE t (id bigint PRIMARY KEY) WITH (autovacuum_enabled = false);
		INSERT INTO t SELECT g FROM generate_series(1, 10000) g; ANALYZE t`)
	require.NoError(t, err)
	_, err = pool.Exec(ctx, `INSERT INTO t SELECT g FROM generate_series(10001, 200000) g`)
	require.NoError(t, err)
	// The activity statistics reach pg_stat_user_tables within a second or so.
	require.Eventually(t, func() bool {
		return scalarInt(t, pool, `SELECT coalesce(n_mod_since_analyze, 0) FROM pg_stat_user_tables WHERE relname = 't'`) >= 190000
	}, 20*time.Second, 100*time.Millisecond)
	target := pgexec.Target{Migration: "m", Schema: "public", Table: "t", Key: []planner.KeyColumn{{Name: "id", Type: "bigint"}}}
	upper, err := pgexec.Upper(ctx, pool, target)
	require.NoError(t, err)
	cuts, by, err := pgexec.Split(ctx, pool, target, upper, 4)
	require.NoError(t, err)
	assert.Equal(t, pgexec.SplitSample, by)
	assertBalanced(t, share(tableKeys(t, pool), cuts), 4)
}

// analyzeSettled analyzes table once the statistics count its rows inserted: a
// backend's counts reach pg_stat_user_tables up to a second after its commit, and counts
// arriving after the ANALYZE would make its histogram look stale.
func analyzeSettled(t *testing.T, pool *pgxpool.Pool, table string, inserted int64) {
	t.Helper()
	require.Eventually(t, func() bool {
		return scalarInt(t, pool, `SELECT coalesce(sum(n_tup_ins), 0)::bigint FROM pg_stat_user_tables WHERE relname = '`+table+`'`) >= inserted
	}, 20*time.Second, 100*time.Millisecond)
	_, err := pool.Exec(context.Background(), "ANALYZE "+table)
	require.NoError(t, err)
}
