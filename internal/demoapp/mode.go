package demoapp

import (
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
)

// Mode is the application code path chosen by the two flags for one operation.
type Mode string

const (
	// ModeOld is the code before the migration: it knows only name and email.
	ModeOld Mode = "old"
	// ModeDualWrite also writes full_name and email_lower, still reads the old columns.
	ModeDualWrite Mode = "dual_write"
	// ModeDualWriteReadNew writes both and reads the new columns.
	ModeDualWriteReadNew Mode = "dual_write+read_new"
	// ModeNew is the code after contract: it never touches name.
	ModeNew Mode = "new"
)

// ModeFor maps the flags to a mode.
func ModeFor(dualWrite, readNew bool) Mode {
	switch {
	case dualWrite && readNew:
		return ModeDualWriteReadNew
	case dualWrite:
		return ModeDualWrite
	case readNew:
		return ModeNew
	default:
		return ModeOld
	}
}

// AllModes lists the modes in the order a migration passes through them.
var AllModes = []Mode{ModeOld, ModeDualWrite, ModeDualWriteReadNew, ModeNew}

func (m Mode) writesOld() bool { return m != ModeNew }
func (m Mode) writesNew() bool { return m != ModeOld }
func (m Mode) readsNew() bool  { return m == ModeDualWriteReadNew || m == ModeNew }

// customer is the values one write carries; which columns get them depends on the mode.
type customer struct {
	Name    string
	Email   string
	Balance int32
}

// statements holds the SQL of one mode, built once so that every operation
// of that mode sends the same text (and pgx can reuse its prepared statement).
type statements struct {
	mode Mode
	// read selects id, a name, an email and balance by id.
	read string
	// readNameCol and readEmailCol name the columns read returns, for error messages.
	readNameCol, readEmailCol string
	// update takes $1 = id, then the values of writeArgs.
	update string
	// insert takes the values of writeArgs and returns the new id.
	insert string
}

func buildStatements(table pgx.Identifier, m Mode) statements {
	t := table.Sanitize()
	col := func(name string) string { return pgx.Identifier{name}.Sanitize() }

	s := statements{mode: m, readNameCol: "name", readEmailCol: "email"}
	if m.readsNew() {
		s.readNameCol, s.readEmailCol = "full_name", "email_lower"
	}
	s.read = fmt.Sprintf(`SELECT id, %s, %s, balance FROM %s WHERE id = $1`,
		col(s.readNameCol), col(s.readEmailCol), t)

	cols := writeColumns(m)
	sets := make([]string, len(cols))
	params := make([]string, len(cols))
	for i, c := range cols {
		sets[i] = fmt.Sprintf("%s = $%d", col(c), i+2)
		params[i] = fmt.Sprintf("$%d", i+1)
	}
	quoted := make([]string, len(cols))
	for i, c := range cols {
		quoted[i] = col(c)
	}
	s.update = fmt.Sprintf(`UPDATE %s SET %s, updated_at = now() WHERE id = $1`,
		t, strings.Join(sets, ", "))
	s.insert = fmt.Sprintf(`INSERT INTO %s (%s) VALUES (%s) RETURNING id`,
		t, strings.Join(quoted, ", "), strings.Join(params, ", "))
	return s
}

// writeColumns are the columns a mode writes, in the order writeArgs gives values.
func writeColumns(m Mode) []string {
	var cols []string
	if m.writesOld() {
		cols = append(cols, "name")
	}
	if m.writesNew() {
		cols = append(cols, "full_name")
	}
	cols = append(cols, "email")
	if m.writesNew() {
		cols = append(cols, "email_lower")
	}
	return append(cols, "balance")
}

// writeArgs are the values for writeColumns(m): full_name repeats name, and
// email_lower is computed here, as new application code would do it.
func writeArgs(m Mode, c customer) []any {
	var args []any
	if m.writesOld() {
		args = append(args, c.Name)
	}
	if m.writesNew() {
		args = append(args, c.Name)
	}
	args = append(args, c.Email)
	if m.writesNew() {
		// The demo data is ASCII, where this agrees with PostgreSQL's lower().
		args = append(args, strings.ToLower(c.Email))
	}
	return append(args, c.Balance)
}
