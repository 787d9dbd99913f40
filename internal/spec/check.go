package spec

import (
	"fmt"
	"regexp"
	"strings"
	"time"
)

var (
	nameRE  = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]*[a-z0-9])?$`)
	identRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_$]*$`)
	flagRE  = regexp.MustCompile(`^[A-Za-z0-9._-]+$`)
	tableRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_$]*\.[A-Za-z_][A-Za-z0-9_$]*$`)
)

// CheckQuery checks that a throttle query is one SELECT. It is PostgreSQL's parser,
// set by the packages that plan (internal/ops); the workflow, which only carries the
// file, links no parser.
var CheckQuery func(string) error

// MaxNameLength keeps names of the objects zdm creates under PostgreSQL's 63-byte limit.
const MaxNameLength = 40

// Check runs every check that needs no database and returns all problems found.
func (m *Migration) Check() error {
	var errs Errors
	add := func(e *FieldError) { errs = append(errs, e) }

	switch {
	case m.Name == "":
		add(m.Errorf("name", "add a line like `name: users-email-lower`", "is required"))
	case len(m.Name) > MaxNameLength || !nameRE.MatchString(m.Name):
		add(m.Errorf("name", fmt.Sprintf("use lower-case letters, digits and dashes, at most %d characters", MaxNameLength), "%q is not a valid migration name", m.Name))
	}

	if m.Table != "" && !tableRE.MatchString(m.Table) {
		add(m.Errorf("table", "write it as schema.table or table, e.g. public.users", "%q is not a table name", m.Table))
	}

	if len(m.Operations) == 0 {
		add(m.Errorf("operations", "list at least one of "+strings.Join(OpKinds(), ", "), "needs at least one operation"))
	}
	seen := map[string]string{}
	for i, op := range m.Operations {
		if op.Op == nil {
			continue // reported where it was read
		}
		field := fmt.Sprintf("operations[%d].%s", i, op.Kind)
		switch _, free := op.Op.(Tableless); {
		case op.Table != "" && !tableRE.MatchString(op.Table):
			add(m.Errorf(field+".table", "write it as schema.table or table, e.g. public.users", "%q is not a table name", op.Table))
		case op.Table == "" && m.Table == "" && !free:
			add(m.Errorf(field, "add `table: public.users` to the operation, or a `table:` line at the top of the file for every operation", "names no table"))
		}
		op.Op.CheckFile(&OpCheck{m: m, field: field, table: m.TableOf(i), errs: &errs, seen: seen})
	}

	if b := m.Backfill.BatchSize; b < 1 || b > MaxBatchSize {
		add(m.Errorf("backfill.batch_size", fmt.Sprintf("use a number from 1 to %d (10000 suits most tables)", MaxBatchSize), "%d is out of range", b))
	}
	if m.Backfill.MaxRowsPerSecond < 0 {
		add(m.Errorf("backfill.max_rows_per_second", "use 0 (no limit) or a positive number", "is negative"))
	}
	if p := m.Backfill.Pause.D(); p < 0 || p > time.Minute {
		add(m.Errorf("backfill.pause", "use a duration from 0 to 1m", "%s is out of range", p))
	}
	if d := m.Backfill.TargetBatchTime.D(); d < 0 || d > 10*time.Second {
		add(m.Errorf("backfill.target_batch_time", "use a duration such as 250ms (at most 10s), or leave it out", "%s is out of range", d))
	}
	if v := m.Backfill.Verify; v != "" && v != VerifySampled && v != VerifyEveryRow {
		add(m.Errorf("backfill.verify", "use sampled (each batch proves its rows; the default) or every_row (read them all again)", "%q is not a verification mode", v))
	}
	m.checkParallelism(add)
	if l := m.Backfill.MaxReplicationLag.D(); l < 0 {
		add(m.Errorf("backfill.max_replication_lag", "use a duration such as 5s, or leave it out", "is negative"))
	}
	if q := m.Backfill.ThrottleQuery; q != "" && CheckQuery != nil {
		if err := CheckQuery(q); err != nil {
			add(m.Errorf("backfill.throttle_query", "write one SELECT returning one boolean, true meaning wait", "must be a single SELECT: %s", err))
		}
	}
	if lt := m.LockTimeout.D(); lt < 10*time.Millisecond || lt > time.Minute {
		add(m.Errorf("lock_timeout", "use a duration from 10ms to 1m; the default, 50ms, bounds how long the application queues behind a DDL statement, and zdm retries until it gets the lock", "%s is out of range", lt))
	}

	if a := m.RehearsalMaxAge.D(); a < 0 || (a > 0 && a < time.Minute) {
		add(m.Errorf("rehearsal_max_age", "use a duration such as 168h (7 days, the default)", "%s is out of range", a))
	} else if a > 0 && !m.RequireRehearsal {
		add(m.Errorf("rehearsal_max_age", "add require_rehearsal: true, or remove rehearsal_max_age", "has no effect without require_rehearsal: true"))
	}

	if f := m.Flags; f != nil {
		if f.DualWrite == "" && f.ReadNew == "" {
			add(m.Errorf("flags", "name at least one of dual_write, read_new, or remove flags", "names no flag"))
		}
		for field, v := range map[string]string{"dual_write": f.DualWrite, "read_new": f.ReadNew} {
			if v != "" && (!flagRE.MatchString(v) || len(v) > 100) {
				add(m.Errorf("flags."+field, "use letters, digits, '.', '_' and '-'", "%q is not a valid Unleash flag name", v))
			}
		}
		if f.DualWrite != "" && f.DualWrite == f.ReadNew {
			add(m.Errorf("flags.read_new", "use two different flags", "is the same flag as dual_write"))
		}
		if r := f.AppRefresh.D(); r < 0 || r > 10*time.Minute {
			add(m.Errorf("flags.app_refresh", "use the applications' Unleash refresh interval, e.g. 15s", "%s is out of range", r))
		}
		if m.movesBothWays() {
			add(m.Errorf("flags", "split change_type and rename_column/add_column into two migrations",
				"one pair of flags cannot serve change_type (the new type lands under the old name) together with rename_column/add_column (the application moves to the new column)"))
		}
	}

	if err := m.checkUndoWindow(); err != nil {
		add(err)
	}
	m.checkGuard(add)
	m.checkGovernor(add)
	m.checkLatencyQuery(add)

	seenGate := map[string]bool{}
	for i, g := range m.Gates {
		field := fmt.Sprintf("gates[%d]", i)
		switch {
		case g == GateFinalize:
			if err := m.checkFinalizeGate(field); err != nil {
				add(err)
			}
		case g != GateReadNew && g != GateContract:
			add(m.Errorf(field, "use read_new, contract and/or finalize", "unknown gate %q", g))
		case seenGate[g]:
			add(m.Errorf(field, "list each gate once", "gate %q is listed twice", g))
		case g == GateReadNew && (m.Flags == nil || m.Flags.ReadNew == ""):
			add(m.Errorf(field, "name flags.read_new, or drop this gate", "gate read_new guards the read_new flag, which this migration does not name"))
		}
		seenGate[g] = true
	}
	return errs.Err()
}

// movesBothWays says whether some operations move applications to new columns while
// others land their new data under the old names: one pair of flags cannot say both.
func (m *Migration) movesBothWays() bool {
	var toNew, inPlace bool
	for _, op := range m.Operations {
		if op.Op == nil {
			continue
		}
		if mv := op.Op.Moves(); mv != nil {
			toNew = toNew || *mv
			inPlace = inPlace || !*mv
		}
	}
	return toNew && inPlace
}
