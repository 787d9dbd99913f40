package usage

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/zdmhq/zdm/internal/wire"
)

// WorkerApplication is the application_name of the zdm worker's connections: its own
// statements are never old code.
const WorkerApplication = "zdm-worker"

// Limits on what one check reports, so that the workflow's history stays small.
const (
	maxFindings = 20
	maxQuery    = 300
)

// FixInstall is how to make pg_stat_statements available. zdm does not do it itself:
// loading a library needs a server restart, and creating an extension changes a
// database beyond the migration.
const FixInstall = "add pg_stat_statements to shared_preload_libraries in postgresql.conf, restart PostgreSQL, then run CREATE EXTENSION pg_stat_statements in this database as a superuser"

// Available says, "" when zdm can read pg_stat_statements in the pool's database, else
// why it cannot, with the fix. It also returns the schema holding the view.
func Available(ctx context.Context, db *pgxpool.Pool) (reason, schemaName string, err error) {
	what, fix, schemaName, err := Availability(ctx, db)
	if err != nil || what == "" {
		return "", schemaName, err
	}
	return "cannot tell: " + what + " (fix: " + fix + ")", schemaName, nil
}

// Availability is Available's answer in parts: what is missing and the fix ("" when
// nothing is).
func Availability(ctx context.Context, db *pgxpool.Pool) (what, fix, schemaName string, err error) {
	err = db.QueryRow(ctx, `SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
		WHERE e.extname = 'pg_stat_statements'`).Scan(&schemaName)
	if errors.Is(err, pgx.ErrNoRows) {
		var dbName string
		if err := db.QueryRow(ctx, `SELECT current_database()`).Scan(&dbName); err != nil {
			return "", "", "", err
		}
		return fmt.Sprintf("pg_stat_statements is not available: the extension is not installed in database %q", dbName), FixInstall, "", nil
	}
	if err != nil {
		return "", "", "", err
	}
	_, err = db.Exec(ctx, fmt.Sprintf(`SELECT 1 FROM %s.pg_stat_statements LIMIT 0`, pgx.Identifier{schemaName}.Sanitize()))
	var pg *pgconn.PgError
	switch {
	case errors.As(err, &pg) && pg.Code == "55000":
		return "pg_stat_statements is not available: the extension is installed but the server did not load its library",
			"add pg_stat_statements to shared_preload_libraries in postgresql.conf and restart PostgreSQL", schemaName, nil
	case errors.As(err, &pg) && pg.Code == "42501":
		return "pg_stat_statements is not available: zdm's role may not read it", "GRANT pg_read_all_stats TO the worker's role", schemaName, nil
	case err != nil:
		return "", "", schemaName, err
	}
	// Other roles' statements are hidden from a role without pg_read_all_stats.
	var me string
	var hidden bool
	err = db.QueryRow(ctx, fmt.Sprintf(`SELECT current_user, EXISTS (SELECT FROM %s.pg_stat_statements
		WHERE queryid IS NULL AND dbid = (SELECT oid FROM pg_database WHERE datname = current_database()))`,
		pgx.Identifier{schemaName}.Sanitize())).Scan(&me, &hidden)
	if err != nil {
		return "", "", schemaName, err
	}
	if hidden {
		return fmt.Sprintf("role %s may not read other roles' statements in pg_stat_statements", me),
			"GRANT pg_read_all_stats TO " + pgx.Identifier{me}.Sanitize(), schemaName, nil
	}
	return "", "", schemaName, nil
}

// Check counts the calls of the statements that name retired names and, unless
// in.Snapshot, reports those whose calls rose since in.Since.
func Check(ctx context.Context, db *pgxpool.Pool, in wire.UsageInput) (wire.UsageResult, error) {
	res := wire.UsageResult{CheckedAt: time.Now().UTC()}
	retired := in.Retired
	if in.Plan != nil {
		var err error
		if retired, err = Retired(in.Plan); err != nil {
			return res, err
		}
		res.Retired = retired
	}
	if len(retired) == 0 {
		return res, nil
	}
	reason, sch, err := Available(ctx, db)
	if err != nil || reason != "" {
		res.Unavailable = reason
		return res, err
	}
	var patterns []string
	for _, r := range retired {
		name := r.Table
		if r.Column != "" {
			name = r.Column
		}
		patterns = append(patterns, "%"+likeEscape(name)+"%")
	}
	rows, err := db.Query(ctx, fmt.Sprintf(`SELECT s.queryid, s.userid::oid::bigint, s.calls, s.query, coalesce(r.rolname, s.userid::text)
		FROM %s.pg_stat_statements s LEFT JOIN pg_roles r ON r.oid = s.userid
		WHERE s.dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
		  AND (s.queryid IS NULL OR s.query ILIKE ANY ($1::text[]))`, pgx.Identifier{sch}.Sanitize()), patterns)
	if err != nil {
		return res, err
	}
	type row struct {
		qid         *int64
		uid         int64
		calls       int64
		query, user string
	}
	all, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (row, error) {
		var x row
		err := r.Scan(&x.qid, &x.uid, &x.calls, &x.query, &x.user)
		return x, err
	})
	if err != nil {
		return res, err
	}
	prev := map[[2]int64]int64{}
	for _, c := range in.Since {
		prev[[2]int64{c.QueryID, int64(c.UserID)}] = c.Calls
	}
	hidden := map[string]bool{}
	byQuery := map[int64][]int{}
	for _, x := range all {
		if x.qid == nil {
			hidden[x.user] = true
			continue
		}
		u, err := Uses(x.query, retired)
		if err != nil || u.Excluded || len(u.Names) == 0 {
			continue
		}
		res.Counts = append(res.Counts, wire.StatementCalls{QueryID: *x.qid, UserID: uint32(x.uid), Calls: x.calls})
		if in.Snapshot {
			continue
		}
		before, seen := prev[[2]int64{*x.qid, x.uid}]
		rose := x.calls - before
		if !seen || rose < 0 { // new since the last check, or the statistics were reset
			rose = x.calls
		}
		if rose <= 0 {
			continue
		}
		byQuery[*x.qid] = append(byQuery[*x.qid], len(res.Findings))
		res.Findings = append(res.Findings, wire.UsageFinding{QueryID: *x.qid, User: x.user, Query: shorten(x.query), Names: u.Names, Rose: rose})
	}
	if len(hidden) > 0 {
		var roles []string
		for r := range hidden {
			roles = append(roles, r)
		}
		sort.Strings(roles)
		var me string
		_ = db.QueryRow(ctx, `SELECT current_user`).Scan(&me)
		res.Unavailable = fmt.Sprintf("cannot tell: role %s may not read the statements of role(s) %s in pg_stat_statements (fix: GRANT pg_read_all_stats TO %s)",
			me, strings.Join(roles, ", "), pgx.Identifier{me}.Sanitize())
	}
	if len(res.Findings) > 0 {
		attachClients(ctx, db, res.Findings, byQuery)
	}
	sort.SliceStable(res.Findings, func(i, j int) bool { return res.Findings[i].Rose > res.Findings[j].Rose })
	if len(res.Findings) > maxFindings {
		res.Findings = res.Findings[:maxFindings]
	}
	return res, nil
}

// attachClients names the connections pg_stat_activity shows running each finding's
// statement now, or as their last one. Servers without query_id (before 14, or with
// compute_query_id off) leave them out.
func attachClients(ctx context.Context, db *pgxpool.Pool, findings []wire.UsageFinding, byQuery map[int64][]int) {
	var ids []int64
	for id := range byQuery {
		ids = append(ids, id)
	}
	rows, err := db.Query(ctx, `SELECT query_id, coalesce(nullif(application_name, ''), '(no application_name)'),
			coalesce(host(client_addr), 'local socket'), coalesce(usename::text, '')
		FROM pg_stat_activity
		WHERE datname = current_database() AND pid <> pg_backend_pid() AND query_id = ANY ($1) AND application_name <> $2
		ORDER BY 2, 3`, ids, WorkerApplication)
	if err != nil {
		return
	}
	defer rows.Close()
	seen := map[string]bool{}
	for rows.Next() {
		var id int64
		var app, addr, user string
		if rows.Scan(&id, &app, &addr, &user) != nil {
			return
		}
		client := fmt.Sprintf("%s from %s as %s", app, addr, user)
		for _, i := range byQuery[id] {
			key := fmt.Sprint(i, client)
			if !seen[key] && len(findings[i].Clients) < 5 {
				seen[key] = true
				findings[i].Clients = append(findings[i].Clients, client)
			}
		}
	}
}

func likeEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

func shorten(q string) string {
	q = strings.Join(strings.Fields(q), " ")
	if len(q) > maxQuery {
		q = q[:maxQuery] + "..."
	}
	return q
}
