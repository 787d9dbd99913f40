package rehearse

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/zdmhq/zdm/internal/schema"
)

// LoadMode says where the synthetic write load's rate comes from.
type LoadMode string

const (
	LoadAuto  LoadMode = "auto"  // the source's recent write rate (pg_stat_user_tables)
	LoadOff   LoadMode = "off"   // no load
	LoadFixed LoadMode = "fixed" // a rate given on the command line
)

// Load is the --load option.
type Load struct {
	Mode LoadMode
	// Rate is the writes per second of LoadFixed.
	Rate float64
}

// ParseLoad reads "auto", "off" or "N/s".
func ParseLoad(s string) (Load, error) {
	switch s = strings.TrimSpace(s); s {
	case "", "auto":
		return Load{Mode: LoadAuto}, nil
	case "off", "0", "0/s":
		return Load{Mode: LoadOff}, nil
	}
	n, ok := strings.CutSuffix(s, "/s")
	if !ok {
		return Load{}, fmt.Errorf("--load %q: write auto, off, or a rate such as 200/s", s)
	}
	r, err := strconv.ParseFloat(n, 64)
	if err != nil || r < 0 || r > 100000 {
		return Load{}, fmt.Errorf("--load %q: the rate must be a number of writes per second from 0 to 100000, such as 200/s", s)
	}
	if r == 0 {
		return Load{Mode: LoadOff}, nil
	}
	return Load{Mode: LoadFixed, Rate: r}, nil
}

// Rates are the writes per second the load replays on one table.
type Rates struct {
	Table   string  `json:"table"`
	Inserts float64 `json:"inserts_per_second"`
	Updates float64 `json:"updates_per_second"`
	Deletes float64 `json:"deletes_per_second"`
}

func (r Rates) total() float64 { return r.Inserts + r.Updates + r.Deletes }

// sampleRates reads the source's writes to each table (n_tup_ins, n_tup_upd, n_tup_del
// of pg_stat_user_tables) twice, window apart. The statistics are the cumulative
// counters PostgreSQL's statistics system keeps; they move when transactions end (and,
// on PostgreSQL 15, are flushed about once a second), so a short window is coarse.
func sampleRates(ctx context.Context, src *pgxpool.Pool, tables []string, window time.Duration) ([]Rates, error) {
	read := func() (map[string][3]int64, error) {
		rows, err := src.Query(ctx, `SELECT schemaname || '.' || relname, n_tup_ins, n_tup_upd, n_tup_del
			FROM pg_stat_user_tables WHERE schemaname || '.' || relname = ANY($1)`, tables)
		if err != nil {
			return nil, fmt.Errorf("read pg_stat_user_tables on the source: %w", err)
		}
		out := map[string][3]int64{}
		for rows.Next() {
			var t string
			var v [3]int64
			if err := rows.Scan(&t, &v[0], &v[1], &v[2]); err != nil {
				rows.Close()
				return nil, err
			}
			out[t] = v
		}
		return out, rows.Err()
	}
	// A fresh snapshot of the statistics in each read (they are cached per transaction).
	_, _ = src.Exec(ctx, `SELECT pg_stat_clear_snapshot()`)
	a, err := read()
	if err != nil {
		return nil, err
	}
	start := time.Now()
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-time.After(window):
	}
	b, err := read()
	if err != nil {
		return nil, err
	}
	secs := time.Since(start).Seconds()
	var out []Rates
	for _, t := range tables {
		x, y := a[t], b[t]
		out = append(out, Rates{Table: t,
			Inserts: float64(y[0]-x[0]) / secs, Updates: float64(y[1]-x[1]) / secs, Deletes: float64(y[2]-x[2]) / secs})
	}
	return out, nil
}

// loadTable is the writes the load makes to one table, rebuilt when its columns change.
type loadTable struct {
	table  string
	keys   [][]any
	update string // UPDATE ... SET c = c WHERE key = $n
	insert string // INSERT ... (empty: inserts skipped)
	delete string
	// noInsert says why insert is empty.
	noInsert string
}

// load replays a write rate on the scratch database and measures each write's latency,
// from the moment it was due (so that writes queued behind a lock count their wait).
type load struct {
	pool   *pgxpool.Pool
	rates  []Rates
	notes  *[]string
	mu     sync.Mutex
	tables map[string]*loadTable
	phase  atomic.Value // string
	lat    map[string][]time.Duration
	errs   map[string]int
	last   map[string]string
	wg     sync.WaitGroup
	cancel context.CancelFunc
}

type write struct {
	table string
	kind  byte // 'i', 'u', 'd'
	due   time.Time
	phase string
}

// loadWorkers is how many connections the load writes through: writes stuck behind a
// lock do not hold up the others.
const loadWorkers = 8

func newLoad(ctx context.Context, scratch *pgxpool.Pool, rates []Rates, notes *[]string) (*load, error) {
	cfg := scratch.Config().Copy()
	cfg.MaxConns = loadWorkers
	cfg.MinConns = 0
	cfg.ConnConfig.RuntimeParams["application_name"] = "zdm-rehearse-load"
	// A write that waits this long is stuck, not slow.
	cfg.ConnConfig.RuntimeParams["statement_timeout"] = "60000"
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, err
	}
	// Connections are opened before the writes start, so that no write pays for one.
	var warm []*pgxpool.Conn
	for range loadWorkers {
		c, err := pool.Acquire(ctx)
		if err != nil {
			pool.Close()
			return nil, fmt.Errorf("connect the load to the scratch database: %w", err)
		}
		warm = append(warm, c)
	}
	for _, c := range warm {
		c.Release()
	}
	l := &load{pool: pool, rates: rates, notes: notes, tables: map[string]*loadTable{},
		lat: map[string][]time.Duration{}, errs: map[string]int{}, last: map[string]string{}}
	l.phase.Store("")
	for _, r := range rates {
		if r.total() <= 0 {
			continue
		}
		lt, err := l.build(ctx, r.Table, nil)
		if err != nil {
			pool.Close()
			return nil, err
		}
		if len(lt.keys) == 0 {
			*notes = append(*notes, fmt.Sprintf("the load leaves %s alone: the copy has no rows to update", r.Table))
			continue
		}
		if lt.insert == "" && r.Inserts > 0 {
			*notes = append(*notes, fmt.Sprintf("the load makes no inserts into %s (%.1f/s wanted): %s", r.Table, r.Inserts, lt.noInsert))
		}
		l.tables[r.Table] = lt
	}
	return l, nil
}

// build reads the table's columns in the scratch database and writes the load's
// statements for them. keys, when given, are kept; otherwise up to 5000 random keys
// are read.
func (l *load) build(ctx context.Context, table string, keys [][]any) (*loadTable, error) {
	sch, name := splitTable(table)
	t, err := schema.Inspect(ctx, l.pool, sch, name)
	if err != nil {
		return nil, err
	}
	lt := &loadTable{table: table, keys: keys}
	if len(t.Key) == 0 {
		return nil, fmt.Errorf("table %s has no primary key or unique NOT NULL column: the load cannot pick rows to update", table)
	}
	key := map[string]bool{}
	keyCols := make([]string, len(t.Key))
	for i, k := range t.Key {
		key[k] = true
		keyCols[i] = pgx.Identifier{k}.Sanitize()
	}
	ident := quoteTable(table)
	where := keyWhere(keyCols, 0)
	if lt.keys == nil {
		rows, err := l.pool.Query(ctx, "SELECT "+strings.Join(keyCols, ", ")+" FROM "+ident+" ORDER BY random() LIMIT 5000")
		if err != nil {
			return nil, fmt.Errorf("pick keys of %s for the load: %w", table, err)
		}
		lt.keys, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) ([]any, error) { return row.Values() })
		if err != nil {
			return nil, fmt.Errorf("pick keys of %s for the load: %w", table, err)
		}
	}
	// An update rewrites one column with its own value: a new row version, the table's
	// triggers (zdm's sync trigger among them) and WAL, like an application's update.
	var set string
	for _, c := range t.Columns {
		if !key[c.Name] && !c.Generated && !c.Identity {
			set = pgx.Identifier{c.Name}.Sanitize()
			break
		}
	}
	if set == "" {
		set = keyCols[0]
	}
	lt.update = "UPDATE " + ident + " SET " + set + " = " + set + " WHERE " + where
	lt.delete = "DELETE FROM " + ident + " WHERE " + where
	// An insert copies an existing row but its key, which its default gives (identity,
	// sequence): real values, every NOT NULL column filled. It is left out where that
	// cannot work: a key without a default, or another unique index the copy would break.
	var cols []string
	keyDefault := true
	for _, c := range t.Columns {
		switch {
		case key[c.Name]:
			if c.Default == "" && !c.Identity {
				keyDefault = false
			}
		case !c.Generated:
			cols = append(cols, pgx.Identifier{c.Name}.Sanitize())
		}
	}
	var unique []string
	for _, ix := range t.Indexes {
		if ix.Unique && !sameSet(ix.Columns, t.Key) {
			unique = append(unique, ix.Name)
		}
	}
	switch {
	case !keyDefault:
		lt.noInsert = fmt.Sprintf("its key (%s) has no default to give a new row its key", strings.Join(t.Key, ", "))
	case len(unique) > 0:
		lt.noInsert = fmt.Sprintf("its unique index(es) %s would refuse a copy of an existing row", strings.Join(unique, ", "))
	default:
		list := strings.Join(cols, ", ")
		lt.insert = "INSERT INTO " + ident + " (" + list + ") SELECT " + list + " FROM " + ident + " WHERE " + where
	}
	return lt, nil
}

func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	m := map[string]bool{}
	for _, x := range a {
		m[x] = true
	}
	for _, x := range b {
		if !m[x] {
			return false
		}
	}
	return true
}

func keyWhere(cols []string, first int) string {
	parts := make([]string, len(cols))
	for i, c := range cols {
		parts[i] = fmt.Sprintf("%s = $%d", c, first+i+1)
	}
	return strings.Join(parts, " AND ")
}

// start begins the writes; setPhase marks which phase the writes due from now on
// belong to.
func (l *load) start(ctx context.Context) {
	// Writes under way when the load stops finish (stop waits for them); only the
	// schedule ends at once.
	work := context.WithoutCancel(ctx)
	ctx, l.cancel = context.WithCancel(ctx)
	queue := make(chan write, 100000)
	for range loadWorkers {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for w := range queue {
				l.do(work, w)
			}
		}()
	}
	var sched sync.WaitGroup
	for _, r := range l.rates {
		if l.tables[r.Table] == nil {
			continue
		}
		for _, kr := range []struct {
			kind byte
			rate float64
		}{{'i', r.Inserts}, {'u', r.Updates}, {'d', r.Deletes}} {
			if kr.rate <= 0 || (kr.kind == 'i' && l.tables[r.Table].insert == "") {
				continue
			}
			sched.Add(1)
			go func(table string, kind byte, rate float64) {
				defer sched.Done()
				begin := time.Now()
				for sent := int64(0); ; sent++ {
					// Each write is due at its own moment: a steady rate, not bursts.
					due := begin.Add(time.Duration(float64(sent) / rate * float64(time.Second)))
					if wait := time.Until(due); wait > 0 {
						select {
						case <-ctx.Done():
							return
						case <-time.After(wait):
						}
					}
					select {
					case queue <- write{table: table, kind: kind, due: due, phase: l.phase.Load().(string)}:
					case <-ctx.Done():
						return
					}
				}
			}(r.Table, kr.kind, kr.rate)
		}
	}
	go func() {
		sched.Wait()
		close(queue)
	}()
}

func (l *load) setPhase(p string) { l.phase.Store(p) }

// do makes one write. A statement that names a column or table the migration has just
// dropped or renamed is rebuilt for the new shape and tried again, as an application
// already moved to the new columns would write.
func (l *load) do(ctx context.Context, w write) {
	// The time spent rebuilding statements is zdm's, not the database's: left out.
	var rebuilding time.Duration
	for attempt := 0; ; attempt++ {
		l.mu.Lock()
		lt := l.tables[w.table]
		l.mu.Unlock()
		var sql string
		switch w.kind {
		case 'i':
			sql = lt.insert
		case 'u':
			sql = lt.update
		default:
			sql = lt.delete
		}
		key := lt.keys[rand.IntN(len(lt.keys))]
		_, err := l.pool.Exec(ctx, sql, key...)
		var pe *pgconn.PgError
		if err != nil && attempt == 0 && errors.As(err, &pe) && (pe.Code == "42703" || pe.Code == "42P01") {
			began := time.Now()
			nt, berr := l.build(ctx, w.table, lt.keys)
			rebuilding += time.Since(began)
			if berr == nil {
				if nt.insert == "" {
					nt.insert = lt.insert
				}
				l.mu.Lock()
				l.tables[w.table] = nt
				l.mu.Unlock()
				continue
			}
		}
		took := time.Since(w.due) - rebuilding
		l.mu.Lock()
		l.lat[w.phase] = append(l.lat[w.phase], took)
		if err != nil {
			l.errs[w.phase]++
			l.last[w.phase] = pgMessage(err)
		}
		l.mu.Unlock()
		return
	}
}

// stop ends the writes and waits for those under way.
func (l *load) stop() {
	if l.cancel != nil {
		l.cancel()
	}
	l.wg.Wait()
	l.pool.Close()
}

// LoadStats are the load's writes due during one phase.
type LoadStats struct {
	Writes     int     `json:"writes"`
	Errors     int     `json:"errors,omitempty"`
	LastError  string  `json:"last_error,omitempty"`
	P99Seconds float64 `json:"p99_seconds"`
	MaxSeconds float64 `json:"max_seconds"`
}

func (l *load) stats(phase string) *LoadStats {
	l.mu.Lock()
	defer l.mu.Unlock()
	lat := append([]time.Duration(nil), l.lat[phase]...)
	if len(lat) == 0 {
		return nil
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	p99 := lat[min(len(lat)-1, int(float64(len(lat))*0.99))]
	return &LoadStats{Writes: len(lat), Errors: l.errs[phase], LastError: l.last[phase],
		P99Seconds: p99.Seconds(), MaxSeconds: lat[len(lat)-1].Seconds()}
}
