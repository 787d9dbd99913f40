package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zdmhq/zdm/internal/pgexec"
	"github.com/zdmhq/zdm/internal/spec"
)

func TestOrderFilesByLeadingNumber(t *testing.T) {
	files, err := OrderFiles("m", []string{"10_ten.yaml", "README.md", "0002-two.yml", "9_nine.yaml", "001_one.YAML", "notes.txt"})
	require.NoError(t, err)
	var names []string
	var numbers []int
	for _, f := range files {
		names = append(names, f.Name)
		numbers = append(numbers, f.Number)
	}
	assert.Equal(t, []string{"001_one.YAML", "0002-two.yml", "9_nine.yaml", "10_ten.yaml"}, names, "by number, not by name")
	assert.Equal(t, []int{1, 2, 9, 10}, numbers)
	assert.Equal(t, filepath.Join("m", "10_ten.yaml"), files[3].Path)
}

func TestOrderFilesRefusesMissingAndDuplicateNumbers(t *testing.T) {
	_, err := OrderFiles("m", []string{"001_a.yaml", "add_email.yaml", "01_b.yaml", "2_c.yaml", "002_d.yml"})
	require.Error(t, err)
	assert.Equal(t, ExitUsage, ExitCode(err))
	msg := err.Error()
	assert.Contains(t, msg, filepath.Join("m", "add_email.yaml")+" has no leading number (fix: rename it like 001_add_email.yaml")
	assert.Contains(t, msg, "001_a.yaml and 01_b.yaml share the number 1")
	assert.Contains(t, msg, "002_d.yml and 2_c.yaml share the number 2")
}

func TestStateOfComparesChecksums(t *testing.T) {
	at := time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC)
	run := func(status, sum string) *pgexec.Run {
		return &pgexec.Run{Name: "m", Status: status, Checksum: sum, StartedAt: at}
	}
	for _, c := range []struct {
		run  *pgexec.Run
		want fileState
	}{
		{nil, statePending},
		{run(pgexec.StatusCompleted, "abc"), stateApplied},
		{run(pgexec.StatusBaselined, "abc"), stateApplied},
		{run(pgexec.StatusCompleted, ""), stateApplied}, // recorded by an older zdm, without checksum
		{run(pgexec.StatusCompleted, "other"), stateEdited},
		{run(pgexec.StatusBaselined, "other"), stateEdited},
		{run(pgexec.StatusRunning, "other"), stateRunning},
		{run(pgexec.StatusFailed, "abc"), statePending},
		{run(pgexec.StatusRolledBack, "other"), statePending},
	} {
		assert.Equal(t, c.want, stateOf("abc", c.run), "%+v", c.run)
	}
	msg := editedMessage("migrations/001_a.yaml", *run(pgexec.StatusCompleted, strings.Repeat("1", 64)), strings.Repeat("2", 64))
	assert.Contains(t, msg, "migrations/001_a.yaml was edited after it was applied on ")
	assert.Contains(t, msg, "(checksum 111111111111, now 222222222222): it is not run again; restore it, or write a new migration")
}

func TestChecksumIsSHA256OfTheFile(t *testing.T) {
	assert.Equal(t, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", spec.Checksum([]byte("abc")), "SHA-256 of abc")
	content := "name: a\ntable: t\noperations:\n  - set_default: {column: c, default: \"0\"}\n"
	path := writeDirFile(t, t.TempDir(), "001_a.yaml", content)
	m, err := spec.ParseFile(path)
	require.NoError(t, err)
	assert.Equal(t, spec.Checksum([]byte(content)), m.Source.Checksum)
	m2, err := spec.Parse(path, []byte(strings.Replace(content, `"0"`, `"1"`, 1)))
	require.NoError(t, err)
	assert.NotEqual(t, m.Source.Checksum, m2.Source.Checksum, "one byte changes it")
}

func writeDirFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	require.NoError(t, os.MkdirAll(dir, 0o755))
	path := filepath.Join(dir, name)
	require.NoError(t, os.WriteFile(path, []byte(content), 0o644))
	return path
}

func TestSkeletonParsesOnceItsOperationIsUncommented(t *testing.T) {
	sk := Skeleton("add-email", "public.users")
	_, err := spec.Parse("001_add_email.yaml", []byte(sk))
	require.Error(t, err, "as written it has no operation")
	assert.Contains(t, err.Error(), "operations: needs at least one operation")

	lines := strings.Split(sk, "\n")
	uncommented := 0
	for i, l := range lines {
		if strings.HasPrefix(l, "  # - ") {
			lines[i] = strings.Replace(l, "# ", "", 1)
			uncommented++
		}
	}
	require.Equal(t, 1, uncommented, "one operation line to uncomment")
	m, err := spec.Parse("001_add_email.yaml", []byte(strings.Join(lines, "\n")))
	require.NoError(t, err)
	assert.Equal(t, "add-email", m.Name)
	assert.Equal(t, "public.users", m.Table)
	assert.Equal(t, []string{spec.GateContract}, m.Gates)
	require.Len(t, m.Operations, 1)
	assert.Equal(t, "add_column", m.Operations[0].Kind)
}

func TestNewWritesTheNextNumberedFile(t *testing.T) {
	h := newHarness(t)
	dir := filepath.Join(t.TempDir(), "db", "migrations")
	require.Equal(t, ExitOK, h.run("new", "add_email", "--dir", dir, "--table", "public.users"), h.err.String())
	assert.Contains(t, h.stdout.String(), "wrote "+filepath.Join(dir, "001_add_email.yaml"))
	data, err := os.ReadFile(filepath.Join(dir, "001_add_email.yaml"))
	require.NoError(t, err)
	assert.Contains(t, string(data), "name: add-email")
	assert.Contains(t, string(data), "table: public.users")

	writeDirFile(t, dir, "0041-big.yaml", "name: big\n")
	h.env["ZDM_MIGRATIONS_DIR"] = dir
	require.Equal(t, ExitOK, h.run("new", "drop-x"), h.err.String())
	assert.FileExists(t, filepath.Join(dir, "042_drop-x.yaml"))

	assert.Equal(t, ExitUsage, h.run("new", "Add Email"))
	assert.Contains(t, h.err.String(), `"Add Email" is not a migration name: use lower-case letters, digits, '_' and '-'`)
	assert.Equal(t, ExitUsage, h.run("new", "add_email"), "the name is taken by 001_add_email.yaml")
	assert.Contains(t, h.err.String(), "001_add_email.yaml already holds migration add-email")
	assert.Equal(t, ExitUsage, h.run("new", "_x"))
	assert.Contains(t, h.err.String(), `"_x" cannot name a migration`)

	// Where the file it would write exists (here a directory of that name), nothing is
	// overwritten.
	other := t.TempDir()
	writeDirFile(t, other, "001_a.yaml", "name: zzz\n")
	require.NoError(t, os.Mkdir(filepath.Join(other, "002_b.yaml"), 0o755))
	assert.Equal(t, ExitFailed, h.run("new", "b", "--dir", other))
	assert.Contains(t, h.err.String(), filepath.Join(other, "002_b.yaml")+" already exists: zdm new never overwrites a file")
}

// A bad file, two files naming one migration, or files without numbers stop zdm migrate
// before it asks the database anything.
func TestMigrateRefusesABadDirectoryFirst(t *testing.T) {
	h := newHarness(t)
	dir := t.TempDir()
	good := "name: %s\ntable: t\noperations:\n  - set_default: {column: c, default: \"0\"}\ngates: []\n"
	writeDirFile(t, dir, "001_a.yaml", strings.ReplaceAll(good, "%s", "a"))
	writeDirFile(t, dir, "002_b.yaml", "name: b\ntable: t\noperations:\n  - set_default: {colum: c}\n")
	writeDirFile(t, dir, "003_c.yaml", "name: c\ntable: t\n")
	assert.Equal(t, ExitUsage, h.run("migrate", dir))
	assert.Contains(t, h.err.String(), filepath.Join(dir, "002_b.yaml")+":4: operations[0].set_default.colum: unknown field")
	assert.Contains(t, h.err.String(), filepath.Join(dir, "003_c.yaml")+": operations: needs at least one operation")
	assert.Zero(t, h.dialed, "nothing started")

	require.NoError(t, os.WriteFile(filepath.Join(dir, "002_b.yaml"), []byte(strings.ReplaceAll(good, "%s", "a")), 0o644))
	require.NoError(t, os.Remove(filepath.Join(dir, "003_c.yaml")))
	assert.Equal(t, ExitUsage, h.run("migrate", dir))
	assert.Contains(t, h.err.String(), filepath.Join(dir, "001_a.yaml")+" and "+filepath.Join(dir, "002_b.yaml")+` both name migration "a"`)

	writeDirFile(t, dir, "002_b.yaml", strings.ReplaceAll(good, "%s", "b"))
	writeDirFile(t, dir, "b.yaml", strings.ReplaceAll(good, "%s", "x"))
	assert.Equal(t, ExitUsage, h.run("migrate", dir))
	assert.Contains(t, h.err.String(), "b.yaml has no leading number")

	require.NoError(t, os.Remove(filepath.Join(dir, "b.yaml")))
	assert.Equal(t, ExitUsage, h.run("migrate", dir))
	assert.Contains(t, h.err.String(), "zdm migrate reads what was applied from the database: set DATABASE_URL")

	assert.Equal(t, ExitUsage, h.run("migrate", dir, "--wait-gates", "--no-wait-gates"))
	assert.Equal(t, ExitUsage, h.run("migrate"))
	assert.Equal(t, ExitUsage, h.run("migrate", filepath.Join(dir, "missing")))
	assert.Contains(t, h.err.String(), "read the migrations directory")
	assert.Zero(t, h.dialed)
}

func TestBaselineNeedsAFileOfTheDirectory(t *testing.T) {
	h := newHarness(t)
	dir := t.TempDir()
	writeDirFile(t, dir, "001_a.yaml", "name: a\n")
	writeDirFile(t, dir, "002_b.yaml", "name: b\n")
	assert.Equal(t, ExitUsage, h.run("baseline", dir))
	assert.Contains(t, h.err.String(), "baseline needs the last file to record")
	assert.Equal(t, ExitUsage, h.run("baseline", dir, "--to", "003_c.yaml"))
	assert.Contains(t, h.err.String(), "--to 003_c.yaml is not a migration file of "+dir+" (fix: use one of 001_a.yaml, 002_b.yaml)")

	files, err := OrderFiles(dir, []string{"001_a.yaml", "002_b.yaml", "003_c.yaml"})
	require.NoError(t, err)
	upTo, err := filesUpTo(dir, files, filepath.Join(dir, "002_b.yaml"))
	require.NoError(t, err)
	assert.Len(t, upTo, 2)
	upTo, err = filesUpTo(dir, files, "001_a.yaml")
	require.NoError(t, err)
	assert.Len(t, upTo, 1)
}

func TestRenderHistory(t *testing.T) {
	at := time.Date(2026, 5, 1, 9, 0, 0, 0, time.Local)
	end := at.Add(83 * time.Second)
	out := RenderHistory([]pgexec.Run{
		{Name: "create-index", File: "001_create_index.yaml", Checksum: strings.Repeat("a", 64), Status: pgexec.StatusBaselined, StartedBy: "bob", StartedAt: at, FinishedAt: &at},
		{Name: "change-type", File: "002_change_type.yaml", Checksum: strings.Repeat("b", 64), Status: pgexec.StatusCompleted, StartedBy: "alice", StartedAt: at, FinishedAt: &end},
		{Name: "old", Status: pgexec.StatusRolledBack, StartedAt: at},
		{Name: "add-column", File: "003_add_column.yaml", Checksum: "c", Status: pgexec.StatusRunning, StartedBy: "alice", StartedAt: at},
	}, at.Add(10*time.Second))
	lines := strings.Split(strings.TrimSpace(out), "\n")
	require.Len(t, lines, 5)
	assert.Regexp(t, `^NAME\s+FILE\s+CHECKSUM\s+STATUS\s+STARTED BY\s+STARTED\s+DURATION$`, lines[0])
	assert.Regexp(t, `^create-index\s+001_create_index.yaml\s+aaaaaaaaaaaa\s+baselined\s+bob\s+2026-05-01 09:00:00\s+-$`, lines[1])
	assert.Regexp(t, `^change-type\s+002_change_type.yaml\s+bbbbbbbbbbbb\s+completed\s+alice\s+2026-05-01 09:00:00\s+1m23s$`, lines[2])
	assert.Regexp(t, `^old\s+-\s+-\s+rolled_back\s+-\s+2026-05-01 09:00:00\s+-$`, lines[3])
	assert.Regexp(t, `^add-column\s+003_add_column.yaml\s+c\s+running\s+alice\s+2026-05-01 09:00:00\s+10s so far$`, lines[4])
}

func TestRenderSequence(t *testing.T) {
	at := time.Date(2026, 5, 1, 9, 0, 0, 0, time.Local)
	pct := 42.0
	out := RenderSequence(SequenceView{Dir: "migrations", Files: []SequenceFile{
		{File: "001_a.yaml", Migration: "a", State: "applied", LastRun: &pgexec.Run{Status: pgexec.StatusCompleted, StartedBy: "alice", StartedAt: at}},
		{File: "002_b.yaml", Migration: "b", State: "applied", LastRun: &pgexec.Run{Status: pgexec.StatusBaselined, StartedBy: "bob", StartedAt: at}},
		{File: "003_c.yaml", Migration: "c", State: "edited", Checksum: strings.Repeat("2", 64), LastRun: &pgexec.Run{Status: pgexec.StatusCompleted, Checksum: strings.Repeat("1", 64), StartedAt: at}},
		{File: "004_d.yaml", Migration: "d", State: "running", Phase: "backfilling", Percent: &pct, LastRun: &pgexec.Run{Status: pgexec.StatusRunning, StartedBy: "ci", StartedAt: at}},
		{File: "005_e.yaml", Migration: "e", State: "running", Phase: "awaiting_approval", AwaitingGate: "contract"},
		{File: "006_f.yaml", Migration: "f", State: "pending", LastRun: &pgexec.Run{Status: pgexec.StatusRolledBack, StartedAt: at}},
		{File: "007_g.yaml", Migration: "g", State: "pending"},
		{File: "008_h.yaml", State: "invalid", Problem: "008_h.yaml:1: name: is required"},
	}, Gone: []pgexec.Run{{Name: "old", File: "000_old.yaml", Status: pgexec.StatusCompleted, StartedAt: at}}, Note: "Temporal did not answer"})
	lines := strings.Split(strings.TrimSpace(out), "\n")
	require.Len(t, lines, 12, out)
	assert.Equal(t, "migrations in migrations: 2 applied, 2 running, 2 pending, 1 edited, 1 invalid", lines[0])
	assert.Regexp(t, `^  001_a.yaml\s+a\s+applied\s+2026-05-01 09:00:00 by alice$`, lines[1])
	assert.Regexp(t, `^  002_b.yaml\s+b\s+applied\s+baselined 2026-05-01 09:00:00 by bob$`, lines[2])
	assert.Regexp(t, `^  003_c.yaml\s+c\s+edited\s+2026-05-01 09:00:00; checksum 111111111111, now 222222222222: restore the file, or write a new migration$`, lines[3])
	assert.Regexp(t, `^  004_d.yaml\s+d\s+running\s+backfilling 42.0% 2026-05-01 09:00:00 by ci$`, lines[4])
	assert.Regexp(t, `^  005_e.yaml\s+e\s+running\s+awaiting_approval, waits at gate contract \(zdm approve e --gate contract\)$`, lines[5])
	assert.Regexp(t, `^  006_f.yaml\s+f\s+pending\s+last run rolled_back 2026-05-01 09:00:00$`, lines[6])
	assert.Regexp(t, `^  007_g.yaml\s+g\s+pending\s*$`, lines[7])
	assert.Regexp(t, `^  008_h.yaml\s+-\s+invalid\s+008_h.yaml:1: name: is required$`, lines[8])
	assert.Equal(t, "in the history, with no file in migrations:", lines[9])
	assert.Regexp(t, `^  000_old.yaml\s+old\s+completed\s+2026-05-01 09:00:00$`, lines[10])
	assert.Equal(t, "note: Temporal did not answer", lines[11])
}
