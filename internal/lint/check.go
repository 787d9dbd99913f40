package lint

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	pg_query "github.com/pganalyze/pg_query_go/v6"
)

// checker walks one script in order, keeping what earlier statements did: the
// transaction it is in, lock_timeout, the tables it created, the checks it validated.
type checker struct {
	ctx  context.Context
	sc   *script
	cfg  Config
	live *liveInfo
	off  disabled
	out  []Finding

	inTx           bool
	sessionTimeout bool // SET lock_timeout (session), not reset since
	localTimeout   bool // SET LOCAL lock_timeout in the current transaction
	// statementTimeout is the statement_timeout set (session or local), "" for none:
	// it bounds a lock wait too, but only by killing the statement it allows.
	sessionStatementTimeout, localStatementTimeout string
	// added are the columns ADD COLUMN added in this file, with their type, by
	// table.column: a backfill of one is what zdm's add_column does in batches.
	added      map[string]string
	created    map[string]bool
	createdIdx map[string]bool
	// exclusive are the existing tables locked ACCESS EXCLUSIVE in the current
	// transaction, in order.
	exclusive []string
	// checks are CHECK constraints on "col IS NOT NULL" by table.column: name and
	// whether validated.
	checks map[string]*notNullCheck
	hasDDL bool
}

type notNullCheck struct {
	name      string
	validated bool
}

func checkScript(ctx context.Context, sc *script, cfg Config, live *liveInfo) ([]Finding, error) {
	c := &checker{ctx: ctx, sc: sc, cfg: cfg, live: live, off: sc.disabled(),
		created: map[string]bool{}, createdIdx: map[string]bool{}, checks: map[string]*notNullCheck{}, added: map[string]string{}}
	for _, m := range sc.metas {
		c.report(&stmt{pos: m}, "psql-meta-command", "", "psql meta-command "+firstWord(m.text)+" skipped: the server never sees it",
			"psql runs it, not PostgreSQL: a tool that sends the file to the server (zdm, a framework's runner) fails on it or does something else", "", false)
	}
	for _, s := range sc.stmts {
		if isDDL(s.node) {
			c.hasDDL = true
		}
	}
	for _, s := range sc.stmts {
		if err := c.statement(s); err != nil {
			return nil, err
		}
	}
	return c.out, nil
}

func firstWord(s string) string {
	if f := strings.Fields(s); len(f) > 0 {
		return f[0]
	}
	return s
}

// isDDL says whether a statement changes the schema.
func isDDL(n *pg_query.Node) bool {
	switch {
	case n.GetAlterTableStmt() != nil, n.GetCreateStmt() != nil, n.GetIndexStmt() != nil, n.GetDropStmt() != nil,
		n.GetRenameStmt() != nil, n.GetAlterEnumStmt() != nil, n.GetCreateEnumStmt() != nil, n.GetCreateTrigStmt() != nil,
		n.GetCreateFunctionStmt() != nil, n.GetViewStmt() != nil:
		return true
	}
	return false
}

// tableName is a relation as written, schema-qualified only when it was.
func tableName(r *pg_query.RangeVar) string {
	if r.GetSchemaname() != "" {
		return r.GetSchemaname() + "." + r.GetRelname()
	}
	return r.GetRelname()
}

// key is how a table is remembered: public is the schema of an unqualified name.
func key(name string) string {
	name = strings.ToLower(name)
	return strings.TrimPrefix(name, "public.")
}

func (c *checker) isNew(table string) bool { return table != "" && c.created[key(table)] }

func (c *checker) statementTimeout() string {
	if c.inTx && c.localStatementTimeout != "" {
		return c.localStatementTimeout
	}
	return c.sessionStatementTimeout
}

// referencedExisting is an existing table a statement's foreign keys reference.
func (c *checker) referencedExisting(s *stmt) string {
	var refs []string
	collect := func(con *pg_query.Constraint) {
		if con.GetContype() == pg_query.ConstrType_CONSTR_FOREIGN {
			refs = append(refs, tableName(con.GetPktable()))
		}
	}
	switch n := s.node; {
	case n.GetCreateStmt() != nil:
		for _, e := range n.GetCreateStmt().GetTableElts() {
			collect(e.GetConstraint())
			for _, k := range e.GetColumnDef().GetConstraints() {
				collect(k.GetConstraint())
			}
		}
	case n.GetAlterTableStmt() != nil:
		for _, cmd := range n.GetAlterTableStmt().GetCmds() {
			def := cmd.GetAlterTableCmd().GetDef()
			collect(def.GetConstraint())
			for _, k := range def.GetColumnDef().GetConstraints() {
				collect(k.GetConstraint())
			}
		}
	}
	for _, r := range refs {
		if !c.isNew(r) {
			return r
		}
	}
	return ""
}

func (c *checker) hasLockTimeout() bool { return c.sessionTimeout || (c.inTx && c.localTimeout) }

func (c *checker) statement(s *stmt) error {
	n := s.node
	switch {
	case n.GetTransactionStmt() != nil:
		switch n.GetTransactionStmt().GetKind() {
		case pg_query.TransactionStmtKind_TRANS_STMT_BEGIN, pg_query.TransactionStmtKind_TRANS_STMT_START:
			c.inTx, c.exclusive, c.localTimeout, c.localStatementTimeout = true, nil, false, ""
		case pg_query.TransactionStmtKind_TRANS_STMT_COMMIT, pg_query.TransactionStmtKind_TRANS_STMT_ROLLBACK,
			pg_query.TransactionStmtKind_TRANS_STMT_PREPARE:
			c.inTx, c.exclusive, c.localTimeout, c.localStatementTimeout = false, nil, false, ""
		}
		return nil
	case n.GetVariableSetStmt() != nil:
		c.setting(n.GetVariableSetStmt())
		return nil
	}
	table := c.lockedTable(s)
	waitsOn := table
	if table == "" || c.isNew(table) {
		waitsOn = c.referencedExisting(s) // a new table's foreign key locks the table it references
	}
	if waitsOn != "" && !c.isNew(waitsOn) && !c.hasLockTimeout() && s.desc.Lock != "" && !strings.Contains(s.desc.Lock, "SHARE UPDATE EXCLUSIVE") {
		f := c.report(s, "missing-lock-timeout", waitsOn, fmt.Sprintf("%s locks %s with no lock_timeout set before it", s.desc.Kind, waitsOn),
			"while it waits for its lock behind any running transaction on the table, every new query on the table waits behind it: a queued DDL statement stops the application as surely as a held one",
			"SET lock_timeout = '2s';  -- before it, in the same session (or SET LOCAL inside the transaction); retry on SQLSTATE 55P03\n"+s.text+";", false)
		if st := c.statementTimeout(); f != nil && st != "" {
			f.Level = min(f.Level, Warning)
			f.Message += fmt.Sprintf(" (statement_timeout %s bounds the wait, and the application's queue behind it, to that)", st)
		}
	}
	if c.inTx && table != "" && !c.isNew(table) && strings.HasPrefix(s.desc.Lock, "ACCESS EXCLUSIVE") && s.node.GetDropStmt().GetRemoveType() != pg_query.ObjectType_OBJECT_INDEX {
		if !contains(c.exclusive, key(table)) {
			c.exclusive = append(c.exclusive, key(table))
			if len(c.exclusive) == 2 {
				c.report(s, "several-exclusive-locks-in-transaction", table,
					fmt.Sprintf("%s is the second table locked ACCESS EXCLUSIVE in this transaction (after %s)", table, c.exclusive[0]),
					"each lock is held until COMMIT, so the first table stays blocked while the second waits for and holds its own; another transaction locking them in the other order deadlocks",
					"COMMIT after the statements on one table, then BEGIN again for the next: one table per transaction", false)
			}
		}
	}
	c.idempotent(s, table)
	switch {
	case n.GetCreateStmt() != nil:
		c.createTable(s, n.GetCreateStmt())
	case n.GetCreateTableAsStmt() != nil:
		c.created[key(tableName(n.GetCreateTableAsStmt().GetInto().GetRel()))] = true
	case n.GetAlterTableStmt() != nil:
		c.alterTable(s, n.GetAlterTableStmt())
	case n.GetIndexStmt() != nil:
		c.createIndex(s, n.GetIndexStmt())
	case n.GetDropStmt() != nil:
		c.drop(s, n.GetDropStmt())
	case n.GetReindexStmt() != nil:
		c.reindex(s, n.GetReindexStmt())
	case n.GetRenameStmt() != nil:
		c.rename(s, n.GetRenameStmt())
	case n.GetVacuumStmt() != nil:
		if s.desc.Kind == "VACUUM FULL" {
			for _, r := range n.GetVacuumStmt().GetRels() {
				t := tableName(r.GetVacuumRelation().GetRelation())
				if c.isNew(t) {
					continue
				}
				c.reportSized(s, "vacuum-full", t, "VACUUM FULL "+t+" rewrites the table", true,
					"ACCESS EXCLUSIVE for the whole rewrite: no reads, no writes, and twice the table's size on disk meanwhile",
					"leave it to autovacuum; to shrink a bloated table online use pg_repack (or pg_squeeze), which copy it under a brief lock", false)
			}
			if len(n.GetVacuumStmt().GetRels()) == 0 {
				c.report(s, "vacuum-full", "", "VACUUM FULL of every table rewrites each one",
					"each table is locked ACCESS EXCLUSIVE for its whole rewrite",
					"leave it to autovacuum; pg_repack shrinks a bloated table online", false)
			}
		}
		if c.inTx {
			c.report(s, "concurrently-in-transaction", "", "VACUUM inside a transaction block: PostgreSQL refuses it",
				"VACUUM cannot run inside a transaction block: the migration fails there",
				"run it outside BEGIN ... COMMIT, on its own", false)
		}
	case n.GetClusterStmt() != nil:
		t := tableName(n.GetClusterStmt().GetRelation())
		if !c.isNew(t) {
			c.reportSized(s, "cluster", t, "CLUSTER rewrites "+orAll(t), true,
				"ACCESS EXCLUSIVE for the whole rewrite: no reads, no writes",
				"pg_repack --order-by reorders a table online; or leave it: the order decays with writes anyway", false)
		}
	case n.GetAlterEnumStmt() != nil:
		c.alterEnum(s, n.GetAlterEnumStmt())
	case n.GetUpdateStmt() != nil:
		u := n.GetUpdateStmt()
		c.backfill(s, tableName(u.GetRelation()), "UPDATE", u.GetWhereClause(), setColumns(u))
	case n.GetDeleteStmt() != nil:
		d := n.GetDeleteStmt()
		c.backfill(s, tableName(d.GetRelation()), "DELETE", d.GetWhereClause(), nil)
	}
	return nil
}

// idempotent reports a statement that fails when it runs a second time.
func (c *checker) idempotent(s *stmt, table string) {
	n := s.node
	var what, fix string
	switch {
	case n.GetCreateStmt() != nil && !n.GetCreateStmt().GetIfNotExists():
		what, fix = "CREATE TABLE without IF NOT EXISTS", "CREATE TABLE IF NOT EXISTS"
	case n.GetIndexStmt() != nil && !n.GetIndexStmt().GetIfNotExists() && n.GetIndexStmt().GetIdxname() != "":
		what, fix = "CREATE INDEX without IF NOT EXISTS", "CREATE INDEX [CONCURRENTLY] IF NOT EXISTS (and, after a failed CONCURRENTLY build, DROP INDEX CONCURRENTLY IF EXISTS the invalid leftover first)"
	case n.GetDropStmt() != nil && !n.GetDropStmt().GetMissingOk():
		what, fix = "DROP without IF EXISTS", "DROP ... IF EXISTS"
	case n.GetAlterTableStmt() != nil:
		for _, cmd := range n.GetAlterTableStmt().GetCmds() {
			ac := cmd.GetAlterTableCmd()
			switch {
			case ac.GetSubtype() == pg_query.AlterTableType_AT_AddColumn && !ac.GetMissingOk():
				what, fix = "ADD COLUMN without IF NOT EXISTS", "ADD COLUMN IF NOT EXISTS"
			case ac.GetSubtype() == pg_query.AlterTableType_AT_DropColumn && !ac.GetMissingOk():
				what, fix = "DROP COLUMN without IF EXISTS", "DROP COLUMN IF EXISTS"
			}
			if what != "" {
				break
			}
		}
	}
	if what == "" {
		return
	}
	c.report(s, "not-idempotent", table, what+": the statement fails when the file runs again",
		"a runner that retries after a lost connection, or a person running the file again after a partial failure, stops at what already ran (zdm's own statements are all idempotent)",
		fix, false)
}

func orAll(t string) string {
	if t == "" {
		return "every clustered table"
	}
	return t
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

// setting follows SET/RESET lock_timeout. A zero timeout is no timeout.
func (c *checker) setting(v *pg_query.VariableSetStmt) {
	name := strings.ToLower(v.GetName())
	reset := v.GetKind() == pg_query.VariableSetKind_VAR_RESET || v.GetKind() == pg_query.VariableSetKind_VAR_RESET_ALL ||
		v.GetKind() == pg_query.VariableSetKind_VAR_SET_DEFAULT
	if v.GetKind() == pg_query.VariableSetKind_VAR_RESET_ALL {
		c.sessionTimeout, c.localTimeout, c.sessionStatementTimeout, c.localStatementTimeout = false, false, "", ""
		return
	}
	if name == "statement_timeout" {
		val := ""
		if !reset && !zeroSetting(v.GetArgs()) {
			val = settingText(v.GetArgs())
		}
		if v.GetIsLocal() {
			if c.inTx {
				c.localStatementTimeout = val
			}
			return
		}
		c.sessionStatementTimeout = val
		return
	}
	if name != "lock_timeout" {
		return
	}
	on := !reset && !zeroSetting(v.GetArgs())
	if v.GetIsLocal() {
		c.localTimeout = on && c.inTx
		return
	}
	c.sessionTimeout = on
	if !on {
		c.localTimeout = false
	}
}

func zeroSetting(args []*pg_query.Node) bool {
	for _, a := range args {
		k := a.GetAConst()
		switch {
		case k == nil:
		case k.GetIval() != nil:
			return k.GetIval().GetIval() == 0
		case k.GetSval() != nil:
			v := strings.TrimSpace(k.GetSval().GetSval())
			digits := strings.TrimRight(v, "abcdefghijklmnopqrstuvwxyz ")
			n, err := strconv.Atoi(digits)
			return err == nil && n == 0
		}
	}
	return false
}

// settingText is a SET's value as written.
func settingText(args []*pg_query.Node) string {
	for _, a := range args {
		k := a.GetAConst()
		switch {
		case k.GetIval() != nil:
			return itoa(int64(k.GetIval().GetIval())) + "ms"
		case k.GetSval() != nil:
			return k.GetSval().GetSval()
		}
	}
	return "set"
}

// lockedTable is the existing table a lock-taking statement locks, as written; ""
// when it locks none worth a timeout.
func (c *checker) lockedTable(s *stmt) string {
	n := s.node
	switch {
	case n.GetAlterTableStmt() != nil:
		if n.GetAlterTableStmt().GetObjtype() != pg_query.ObjectType_OBJECT_TABLE {
			return ""
		}
		return tableName(n.GetAlterTableStmt().GetRelation())
	case n.GetIndexStmt() != nil:
		return tableName(n.GetIndexStmt().GetRelation())
	case n.GetRenameStmt() != nil:
		r := n.GetRenameStmt()
		switch r.GetRenameType() {
		case pg_query.ObjectType_OBJECT_TABLE, pg_query.ObjectType_OBJECT_COLUMN, pg_query.ObjectType_OBJECT_TABCONSTRAINT:
			return tableName(r.GetRelation())
		}
	case n.GetDropStmt() != nil:
		d := n.GetDropStmt()
		if d.GetRemoveType() != pg_query.ObjectType_OBJECT_TABLE && d.GetRemoveType() != pg_query.ObjectType_OBJECT_INDEX {
			return ""
		}
		names := dropNames(d)
		if len(names) == 0 {
			return ""
		}
		if d.GetRemoveType() == pg_query.ObjectType_OBJECT_INDEX && c.createdIdx[key(names[0])] {
			return ""
		}
		return names[0]
	case n.GetReindexStmt() != nil:
		return tableName(n.GetReindexStmt().GetRelation())
	case n.GetClusterStmt() != nil:
		return tableName(n.GetClusterStmt().GetRelation())
	case n.GetVacuumStmt() != nil:
		if rels := n.GetVacuumStmt().GetRels(); len(rels) > 0 {
			return tableName(rels[0].GetVacuumRelation().GetRelation())
		}
	case n.GetCreateTrigStmt() != nil:
		return tableName(n.GetCreateTrigStmt().GetRelation())
	case n.GetLockStmt() != nil:
		if rels := n.GetLockStmt().GetRelations(); len(rels) > 0 {
			return tableName(rels[0].GetRangeVar())
		}
	case n.GetTruncateStmt() != nil:
		if rels := n.GetTruncateStmt().GetRelations(); len(rels) > 0 {
			return tableName(rels[0].GetRangeVar())
		}
	}
	return ""
}

// dropNames are the objects a DROP names, qualified as written.
func dropNames(d *pg_query.DropStmt) []string {
	var out []string
	for _, o := range d.GetObjects() {
		var parts []string
		for _, p := range o.GetList().GetItems() {
			parts = append(parts, p.GetString_().GetSval())
		}
		if len(parts) > 0 {
			out = append(out, strings.Join(parts, "."))
		}
	}
	return out
}

// report records a finding unless a comment or the configuration disables its rule.
func (c *checker) report(s *stmt, rule, table, msg, why, safe string, zdm bool) *Finding {
	return c.add(s, rule, table, msg, why, safe, zdm, false, false)
}

// reportSized records a finding whose harm grows with the table: with a database, it
// carries the table's size and may be downgraded on a small one.
func (c *checker) reportSized(s *stmt, rule, table, msg string, rewrites bool, why, safe string, zdm bool) *Finding {
	return c.add(s, rule, table, msg, why, safe, zdm, true, rewrites)
}

func (c *checker) add(s *stmt, rule, table, msg, why, safe string, zdm, sized, rewrites bool) *Finding {
	r := ruleByID(rule)
	if r == nil {
		panic("lint: no rule " + rule) // a programming error: every id is in Rules
	}
	if c.cfg.disabled(rule) || c.off.off(rule, s.line) {
		return nil
	}
	f := Finding{File: c.sc.name, Line: s.line, Column: s.col, Offset: s.offset, End: s.end, Statement: s.text,
		Rule: rule, Level: c.cfg.level(r), Table: table, Lock: s.desc.Lock, Message: msg, Why: why, Safe: safe, SafeZDM: zdm}
	if c.live != nil && table != "" && !c.isNew(table) {
		c.live.annotate(c.ctx, &f, r, c.cfg, sized, rewrites)
	}
	c.out = append(c.out, f)
	return &c.out[len(c.out)-1]
}
