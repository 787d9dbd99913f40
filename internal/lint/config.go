package lint

import (
	"bytes"
	"fmt"
	"os"
	"time"

	"github.com/goccy/go-yaml"
)

// Config is what .zdm-lint.yaml (or --config) sets.
type Config struct {
	// Disable turns rules off for every file.
	Disable []string `yaml:"disable"`
	// Levels overrides rules' levels: {drop-column: warning}.
	Levels map[string]string `yaml:"levels"`
	// SmallTable is under what a size-bound finding on an existing table is only
	// info ("harmless here"): fewer rows than Rows and, when the lock could be
	// estimated, a lock held less than Lock.
	SmallTable SmallTable `yaml:"small_table"`
}

// SmallTable is the threshold of a harmless table.
type SmallTable struct {
	Rows int64         `yaml:"rows"`
	Lock time.Duration `yaml:"lock"`
}

// DefaultConfig is the configuration without a file.
func DefaultConfig() Config {
	return Config{SmallTable: SmallTable{Rows: 10000, Lock: time.Second}}
}

// LoadConfig reads a configuration file; unknown keys, rules and levels are errors.
func LoadConfig(path string) (Config, error) {
	c := DefaultConfig()
	b, err := os.ReadFile(path)
	if err != nil {
		return c, err
	}
	if err := yaml.NewDecoder(bytes.NewReader(b), yaml.Strict()).Decode(&c); err != nil {
		return c, fmt.Errorf("%s: %v", path, err)
	}
	if err := c.Validate(); err != nil {
		return c, fmt.Errorf("%s: %v", path, err)
	}
	return c, nil
}

// Validate checks that every rule named exists and every level is one.
func (c Config) Validate() error {
	for _, r := range c.Disable {
		if ruleByID(r) == nil {
			return fmt.Errorf("disable: no rule %q (zdm lint --rules lists them)", r)
		}
	}
	for r, l := range c.Levels {
		if ruleByID(r) == nil {
			return fmt.Errorf("levels: no rule %q (zdm lint --rules lists them)", r)
		}
		if _, err := ParseLevel(l); err != nil {
			return fmt.Errorf("levels: %s: %v", r, err)
		}
	}
	if c.SmallTable.Rows < 0 || c.SmallTable.Lock < 0 {
		return fmt.Errorf("small_table: rows and lock must not be negative")
	}
	return nil
}

func (c Config) level(r *Rule) Level {
	if l, ok := c.Levels[r.ID]; ok {
		if lv, err := ParseLevel(l); err == nil {
			return lv
		}
	}
	return r.Level
}

func (c Config) disabled(id string) bool {
	for _, d := range c.Disable {
		if d == id {
			return true
		}
	}
	return false
}
