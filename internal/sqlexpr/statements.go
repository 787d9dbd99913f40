package sqlexpr

import (
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	pg_query "github.com/pganalyze/pg_query_go/v6"
	pgparser "github.com/pganalyze/pg_query_go/v6/parser"

	"github.com/zdmhq/zdm/internal/plan"
)

// Statement is one statement of a script a person wrote (the sql operation's up and
// down), as PostgreSQL's parser reads it.
type Statement struct {
	// SQL is the statement's text as written, without its trailing ";".
	SQL string
	// Line is the line of the script the statement starts on, from 1.
	Line int
	// Kind names the command: "CREATE VIEW", "CREATE INDEX CONCURRENTLY", "ALTER TABLE".
	Kind string
	// NoTransaction is set for what PostgreSQL refuses to run inside a transaction
	// block (CREATE INDEX CONCURRENTLY, VACUUM, CREATE DATABASE, ...), and for ALTER
	// TYPE ... ADD VALUE, which servers before 12 refuse there and whose new value no
	// statement of the same transaction may use.
	NoTransaction bool
	// TransactionControl is set for BEGIN, COMMIT, ROLLBACK, SAVEPOINT and the like.
	TransactionControl bool
	// AddsEnumValue is set for ALTER TYPE ... ADD VALUE.
	AddsEnumValue bool
	// Setting is the parameter a SET or RESET changes, SettingLocal whether only for
	// the transaction (SET LOCAL).
	Setting      string
	SettingLocal bool
	// Lock describes the locks the statement takes on existing tables, when its kind
	// says so plainly; "" when it does not.
	Lock string
	// Scans is set when the statement reads a whole table while holding Lock (an index
	// build, a validation), Rewrites when it may write it all again (VACUUM FULL, a
	// column type change).
	Scans, Rewrites bool
	// Index is the index a CREATE INDEX CONCURRENTLY builds, quoted (and qualified
	// when the statement qualifies its table); "" for other statements.
	Index string
}

// ScriptError is a script PostgreSQL's parser refuses, with where.
type ScriptError struct {
	Msg          string
	Line, Column int // from 1; 0 when the parser does not say
}

func (e *ScriptError) Error() string {
	if e.Line == 0 {
		return e.Msg
	}
	return fmt.Sprintf("%s (line %d, column %d)", e.Msg, e.Line, e.Column)
}

// Statements splits src, a script of SQL statements separated by ";", into its
// statements, with what each one is. The parser alone decides: a ";" inside a string,
// a dollar-quoted function body or a comment separates nothing.
func Statements(src string) ([]Statement, error) {
	if strings.TrimSpace(src) == "" {
		return nil, errors.New("is empty")
	}
	tree, err := pg_query.Parse(src)
	if err != nil {
		var pe *pgparser.Error
		if !errors.As(err, &pe) {
			return nil, err
		}
		se := &ScriptError{Msg: pe.Message}
		if pe.Cursorpos > 0 {
			se.Line, se.Column = lineColumn(src, pe.Cursorpos)
		}
		return nil, se
	}
	if len(tree.GetStmts()) == 0 {
		return nil, errors.New("has no SQL statement, only comments")
	}
	var out []Statement
	for _, raw := range tree.GetStmts() {
		start, end := int(raw.GetStmtLocation()), len(src)
		if n := int(raw.GetStmtLen()); n > 0 {
			end = start + n
		}
		text := src[start:end]
		lead := len(text) - len(strings.TrimLeft(text, " \t\r\n"))
		s := describe(raw.GetStmt())
		s.SQL = strings.TrimSpace(text)
		s.Line = 1 + strings.Count(src[:start+lead], "\n")
		out = append(out, s)
	}
	return out, nil
}

// lineColumn turns a 1-based character offset into src into a line and column.
func lineColumn(src string, pos int) (line, col int) {
	line, col = 1, 1
	n := 1 // the character r is, from 1
	for _, r := range src {
		if n >= pos {
			break
		}
		n++
		if r == '\n' {
			line, col = line+1, 1
		} else {
			col++
		}
	}
	return line, col
}

// Lock descriptions for statements of a script.
const (
	lockNewObject    = "none on existing tables (a new object)"
	lockAccessExcl   = "ACCESS EXCLUSIVE on the table (blocks its reads and writes while held)"
	lockTypeOnly     = "none on tables (the type only)"
	lockWrite        = "ROW EXCLUSIVE, as any write (the rows it changes stay locked until it commits)"
	lockRead         = "ACCESS SHARE, as any read"
	lockShareBuild   = "SHARE on the table: blocks writes while the index builds (CONCURRENTLY would not)"
	lockViewReplaced = "ACCESS EXCLUSIVE on the view when it exists, brief (not on its tables)"
)

// describe says what one parsed statement is.
func describe(n *pg_query.Node) Statement {
	var s Statement
	switch {
	case n.GetTransactionStmt() != nil:
		s.Kind, s.TransactionControl = transactionKind(n.GetTransactionStmt().GetKind()), true
	case n.GetVariableSetStmt() != nil:
		v := n.GetVariableSetStmt()
		s.Kind, s.Setting, s.SettingLocal = "SET", v.GetName(), v.GetIsLocal()
		if v.GetKind() == pg_query.VariableSetKind_VAR_RESET || v.GetKind() == pg_query.VariableSetKind_VAR_RESET_ALL {
			s.Kind = "RESET"
		}
		if s.Setting == "" {
			s.Setting = "all"
		}
		if v.GetName() == "TRANSACTION" || strings.HasPrefix(v.GetName(), "transaction_") {
			s.TransactionControl = true
		}
	case n.GetIndexStmt() != nil:
		ix := n.GetIndexStmt()
		s.Kind, s.Lock, s.Scans = "CREATE INDEX", lockShareBuild, true
		if ix.GetConcurrent() {
			s.Kind, s.Lock, s.NoTransaction = "CREATE INDEX CONCURRENTLY", plan.LockShareUpdExcl, true
			if name := ix.GetIdxname(); name != "" {
				s.Index = pgx.Identifier{name}.Sanitize()
				if sch := ix.GetRelation().GetSchemaname(); sch != "" {
					s.Index = pgx.Identifier{sch, name}.Sanitize()
				}
			}
		}
	case n.GetDropStmt() != nil:
		s = describeDrop(n.GetDropStmt())
	case n.GetReindexStmt() != nil:
		s.Kind, s.Lock, s.Scans = "REINDEX", "SHARE on the table, ACCESS EXCLUSIVE on each index rebuilt: blocks writes while it runs", true
		for _, p := range n.GetReindexStmt().GetParams() {
			if p.GetDefElem().GetDefname() == "concurrently" {
				s.Kind, s.Lock, s.NoTransaction = "REINDEX CONCURRENTLY", plan.LockShareUpdExcl, true
			}
		}
		if k := n.GetReindexStmt().GetKind(); k == pg_query.ReindexObjectType_REINDEX_OBJECT_DATABASE || k == pg_query.ReindexObjectType_REINDEX_OBJECT_SYSTEM {
			s.NoTransaction, s.Lock = true, ""
		}
	case n.GetVacuumStmt() != nil:
		v := n.GetVacuumStmt()
		s.Kind, s.Lock = "ANALYZE", plan.LockShareUpdExcl
		if v.GetIsVacuumcmd() {
			s.Kind, s.NoTransaction, s.Scans = "VACUUM", true, true
			for _, o := range v.GetOptions() {
				if o.GetDefElem().GetDefname() == "full" {
					s.Kind, s.Lock, s.Rewrites = "VACUUM FULL", "ACCESS EXCLUSIVE on each table: rewrites it, blocking its reads and writes", true
				}
			}
		}
	case n.GetCreatedbStmt() != nil:
		s.Kind, s.NoTransaction, s.Lock = "CREATE DATABASE", true, "none on this database's tables"
	case n.GetDropdbStmt() != nil:
		s.Kind, s.NoTransaction = "DROP DATABASE", true
	case n.GetCreateTableSpaceStmt() != nil:
		s.Kind, s.NoTransaction = "CREATE TABLESPACE", true
	case n.GetDropTableSpaceStmt() != nil:
		s.Kind, s.NoTransaction = "DROP TABLESPACE", true
	case n.GetAlterSystemStmt() != nil:
		s.Kind, s.NoTransaction = "ALTER SYSTEM", true
	case n.GetCreateSubscriptionStmt() != nil:
		s.Kind, s.NoTransaction = "CREATE SUBSCRIPTION", true
	case n.GetDropSubscriptionStmt() != nil:
		s.Kind, s.NoTransaction = "DROP SUBSCRIPTION", true
	case n.GetAlterEnumStmt() != nil:
		s.Kind, s.Lock = "ALTER TYPE ... RENAME VALUE", lockTypeOnly
		if n.GetAlterEnumStmt().GetOldVal() == "" {
			s.Kind, s.AddsEnumValue, s.NoTransaction = "ALTER TYPE ... ADD VALUE", true, true
		}
	case n.GetAlterTableStmt() != nil:
		s = describeAlterTable(n.GetAlterTableStmt())
	case n.GetCreateStmt() != nil:
		c := n.GetCreateStmt()
		s.Kind = "CREATE TABLE"
		switch {
		case len(c.GetInhRelations()) > 0 || c.GetPartbound() != nil:
			// A partition or child locks its parent; how strongly depends on the server.
		case hasForeignKey(c):
			s.Lock = "SHARE ROW EXCLUSIVE on the referenced table(s), brief (blocks their writes while held)"
		default:
			s.Lock = lockNewObject
		}
	case n.GetCreateTableAsStmt() != nil:
		s.Kind, s.Lock, s.Scans = "CREATE TABLE AS", lockRead+" on the tables it reads (a new table)", true
		if n.GetCreateTableAsStmt().GetObjtype() == pg_query.ObjectType_OBJECT_MATVIEW {
			s.Kind = "CREATE MATERIALIZED VIEW"
		}
	case n.GetViewStmt() != nil:
		s.Kind, s.Lock = "CREATE VIEW", lockNewObject
		if n.GetViewStmt().GetReplace() {
			s.Kind, s.Lock = "CREATE OR REPLACE VIEW", lockViewReplaced
		}
	case n.GetCreateFunctionStmt() != nil:
		s.Kind, s.Lock = "CREATE FUNCTION", "none on tables"
		if n.GetCreateFunctionStmt().GetIsProcedure() {
			s.Kind = "CREATE PROCEDURE"
		}
	case n.GetCreateEnumStmt() != nil:
		s.Kind, s.Lock = "CREATE TYPE ... AS ENUM", lockNewObject
	case n.GetCompositeTypeStmt() != nil:
		s.Kind, s.Lock = "CREATE TYPE", lockNewObject
	case n.GetCreateDomainStmt() != nil:
		s.Kind, s.Lock = "CREATE DOMAIN", lockNewObject
	case n.GetCreateSeqStmt() != nil:
		s.Kind, s.Lock = "CREATE SEQUENCE", lockNewObject
	case n.GetCreateSchemaStmt() != nil:
		s.Kind = "CREATE SCHEMA"
		if len(n.GetCreateSchemaStmt().GetSchemaElts()) == 0 {
			s.Lock = lockNewObject
		}
	case n.GetCreateTrigStmt() != nil:
		s.Kind, s.Lock = "CREATE TRIGGER", plan.LockShareRowExcl
	case n.GetCommentStmt() != nil:
		s.Kind, s.Lock = "COMMENT", "SHARE UPDATE EXCLUSIVE on the object commented (reads and writes go on)"
	case n.GetRenameStmt() != nil:
		s = describeRename(n.GetRenameStmt())
	case n.GetRefreshMatViewStmt() != nil:
		s.Kind, s.Lock, s.Scans = "REFRESH MATERIALIZED VIEW", "ACCESS EXCLUSIVE on the view while it is computed again (blocks its reads)", true
		if n.GetRefreshMatViewStmt().GetConcurrent() {
			s.Kind, s.Lock = "REFRESH MATERIALIZED VIEW CONCURRENTLY", "EXCLUSIVE on the view (its reads go on)"
		}
	case n.GetClusterStmt() != nil:
		s.Kind, s.Lock, s.Rewrites = "CLUSTER", "ACCESS EXCLUSIVE on the table: rewrites it, blocking its reads and writes", true
		if n.GetClusterStmt().GetRelation() == nil {
			s.NoTransaction = true // every clustered table, each in a transaction of its own
		}
	case n.GetInsertStmt() != nil:
		s.Kind, s.Lock = "INSERT", lockWrite
	case n.GetUpdateStmt() != nil:
		s.Kind, s.Lock = "UPDATE", lockWrite
	case n.GetDeleteStmt() != nil:
		s.Kind, s.Lock = "DELETE", lockWrite
	case n.GetMergeStmt() != nil:
		s.Kind, s.Lock = "MERGE", lockWrite
	case n.GetSelectStmt() != nil:
		s.Kind = "SELECT"
		if n.GetSelectStmt().GetIntoClause() == nil && len(n.GetSelectStmt().GetLockingClause()) == 0 {
			s.Lock = lockRead
		}
	case n.GetDoStmt() != nil:
		s.Kind = "DO"
	case n.GetLockStmt() != nil:
		s.Kind = "LOCK"
	case n.GetGrantStmt() != nil:
		s.Kind = "GRANT"
		if !n.GetGrantStmt().GetIsGrant() {
			s.Kind = "REVOKE"
		}
	default:
		s.Kind = strings.TrimPrefix(statementKind(n), "a ")
	}
	return s
}

func transactionKind(k pg_query.TransactionStmtKind) string {
	switch k {
	case pg_query.TransactionStmtKind_TRANS_STMT_BEGIN, pg_query.TransactionStmtKind_TRANS_STMT_START:
		return "BEGIN"
	case pg_query.TransactionStmtKind_TRANS_STMT_COMMIT:
		return "COMMIT"
	case pg_query.TransactionStmtKind_TRANS_STMT_ROLLBACK:
		return "ROLLBACK"
	case pg_query.TransactionStmtKind_TRANS_STMT_SAVEPOINT:
		return "SAVEPOINT"
	case pg_query.TransactionStmtKind_TRANS_STMT_RELEASE:
		return "RELEASE SAVEPOINT"
	case pg_query.TransactionStmtKind_TRANS_STMT_ROLLBACK_TO:
		return "ROLLBACK TO SAVEPOINT"
	case pg_query.TransactionStmtKind_TRANS_STMT_PREPARE:
		return "PREPARE TRANSACTION"
	case pg_query.TransactionStmtKind_TRANS_STMT_COMMIT_PREPARED:
		return "COMMIT PREPARED"
	case pg_query.TransactionStmtKind_TRANS_STMT_ROLLBACK_PREPARED:
		return "ROLLBACK PREPARED"
	}
	return "a transaction statement"
}

func describeDrop(d *pg_query.DropStmt) Statement {
	s := Statement{Kind: "DROP " + objectName(d.GetRemoveType())}
	switch d.GetRemoveType() {
	case pg_query.ObjectType_OBJECT_INDEX:
		s.Lock = "ACCESS EXCLUSIVE on the index's table, brief (blocks its reads and writes while held)"
		if d.GetConcurrent() {
			s.Kind, s.Lock, s.NoTransaction = "DROP INDEX CONCURRENTLY", plan.LockShareUpdExcl, true
		}
	case pg_query.ObjectType_OBJECT_TABLE:
		s.Lock = lockAccessExcl
	case pg_query.ObjectType_OBJECT_VIEW, pg_query.ObjectType_OBJECT_MATVIEW:
		s.Lock = "ACCESS EXCLUSIVE on the view, brief (not on its tables)"
	case pg_query.ObjectType_OBJECT_SEQUENCE:
		s.Lock = "ACCESS EXCLUSIVE on the sequence, brief"
	case pg_query.ObjectType_OBJECT_TYPE, pg_query.ObjectType_OBJECT_DOMAIN:
		s.Lock = lockTypeOnly
	case pg_query.ObjectType_OBJECT_FUNCTION, pg_query.ObjectType_OBJECT_PROCEDURE:
		s.Lock = "none on tables"
	case pg_query.ObjectType_OBJECT_TRIGGER:
		s.Lock = lockAccessExcl
	}
	if d.GetBehavior() == pg_query.DropBehavior_DROP_CASCADE {
		s.Lock = "" // what else goes with it is anyone's guess
	}
	return s
}

func describeRename(r *pg_query.RenameStmt) Statement {
	s := Statement{Kind: "ALTER " + objectName(r.GetRenameType()) + " ... RENAME"}
	switch r.GetRenameType() {
	case pg_query.ObjectType_OBJECT_TABLE, pg_query.ObjectType_OBJECT_COLUMN, pg_query.ObjectType_OBJECT_TABCONSTRAINT:
		s.Lock = lockAccessExcl + ", brief (catalog only)"
		if r.GetRenameType() != pg_query.ObjectType_OBJECT_TABLE {
			s.Kind = "ALTER TABLE ... RENAME"
		}
	case pg_query.ObjectType_OBJECT_INDEX:
		s.Lock = "SHARE UPDATE EXCLUSIVE on the index, brief (reads and writes go on)"
	case pg_query.ObjectType_OBJECT_VIEW:
		s.Lock = "ACCESS EXCLUSIVE on the view, brief (not on its tables)"
	case pg_query.ObjectType_OBJECT_TYPE, pg_query.ObjectType_OBJECT_DOMAIN:
		s.Lock = lockTypeOnly
	case pg_query.ObjectType_OBJECT_FUNCTION, pg_query.ObjectType_OBJECT_PROCEDURE:
		s.Lock = "none on tables"
	}
	return s
}

// describeAlterTable takes the strongest lock of the subcommands: ACCESS EXCLUSIVE
// unless every one of them says less.
func describeAlterTable(a *pg_query.AlterTableStmt) Statement {
	s := Statement{Kind: "ALTER " + objectName(a.GetObjtype())}
	if a.GetObjtype() != pg_query.ObjectType_OBJECT_TABLE {
		return s
	}
	level := 0         // 1 SHARE UPDATE EXCLUSIVE, 2 SHARE ROW EXCLUSIVE, 3 ACCESS EXCLUSIVE
	var scans []string // why the lock is held long
	for _, c := range a.GetCmds() {
		cmd := c.GetAlterTableCmd()
		l := 3
		switch cmd.GetSubtype() {
		case pg_query.AlterTableType_AT_SetStatistics, pg_query.AlterTableType_AT_ClusterOn, pg_query.AlterTableType_AT_DropCluster,
			pg_query.AlterTableType_AT_AttachPartition:
			l = 1
		case pg_query.AlterTableType_AT_ValidateConstraint:
			l = 1
			scans = append(scans, "VALIDATE CONSTRAINT reads the whole table")
		case pg_query.AlterTableType_AT_DetachPartition:
			if cmd.GetDef().GetPartitionCmd().GetConcurrent() {
				l, s.NoTransaction, s.Kind = 1, true, "ALTER TABLE ... DETACH PARTITION CONCURRENTLY"
			}
		case pg_query.AlterTableType_AT_EnableTrig, pg_query.AlterTableType_AT_EnableAlwaysTrig, pg_query.AlterTableType_AT_EnableReplicaTrig,
			pg_query.AlterTableType_AT_DisableTrig, pg_query.AlterTableType_AT_EnableTrigAll, pg_query.AlterTableType_AT_DisableTrigAll,
			pg_query.AlterTableType_AT_EnableTrigUser, pg_query.AlterTableType_AT_DisableTrigUser:
			l = 2
		case pg_query.AlterTableType_AT_AddConstraint:
			con := cmd.GetDef().GetConstraint()
			if con.GetContype() == pg_query.ConstrType_CONSTR_FOREIGN {
				l = 2
			}
			if !con.GetSkipValidation() && (con.GetContype() == pg_query.ConstrType_CONSTR_FOREIGN || con.GetContype() == pg_query.ConstrType_CONSTR_CHECK) {
				scans = append(scans, "a constraint added without NOT VALID reads the whole table")
			}
			if con.GetContype() == pg_query.ConstrType_CONSTR_PRIMARY || con.GetContype() == pg_query.ConstrType_CONSTR_UNIQUE {
				if con.GetIndexname() == "" {
					scans = append(scans, "a PRIMARY KEY or UNIQUE constraint builds its index")
				}
			}
		case pg_query.AlterTableType_AT_SetNotNull:
			scans = append(scans, "SET NOT NULL reads the whole table (unless a validated CHECK proves it)")
		case pg_query.AlterTableType_AT_AlterColumnType:
			scans, s.Rewrites = append(scans, "a column type change may rewrite the whole table"), true
		case pg_query.AlterTableType_AT_SetTableSpace, pg_query.AlterTableType_AT_SetLogged, pg_query.AlterTableType_AT_SetUnLogged,
			pg_query.AlterTableType_AT_SetAccessMethod:
			scans, s.Rewrites = append(scans, "it rewrites the whole table"), true
		}
		level = max(level, l)
	}
	switch level {
	case 1:
		s.Lock = plan.LockShareUpdExcl
	case 2:
		s.Lock = "SHARE ROW EXCLUSIVE (blocks writes while held; on both tables for a foreign key)"
	default:
		s.Lock = lockAccessExcl
	}
	if len(scans) > 0 {
		s.Lock += ", held while " + strings.Join(dedupe(scans), "; ")
		s.Scans = !s.Rewrites
	}
	return s
}

func hasForeignKey(c *pg_query.CreateStmt) bool {
	fk := func(n *pg_query.Node) bool {
		return n.GetConstraint().GetContype() == pg_query.ConstrType_CONSTR_FOREIGN
	}
	for _, n := range c.GetConstraints() {
		if fk(n) {
			return true
		}
	}
	for _, e := range c.GetTableElts() {
		if fk(e) {
			return true
		}
		for _, n := range e.GetColumnDef().GetConstraints() {
			if fk(n) {
				return true
			}
		}
	}
	return false
}

// objectName is how SQL names an object type: OBJECT_MATVIEW is MATERIALIZED VIEW.
func objectName(t pg_query.ObjectType) string {
	switch t {
	case pg_query.ObjectType_OBJECT_MATVIEW:
		return "MATERIALIZED VIEW"
	case pg_query.ObjectType_OBJECT_TABCONSTRAINT:
		return "CONSTRAINT"
	case pg_query.ObjectType_OBJECT_FOREIGN_TABLE:
		return "FOREIGN TABLE"
	}
	return strings.ReplaceAll(strings.TrimPrefix(t.String(), "OBJECT_"), "_", " ")
}

func dedupe(in []string) []string {
	var out []string
	seen := map[string]bool{}
	for _, s := range in {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// Describe says what one statement parsed by pg_query is (its Kind, Lock, whether it
// refuses a transaction...), without its text or line: for callers that walk the parse
// tree themselves, such as the linter.
func Describe(n *pg_query.Node) Statement { return describe(n) }

// LineColumn turns a 1-based character offset into src, as PostgreSQL's parser reports
// an error's position, into a line and column.
func LineColumn(src string, pos int) (line, col int) { return lineColumn(src, pos) }
