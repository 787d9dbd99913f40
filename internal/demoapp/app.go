package demoapp

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// App is the demo application: Workers goroutines, each on its own
// connection, doing a mix of reads, updates and inserts on the demo table.
type App struct {
	cfg     Config
	table   pgx.Identifier
	poolCfg *pgxpool.Config
	stmts   map[Mode]statements
	rec     *recorder
	metrics *appMetrics
	fault   atomic.Uint64 // FaultRate's float64 bits; SetFaultRate changes it
	started atomic.Bool

	// maxID bounds the ids that reads and updates pick; inserts raise it and
	// a refresher catches up with rows other writers add.
	maxID atomic.Int64
}

// New checks cfg and fills in its defaults; it connects to nothing.
func New(cfg Config) (*App, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("demoapp: %w", err)
	}
	table, _ := parseTable(cfg.Table)
	poolCfg, err := pgxpool.ParseConfig(cfg.DatabaseURL)
	if err != nil {
		// pgx's message may quote the URL, password included.
		return nil, errors.New("demoapp: DatabaseURL is not a valid PostgreSQL connection string")
	}
	// Sent in the startup packet of every connection, so the migration's
	// lock checks and pg_stat_activity can tell the demo app's sessions apart.
	poolCfg.ConnConfig.RuntimeParams["application_name"] = "zdm-demoapp"
	poolCfg.MaxConns = int32(cfg.Workers) + 1 // +1 for the maxID refresher
	poolCfg.MinConns = int32(cfg.Workers)

	stmts := make(map[Mode]statements, len(AllModes))
	for _, m := range AllModes {
		stmts[m] = buildStatements(table, m)
	}
	a := &App{cfg: cfg, table: table, poolCfg: poolCfg, stmts: stmts, rec: newRecorder(), metrics: newAppMetrics()}
	a.fault.Store(math.Float64bits(cfg.FaultRate))
	return a, nil
}

// Stats returns a snapshot; it is safe to call at any time from any goroutine.
func (a *App) Stats() Stats { return a.rec.snapshot() }

// Run works until ctx is done and then returns nil. It returns an error only
// if it cannot start: the database or the table is not there, or Unleash
// sends no flags within ReadyTimeout. Run may be called once.
func (a *App) Run(ctx context.Context) error {
	if !a.started.CompareAndSwap(false, true) {
		return errors.New("demoapp: Run called twice")
	}
	pool, err := pgxpool.NewWithConfig(ctx, a.poolCfg)
	if err != nil {
		return fmt.Errorf("demoapp: connect to database: %w", err)
	}
	defer pool.Close()

	maxID, err := a.loadMaxID(ctx, pool)
	if err != nil {
		return err
	}
	a.maxID.Store(maxID)

	flags, err := openFlags(ctx, a.cfg, a.rec)
	if err != nil {
		return fmt.Errorf("demoapp: %w", err)
	}
	defer flags.close()

	a.rec.start(flags.mode(""), time.Now())
	defer func() { a.rec.stop(time.Now()) }()

	var p *pacer
	if a.cfg.Rate > 0 {
		p = &pacer{interval: time.Second / time.Duration(a.cfg.Rate)}
	}
	var wg sync.WaitGroup
	for range a.cfg.Workers {
		wg.Go(func() { a.work(ctx, pool, flags, p) })
	}
	wg.Go(func() { a.refreshMaxID(ctx, pool) })
	wg.Wait()
	return nil
}

func (a *App) loadMaxID(ctx context.Context, pool *pgxpool.Pool) (int64, error) {
	var id int64
	err := pool.QueryRow(ctx, `SELECT coalesce(max(id), 0) FROM `+a.table.Sanitize()).Scan(&id)
	var pgErr *pgconn.PgError
	switch {
	case errors.As(err, &pgErr) && pgErr.Code == "42P01": // undefined_table
		return 0, fmt.Errorf("demoapp: table %s does not exist: run `zdm-demoapp seed` first", a.cfg.Table)
	case err != nil:
		return 0, fmt.Errorf("demoapp: read max(id) of %s: %w", a.cfg.Table, err)
	}
	return id, nil
}

func (a *App) refreshMaxID(ctx context.Context, pool *pgxpool.Pool) {
	t := time.NewTicker(5 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		// An error here only delays noticing rows others inserted; the
		// operations themselves report anything that is really wrong.
		if id, err := a.loadMaxID(ctx, pool); err == nil {
			a.raiseMaxID(id)
		}
	}
}

func (a *App) raiseMaxID(id int64) {
	for {
		cur := a.maxID.Load()
		if id <= cur || a.maxID.CompareAndSwap(cur, id) {
			return
		}
	}
}

func (a *App) work(ctx context.Context, pool *pgxpool.Pool, flags *flagReader, p *pacer) {
	for {
		if err := p.wait(ctx); err != nil {
			return
		}
		// Both flags once per operation, so one operation is one code path. The
		// operation is a user's: a gradual rollout of read_new gives each user one
		// answer (Unleash's stickiness by userId).
		kind := a.pickKind()
		user := a.pickUser()
		mode := flags.mode(user)
		start := time.Now()
		err := a.do(ctx, pool, a.stmts[mode], kind)
		if err == nil && mode.readsNew() && kind == opRead && a.faulty() {
			err = errInjected
		}
		latency := time.Since(start)
		if err != nil && ctx.Err() != nil {
			return // cut short by shutdown: neither an operation nor an error
		}
		a.rec.op(kind, mode, latency, err)
		a.metrics.op(kind, mode, latency, err)
	}
}

func (a *App) pickKind() opKind {
	mix := a.cfg.Mix
	n := rand.IntN(mix.Reads + mix.Updates + mix.Inserts)
	switch {
	case n < mix.Reads:
		return opRead
	case n < mix.Reads+mix.Updates:
		return opUpdate
	default:
		return opInsert
	}
}

func (a *App) do(ctx context.Context, pool *pgxpool.Pool, s statements, kind opKind) error {
	maxID := a.maxID.Load()
	if maxID == 0 {
		kind = opInsert // nothing to read or update yet
	}
	switch kind {
	case opRead:
		return a.read(ctx, pool, s, 1+rand.Int64N(maxID))
	case opUpdate:
		id := 1 + rand.Int64N(maxID)
		c := customer{
			Name:    fmt.Sprintf("Customer %d", id),
			Email:   fmt.Sprintf("Customer.%d.%d@Example.com", id, rand.IntN(1000)),
			Balance: rand.Int32N(1000),
		}
		_, err := pool.Exec(ctx, s.update, append([]any{id}, writeArgs(s.mode, c)...)...)
		return err
	default:
		n := rand.IntN(1_000_000)
		c := customer{
			Name:    fmt.Sprintf("New Customer %d", n),
			Email:   fmt.Sprintf("New.Customer.%d@Example.com", n),
			Balance: int32(n % 1000),
		}
		var id int64
		if err := pool.QueryRow(ctx, s.insert, writeArgs(s.mode, c)...).Scan(&id); err != nil {
			return err
		}
		a.raiseMaxID(id)
		return nil
	}
}

// read fetches one customer. A NULL in a column the code path relies on is
// an error: it means the mode was switched before the data was there.
func (a *App) read(ctx context.Context, pool *pgxpool.Pool, s statements, id int64) error {
	var (
		gotID       int64
		name, email *string
		balance     int32
	)
	err := pool.QueryRow(ctx, s.read, id).Scan(&gotID, &name, &email, &balance)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return nil // an id lost to a failed insert: the table has gaps
	case err != nil:
		return err
	case name == nil:
		return fmt.Errorf("row id=%d: %s is NULL", id, s.readNameCol)
	case email == nil:
		return fmt.Errorf("row id=%d: %s is NULL", id, s.readEmailCol)
	}
	return nil
}

// pacer spaces operations of all workers evenly to reach a target rate. After
// a stall (say, behind a lock) it does not burst to catch up.
type pacer struct {
	interval time.Duration
	mu       sync.Mutex
	next     time.Time
}

// wait blocks until the caller's slot; a nil pacer does not wait.
func (p *pacer) wait(ctx context.Context) error {
	if p == nil {
		return ctx.Err()
	}
	p.mu.Lock()
	now := time.Now()
	if p.next.Before(now) {
		p.next = now
	}
	slot := p.next
	p.next = p.next.Add(p.interval)
	p.mu.Unlock()

	d := time.Until(slot)
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
