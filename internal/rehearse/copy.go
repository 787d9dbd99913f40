package rehearse

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// TableCopy is what was copied of one table.
type TableCopy struct {
	Table string `json:"table"`
	// Sampled says whether only a sample of its rows was copied.
	Sampled bool `json:"sampled"`
	// SourceRows is the source's row count: PostgreSQL's estimate (pg_class.reltuples)
	// for a sampled table, which zdm does not count on the source; the exact count of
	// what was copied otherwise.
	SourceRows int64   `json:"source_rows"`
	CopiedRows int64   `json:"copied_rows"`
	Bytes      int64   `json:"bytes"`
	Seconds    float64 `json:"seconds"`
}

// copier copies the migration's tables from the source into the scratch database.
type copier struct {
	src, dst  *pgxpool.Pool
	sourceDSN string
	notes     *[]string
}

// pgDumpFor finds pg_dump of the source server's major version on PATH.
func pgDumpFor(ctx context.Context, src *pgxpool.Pool) (string, error) {
	var num int
	if err := src.QueryRow(ctx, `SELECT current_setting('server_version_num')::int`).Scan(&num); err != nil {
		return "", fmt.Errorf("read the source's version: %w", err)
	}
	major := num / 10000
	path, err := exec.LookPath("pg_dump")
	if err != nil {
		return "", fmt.Errorf("pg_dump is not on PATH: zdm rehearse copies the tables' schema with it (fix: install postgresql-client-%d)", major)
	}
	out, err := exec.CommandContext(ctx, path, "--version").Output()
	if err != nil {
		return "", fmt.Errorf("run pg_dump --version: %w", err)
	}
	m := regexp.MustCompile(`(\d+)(\.\d+)?`).FindSubmatch(out)
	if m == nil {
		return "", fmt.Errorf("pg_dump --version said %q: cannot tell its version", strings.TrimSpace(string(out)))
	}
	if v, _ := strconv.Atoi(string(m[1])); v != major {
		return "", fmt.Errorf("pg_dump on PATH is version %d, the source server %d: its schema-only dump must come from the same major version (fix: put PostgreSQL %d's pg_dump first on PATH, e.g. install postgresql-client-%d)", v, major, major, major)
	}
	return path, nil
}

// dumpEnv passes the source's connection to pg_dump through libpq's environment, so
// that no password appears in a process list.
func dumpEnv(dsn string) ([]string, error) {
	cfg, err := pgconn.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("DATABASE_URL is not a valid connection string")
	}
	env := os.Environ()
	env = append(env, "PGHOST="+cfg.Host, fmt.Sprintf("PGPORT=%d", cfg.Port), "PGUSER="+cfg.User,
		"PGPASSWORD="+cfg.Password, "PGDATABASE="+cfg.Database, "PGAPPNAME=zdm-rehearse")
	if mode := sslMode(dsn); mode != "" {
		env = append(env, "PGSSLMODE="+mode)
	}
	return env, nil
}

func sslMode(dsn string) string {
	if u, err := url.Parse(dsn); err == nil && (u.Scheme == "postgres" || u.Scheme == "postgresql") {
		return u.Query().Get("sslmode")
	}
	if m := regexp.MustCompile(`(?:^|\s)sslmode\s*=\s*'?([a-z-]+)`).FindStringSubmatch(dsn); m != nil {
		return m[1]
	}
	return ""
}

// dumpSection runs pg_dump --schema-only for one section of the tables and returns its
// statements, without psql's meta-commands and comments.
func (c *copier) dumpSection(ctx context.Context, pgDump, section string, tables []string) ([]string, error) {
	args := []string{"--schema-only", "--section=" + section, "--no-owner", "--no-publications", "--no-subscriptions", "--no-security-labels"}
	for _, t := range tables {
		sch, name := splitTable(t)
		args = append(args, "-t", quotePattern(sch)+"."+quotePattern(name))
	}
	env, err := dumpEnv(c.sourceDSN)
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, pgDump, args...)
	cmd.Env = env
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("pg_dump --schema-only --section=%s: %v: %s", section, err, strings.TrimSpace(stderr.String()))
	}
	return splitDump(out), nil
}

// quotePattern makes a name an exact pg_dump pattern.
func quotePattern(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

// splitDump splits pg_dump's plain output into statements. A schema-only dump of tables
// has no function bodies, so a statement ends at a line ending with a semicolon.
func splitDump(out []byte) []string {
	var stmts []string
	var cur strings.Builder
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1024*1024), 64*1024*1024)
	for sc.Scan() {
		line := sc.Text()
		if cur.Len() == 0 && (strings.HasPrefix(line, "--") || strings.HasPrefix(line, `\`) || strings.TrimSpace(line) == "") {
			continue
		}
		cur.WriteString(line)
		cur.WriteByte('\n')
		if strings.HasSuffix(strings.TrimSpace(line), ";") {
			stmts = append(stmts, strings.TrimSpace(cur.String()))
			cur.Reset()
		}
	}
	return stmts
}

// optional says whether a statement of the dump may fail without spoiling the
// rehearsal: privileges for roles the scratch cluster lacks, triggers and policies
// calling functions not copied, comments. Anything else (the table, its key, its
// indexes, its checks) must be there, or the rehearsal would measure another table.
func optional(stmt string) bool {
	s := strings.ToUpper(stmt)
	for _, p := range []string{"GRANT ", "REVOKE ", "COMMENT ", "CREATE TRIGGER ", "CREATE CONSTRAINT TRIGGER ", "CREATE POLICY ",
		"ALTER TABLE ONLY", "CREATE RULE ", "CREATE STATISTICS ", "SECURITY LABEL ", "ALTER DEFAULT PRIVILEGES"} {
		if strings.HasPrefix(s, p) {
			// ALTER TABLE ONLY ... ADD CONSTRAINT: only a foreign key is optional.
			if p == "ALTER TABLE ONLY" {
				return strings.Contains(s, " FOREIGN KEY ") || strings.Contains(s, "ENABLE ROW LEVEL SECURITY") || strings.Contains(s, "FORCE ROW LEVEL SECURITY")
			}
			return true
		}
	}
	return false
}

// apply runs the dump's statements on one connection of the scratch database (they
// set search_path and other session settings for the ones after).
func (c *copier) apply(ctx context.Context, stmts []string) error {
	// The dump empties search_path and changes other session settings: its connection
	// is taken out of the pool and closed, never handed to anything else.
	pooled, err := c.dst.Acquire(ctx)
	if err != nil {
		return err
	}
	conn := pooled.Hijack()
	defer conn.Close(context.WithoutCancel(ctx))
	for _, s := range stmts {
		_, err := conn.Exec(ctx, s)
		if err == nil {
			continue
		}
		var pe *pgconn.PgError
		isFK := strings.Contains(strings.ToUpper(s), " FOREIGN KEY ")
		switch {
		case isFK && errors.As(err, &pe) && pe.Code == "23503":
			// A sample keeps some children whose parent it left out: the constraint is
			// added NOT VALID, so that it still checks every row written from now on.
			nv := strings.TrimSuffix(strings.TrimSpace(s), ";") + " NOT VALID"
			if _, err2 := conn.Exec(ctx, nv); err2 != nil {
				*c.notes = append(*c.notes, fmt.Sprintf("left out (%v): %s", err2, firstLine(s)))
				continue
			}
			*c.notes = append(*c.notes, "added NOT VALID, because the sample left out parent rows: "+firstLine(s))
		case optional(s):
			*c.notes = append(*c.notes, fmt.Sprintf("left out of the copy (%s): %s", pgMessage(err), firstLine(s)))
		default:
			return fmt.Errorf("copy the schema: %s: %w", firstLine(s), err)
		}
	}
	return nil
}

func pgMessage(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Message
	}
	return err.Error()
}

func firstLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 160 {
		s = s[:157] + "..."
	}
	return s
}

// typeDeps creates in the scratch database the schemas, enum types, domains and
// extensions the tables' columns use, which pg_dump -t leaves out. What already exists
// there is left as it is.
func (c *copier) typeDeps(ctx context.Context, tables []string) error {
	rows, err := c.src.Query(ctx, `
		WITH cols AS (
			SELECT DISTINCT CASE WHEN t.typcategory = 'A' THEN t.typelem ELSE t.oid END AS typ
			FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
			WHERE a.attrelid = ANY(SELECT to_regclass(x) FROM unnest($1::text[]) x) AND a.attnum > 0 AND NOT a.attisdropped)
		SELECT n.nspname, t.typname, t.typtype::text,
			coalesce((SELECT e.extname FROM pg_depend d JOIN pg_extension e ON e.oid = d.refobjid
				WHERE d.classid = 'pg_type'::regclass AND d.objid = t.oid AND d.deptype = 'e' LIMIT 1), ''),
			coalesce((SELECT array_agg(quote_literal(l.enumlabel) ORDER BY l.enumsortorder) FROM pg_enum l WHERE l.enumtypid = t.oid), '{}'),
			coalesce(CASE WHEN t.typtype = 'd' THEN format_type(t.typbasetype, t.typtypmod) END, ''),
			t.typnotnull, coalesce(pg_get_expr(t.typdefaultbin, 0), ''),
			coalesce((SELECT array_agg(pg_get_constraintdef(k.oid) ORDER BY k.conname) FROM pg_constraint k WHERE k.contypid = t.oid), '{}')
		FROM cols JOIN pg_type t ON t.oid = cols.typ JOIN pg_namespace n ON n.oid = t.typnamespace
		WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')
		ORDER BY t.typtype DESC`, tables)
	if err != nil {
		return fmt.Errorf("read the types of the tables' columns: %w", err)
	}
	type dep struct {
		schema, name, kind, ext, base, def string
		labels, checks                     []string
		notNull                            bool
	}
	deps, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (dep, error) {
		var d dep
		err := row.Scan(&d.schema, &d.name, &d.kind, &d.ext, &d.labels, &d.base, &d.notNull, &d.def, &d.checks)
		return d, err
	})
	if err != nil {
		return fmt.Errorf("read the types of the tables' columns: %w", err)
	}
	schemas := map[string]bool{}
	for _, t := range tables {
		sch, _ := splitTable(t)
		schemas[sch] = true
	}
	for _, d := range deps {
		schemas[d.schema] = true
	}
	for sch := range schemas {
		if _, err := c.dst.Exec(ctx, "CREATE SCHEMA IF NOT EXISTS "+pgx.Identifier{sch}.Sanitize()); err != nil {
			return fmt.Errorf("create schema %s in the scratch database: %w", sch, err)
		}
	}
	for _, d := range deps {
		ident := pgx.Identifier{d.schema, d.name}.Sanitize()
		var exists bool
		if err := c.dst.QueryRow(ctx, `SELECT to_regtype($1) IS NOT NULL`, ident).Scan(&exists); err != nil {
			return err
		}
		if exists {
			continue
		}
		var sql string
		switch {
		case d.ext != "":
			sql = "CREATE EXTENSION IF NOT EXISTS " + pgx.Identifier{d.ext}.Sanitize() + " SCHEMA " + pgx.Identifier{d.schema}.Sanitize()
		case d.kind == "e":
			sql = "CREATE TYPE " + ident + " AS ENUM (" + strings.Join(d.labels, ", ") + ")"
		case d.kind == "d":
			sql = "CREATE DOMAIN " + ident + " AS " + d.base
			if d.def != "" {
				sql += " DEFAULT " + d.def
			}
			if d.notNull {
				sql += " NOT NULL"
			}
			for _, ch := range d.checks {
				sql += " " + ch
			}
		default:
			*c.notes = append(*c.notes, fmt.Sprintf("type %s (kind %s) is not copied: create it in the scratch database first if the copy fails", ident, d.kind))
			continue
		}
		if _, err := c.dst.Exec(ctx, sql); err != nil {
			return fmt.Errorf("create type %s in the scratch database: %w", ident, err)
		}
	}
	return nil
}

// copyRows streams the rows of one table (a sample of pct percent of its pages when
// pct < 100) from the source into the scratch database's copy, COPY to COPY in binary,
// through a pipe: nothing is held in memory. src is the source transaction (repeatable
// read, read only), so that every table is copied as of one moment.
func copyRows(ctx context.Context, src pgx.Tx, dst *pgxpool.Pool, table string, pct float64) (rows, bytesCopied int64, err error) {
	sch, name := splitTable(table)
	ident := pgx.Identifier{sch, name}.Sanitize()
	crow, err := src.Query(ctx, `SELECT attname FROM pg_attribute WHERE attrelid = $1::regclass AND attnum > 0
		AND NOT attisdropped AND attgenerated = '' ORDER BY attnum`, ident)
	if err != nil {
		return 0, 0, err
	}
	names, err := pgx.CollectRows(crow, pgx.RowTo[string])
	if err != nil {
		return 0, 0, fmt.Errorf("read the columns of %s: %w", table, err)
	}
	cols := make([]string, len(names))
	for i, n := range names {
		cols[i] = pgx.Identifier{n}.Sanitize()
	}
	list := strings.Join(cols, ", ")
	from := ident
	if pct < 100 {
		from += fmt.Sprintf(" TABLESAMPLE SYSTEM (%s)", strconv.FormatFloat(pct, 'f', -1, 64))
	}
	conn, err := dst.Acquire(ctx)
	if err != nil {
		return 0, 0, err
	}
	defer conn.Release()
	pr, pw := io.Pipe()
	counted := &countingWriter{w: pw}
	done := make(chan error, 1)
	go func() {
		_, err := src.Conn().PgConn().CopyTo(ctx, counted, "COPY (SELECT "+list+" FROM "+from+") TO STDOUT (FORMAT binary)")
		pw.CloseWithError(err)
		done <- err
	}()
	tag, err := conn.Conn().PgConn().CopyFrom(ctx, pr, "COPY "+ident+" ("+list+") FROM STDIN (FORMAT binary)")
	pr.CloseWithError(err)
	if srcErr := <-done; srcErr != nil && err == nil {
		err = srcErr
	}
	if err != nil {
		return 0, 0, fmt.Errorf("copy the rows of %s: %w", table, err)
	}
	return tag.RowsAffected(), counted.n, nil
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// setSequences moves every sequence a copied column owns past both the copy's largest
// value and the source sequence's own position, so that inserts in the scratch database
// never collide with copied keys.
func setSequences(ctx context.Context, src, dst *pgxpool.Pool, table string) error {
	rows, err := dst.Query(ctx, `SELECT s.oid::regclass::text, n.nspname, s.relname, a.attname
		FROM pg_depend d JOIN pg_class s ON s.oid = d.objid AND s.relkind = 'S'
		JOIN pg_namespace n ON n.oid = s.relnamespace
		JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
		WHERE d.classid = 'pg_class'::regclass AND d.refobjid = $1::regclass AND d.deptype IN ('a', 'i')`, quoteTable(table))
	if err != nil {
		return err
	}
	type seq struct{ ident, schema, name, col string }
	seqs, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (seq, error) {
		var s seq
		err := row.Scan(&s.ident, &s.schema, &s.name, &s.col)
		return s, err
	})
	if err != nil {
		return fmt.Errorf("read the sequences of %s: %w", table, err)
	}
	for _, s := range seqs {
		var last *int64
		// pg_sequences shows NULL where the role may not read the sequence.
		_ = src.QueryRow(ctx, `SELECT last_value FROM pg_sequences WHERE schemaname = $1 AND sequencename = $2`, s.schema, s.name).Scan(&last)
		var from int64
		if last != nil {
			from = *last
		}
		_, err := dst.Exec(ctx, `SELECT setval($1::regclass, greatest(coalesce((SELECT max(`+pgx.Identifier{s.col}.Sanitize()+`)::bigint FROM `+quoteTable(table)+`), 0), $2::bigint, 1))`, s.ident, from)
		if err != nil {
			return fmt.Errorf("set sequence %s past the copied rows: %w", s.ident, err)
		}
	}
	return nil
}

// sourceRows is the source's row count of table: its estimate when estimate is set
// and PostgreSQL has one (never a count(*) over production for a sample), else a count.
func sourceRows(ctx context.Context, q interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}, table string, estimate bool) (int64, error) {
	if estimate {
		var est float64
		if err := q.QueryRow(ctx, `SELECT reltuples::float8 FROM pg_class WHERE oid = $1::regclass`, quoteTable(table)).Scan(&est); err != nil {
			return 0, err
		}
		if est >= 0 {
			return int64(est), nil
		}
	}
	var n int64
	err := q.QueryRow(ctx, `SELECT count(*) FROM `+quoteTable(table)).Scan(&n)
	return n, err
}

func splitTable(t string) (string, string) {
	if i := strings.IndexByte(t, '.'); i >= 0 {
		return t[:i], t[i+1:]
	}
	return "public", t
}

func quoteTable(t string) string {
	sch, name := splitTable(t)
	return pgx.Identifier{sch, name}.Sanitize()
}

func since(t time.Time) float64 { return time.Since(t).Seconds() }
