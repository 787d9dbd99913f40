// Package demoapp is the stand-in application that zdm migrates under load.
//
// It owns the demo table (Seed, Reset) and a load generator (App) that reads
// and writes that table the way an application being migrated by zdm would:
// per operation it asks Unleash which columns to write (dual_write flag) and
// which to read (read_new flag). It counts operations, errors and latency so
// that a migration can be shown to have caused no errors and no request that
// waited longer than the lock timeout.
package demoapp

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// Defaults applied by New to zero fields of Config.
const (
	DefaultTable              = "public.customers"
	DefaultUnleashEnvironment = "development"
	DefaultRefreshInterval    = time.Second
	DefaultWorkers            = 4
	DefaultReadyTimeout       = 30 * time.Second
	// DefaultRate is what the zdm-demoapp command uses; in Config a zero Rate
	// means "as fast as possible", see DefaultConfig.
	DefaultRate = 200
)

// Mix is the share of each operation kind, in parts of the sum of all three.
type Mix struct {
	Reads, Updates, Inserts int
}

// DefaultMix is 60% reads, 30% updates, 10% inserts.
var DefaultMix = Mix{Reads: 60, Updates: 30, Inserts: 10}

// Config describes where the demo app runs and how hard it works.
type Config struct {
	DatabaseURL string
	// Table is "schema.table" or "table" (schema public); default public.customers.
	Table string

	// UnleashURL is the server's base URL, e.g. http://127.0.0.1:4242; the
	// client API below it (/api/) is added here.
	UnleashURL string
	// UnleashToken is a backend (client) token, sent as the Authorization header.
	UnleashToken       string
	UnleashEnvironment string // default "development"
	// DualWriteFlag and ReadNewFlag name the two flags; an empty name counts as off.
	DualWriteFlag, ReadNewFlag string
	RefreshInterval            time.Duration // default 1s
	// ReadyTimeout bounds the wait for the first flag fetch; default 30s.
	ReadyTimeout time.Duration

	Workers int // concurrent connections doing work, default 4
	// Rate is the target operations per second across all workers; 0 means as
	// fast as possible.
	Rate int
	Mix  Mix // zero means DefaultMix
	// FaultRate makes this fraction of the reads on the new read path (read_new on)
	// fail, to show a guarded switch reverting by itself; 0 injects nothing.
	FaultRate float64

	// Logger receives Unleash client problems (each distinct message once in a
	// row); nil means slog.Default().
	Logger *slog.Logger
}

// DefaultConfig returns a Config with every default filled in, including
// Rate = DefaultRate; callers add the URLs, token and flag names.
func DefaultConfig() Config {
	return Config{
		Table:              DefaultTable,
		UnleashEnvironment: DefaultUnleashEnvironment,
		RefreshInterval:    DefaultRefreshInterval,
		ReadyTimeout:       DefaultReadyTimeout,
		Workers:            DefaultWorkers,
		Rate:               DefaultRate,
		Mix:                DefaultMix,
	}
}

func (c Config) withDefaults() Config {
	if c.Table == "" {
		c.Table = DefaultTable
	}
	if c.UnleashEnvironment == "" {
		c.UnleashEnvironment = DefaultUnleashEnvironment
	}
	if c.RefreshInterval <= 0 {
		c.RefreshInterval = DefaultRefreshInterval
	}
	if c.ReadyTimeout <= 0 {
		c.ReadyTimeout = DefaultReadyTimeout
	}
	if c.Workers <= 0 {
		c.Workers = DefaultWorkers
	}
	if c.Mix == (Mix{}) {
		c.Mix = DefaultMix
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

func (c Config) validate() error {
	var errs []error
	if c.DatabaseURL == "" {
		errs = append(errs, errors.New("DatabaseURL is empty: set DATABASE_URL"))
	}
	if c.UnleashURL == "" {
		errs = append(errs, errors.New("UnleashURL is empty: set UNLEASH_URL, e.g. http://127.0.0.1:4242"))
	}
	if c.Rate < 0 {
		errs = append(errs, fmt.Errorf("Rate %d is negative: use 0 for as fast as possible", c.Rate))
	}
	if c.Mix.Reads < 0 || c.Mix.Updates < 0 || c.Mix.Inserts < 0 {
		errs = append(errs, fmt.Errorf("Mix %+v has a negative share", c.Mix))
	}
	if err := checkFaultRate(c.FaultRate); err != nil {
		errs = append(errs, err)
	}
	if _, err := parseTable(c.Table); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// parseTable turns "schema.table" or "table" into an identifier; a bare
// table name is taken to be in schema public, which is where Seed creates it.
func parseTable(name string) (pgx.Identifier, error) {
	parts := strings.Split(name, ".")
	if len(parts) == 1 {
		parts = []string{"public", parts[0]}
	}
	if len(parts) != 2 || parts[0] == "" || parts[1] == "" {
		return nil, fmt.Errorf("table %q is not of the form schema.table", name)
	}
	return pgx.Identifier(parts), nil
}

// clientAPIURL is the URL the Unleash Go client wants: the server's /api/.
func clientAPIURL(base string) string {
	base = strings.TrimRight(base, "/")
	base = strings.TrimSuffix(base, "/api")
	return base + "/api/"
}
