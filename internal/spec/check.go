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
)

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

	if m.Table == "" {
		add(m.Errorf("table", "add a line like `table: public.users`", "is required"))
	} else {
		parts := strings.Split(m.Table, ".")
		if len(parts) != 2 || !identRE.MatchString(parts[0]) || !identRE.MatchString(parts[1]) {
			add(m.Errorf("table", "write it as schema.table or table, e.g. public.users", "%q is not a table name", m.Table))
		}
	}

	if len(m.Operations) == 0 {
		add(m.Errorf("operations", "list at least one of change_type, add_column, rename_column", "needs at least one operation"))
	}
	seen := map[string]string{}
	claim := func(field, col string) {
		if col == "" {
			return
		}
		if prev, ok := seen[col]; ok {
			add(m.Errorf(field, "split the changes to one column into separate migrations", "column %q is already changed by %s", col, prev))
			return
		}
		seen[col] = field
	}
	for i, op := range m.Operations {
		p := fmt.Sprintf("operations[%d]", i)
		n := 0
		for _, set := range []bool{op.ChangeType != nil, op.AddColumn != nil, op.RenameColumn != nil} {
			if set {
				n++
			}
		}
		if n != 1 {
			add(m.Errorf(p, "give each list item exactly one of change_type, add_column, rename_column", "has %d operations", n))
			continue
		}
		p += "." + op.Kind()
		ident := func(field, v string) {
			switch {
			case v == "":
				add(m.Errorf(p+"."+field, "add the "+field+" field", "is required"))
			case !identRE.MatchString(v) || len(v) > 50:
				add(m.Errorf(p+"."+field, "use a plain column name (letters, digits, _; at most 50 characters)", "%q is not a column name zdm can manage", v))
			case strings.HasPrefix(v, "_zdm"):
				add(m.Errorf(p+"."+field, "choose a name that does not start with _zdm", "%q is reserved for zdm's own columns", v))
			}
		}
		required := func(field, v, example string) {
			if strings.TrimSpace(v) == "" {
				add(m.Errorf(p+"."+field, "add it, e.g. "+example, "is required"))
			}
		}
		switch {
		case op.ChangeType != nil:
			ident("column", op.ChangeType.Column)
			required("type", op.ChangeType.Type, "`type: bigint`")
			claim(p+".column", op.ChangeType.Column)
		case op.AddColumn != nil:
			ident("column", op.AddColumn.Column)
			required("type", op.AddColumn.Type, "`type: text`")
			required("backfill", op.AddColumn.Backfill, "`backfill: \"lower(email)\"`")
			claim(p+".column", op.AddColumn.Column)
		case op.RenameColumn != nil:
			ident("column", op.RenameColumn.Column)
			ident("to", op.RenameColumn.To)
			claim(p+".column", op.RenameColumn.Column)
			claim(p+".to", op.RenameColumn.To)
			if op.RenameColumn.Column != "" && op.RenameColumn.Column == op.RenameColumn.To {
				add(m.Errorf(p+".to", "give the new name", "is the same as column"))
			}
		}
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
	if l := m.Backfill.MaxReplicationLag.D(); l < 0 {
		add(m.Errorf("backfill.max_replication_lag", "use a duration such as 5s, or leave it out", "is negative"))
	}
	if q := m.Backfill.ThrottleQuery; q != "" && (strings.Contains(q, ";") || !strings.HasPrefix(strings.ToLower(strings.TrimSpace(q)), "select")) {
		add(m.Errorf("backfill.throttle_query", "write one SELECT returning one boolean, true meaning wait", "must be a single SELECT"))
	}
	if lt := m.LockTimeout.D(); lt < 10*time.Millisecond || lt > time.Minute {
		add(m.Errorf("lock_timeout", "use a duration from 10ms to 1m; 500ms keeps the application safe", "%s is out of range", lt))
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
		if m.changesTypeAndMoves() {
			add(m.Errorf("flags", "split change_type and rename_column/add_column into two migrations",
				"one pair of flags cannot serve change_type (the new type lands under the old name) together with rename_column/add_column (the application moves to the new column)"))
		}
	}

	seenGate := map[string]bool{}
	for i, g := range m.Gates {
		field := fmt.Sprintf("gates[%d]", i)
		switch {
		case g != GateReadNew && g != GateContract:
			add(m.Errorf(field, "use read_new and/or contract", "unknown gate %q", g))
		case seenGate[g]:
			add(m.Errorf(field, "list each gate once", "gate %q is listed twice", g))
		case g == GateReadNew && (m.Flags == nil || m.Flags.ReadNew == ""):
			add(m.Errorf(field, "name flags.read_new, or drop this gate", "gate read_new guards the read_new flag, which this migration does not name"))
		}
		seenGate[g] = true
	}
	return errs.Err()
}

func (m *Migration) changesTypeAndMoves() bool {
	var ct, moves bool
	for _, op := range m.Operations {
		ct = ct || op.ChangeType != nil
		moves = moves || op.AddColumn != nil || op.RenameColumn != nil
	}
	return ct && moves
}
