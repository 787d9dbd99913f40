package convert

import (
	"fmt"
	"strings"

	pg_query "github.com/pganalyze/pg_query_go/v6"
	"google.golang.org/protobuf/proto"

	"github.com/zdmhq/zdm/internal/sqlexpr"
)

// rawSQL makes a statement no operation covers a `sql` step: up is the statement as
// written; down is the statement that undoes it when that is certain from the
// statement alone (a CREATE VIEW's DROP VIEW). When it is not (an UPDATE, an ALTER ...
// whose old state the SQL does not say), the step is written commented out, for the
// user to write down and uncomment: zdm's rollback runs down, and a down that does not
// undo up would leave a rolled-back schema that is not the one it began from.
func (c *converter) rawSQL(s sqlexpr.Statement, n *pg_query.Node) {
	st := &step{stmt: s, kind: "sql", node: n}
	st.table = c.touches(n)
	down, caveat := inverse(n)
	st.comments = append(st.comments, fmt.Sprintf("sql: zdm has no operation for %s; it runs as written (lock: %s)", s.Kind, orUnknown(s.Lock)))
	if n.GetAlterTableStmt() != nil && primaryKey(n.GetAlterTableStmt()) {
		st.comments = append(st.comments, "a PRIMARY KEY builds its index under ACCESS EXCLUSIVE: build a unique index CONCURRENTLY first (create_index) and add the key USING INDEX to keep the lock short")
	}
	if down == "" {
		st.disabled = true
		st.fields = []kv{f("up", s.SQL), f("down", "TODO")}
		st.comments = append(st.comments, "TODO(zdm convert): left commented out: its undo is not known from the SQL. Write down, the SQL that undoes up (a rollback runs it), and uncomment")
		c.note(s, "%s left commented out: write its down and uncomment it", s.Kind)
		c.push(st)
		return
	}
	if caveat != "" {
		st.comments = append(st.comments, "TODO(zdm convert): "+caveat)
		c.note(s, "%s: %s", s.Kind, caveat)
	}
	st.fields = []kv{f("up", s.SQL), f("down", down)}
	c.push(st)
}

func orUnknown(s string) string {
	if s == "" {
		return "not known from its kind"
	}
	return s
}

// touches is the existing table a sql step changes, so that the migration claims it:
// the table of an ALTER TABLE, an UPDATE, a DELETE, an INSERT or a trigger; "" when
// none or a table this file creates.
func (c *converter) touches(n *pg_query.Node) string {
	var r *pg_query.RangeVar
	switch {
	case n.GetAlterTableStmt() != nil && n.GetAlterTableStmt().GetObjtype() == pg_query.ObjectType_OBJECT_TABLE:
		r = n.GetAlterTableStmt().GetRelation()
	case n.GetUpdateStmt() != nil:
		r = n.GetUpdateStmt().GetRelation()
	case n.GetDeleteStmt() != nil:
		r = n.GetDeleteStmt().GetRelation()
	case n.GetInsertStmt() != nil:
		r = n.GetInsertStmt().GetRelation()
	case n.GetCreateTrigStmt() != nil:
		r = n.GetCreateTrigStmt().GetRelation()
	}
	if r == nil || !identifier.MatchString(r.GetRelname()) || (r.GetSchemaname() != "" && !identifier.MatchString(r.GetSchemaname())) {
		return ""
	}
	if t := rangeVar(r); !c.created[t] {
		return t
	}
	return ""
}

func primaryKey(a *pg_query.AlterTableStmt) bool {
	for _, cmd := range a.GetCmds() {
		if cmd.GetAlterTableCmd().GetDef().GetConstraint().GetContype() == pg_query.ConstrType_CONSTR_PRIMARY {
			return true
		}
	}
	return false
}

// inverse is the statement that undoes n, "" when the statement alone does not say;
// caveat says what the user must still confirm.
func inverse(n *pg_query.Node) (down, caveat string) {
	ifNew := "down drops it: right when up creates it; if up replaced one that existed, down must put that one back instead"
	switch {
	case n.GetViewStmt() != nil:
		v := n.GetViewStmt()
		down = "DROP VIEW IF EXISTS " + ident(v.GetView())
		if v.GetReplace() {
			caveat = ifNew
		}
	case n.GetCreateTableAsStmt() != nil:
		ct := n.GetCreateTableAsStmt()
		if ct.GetIfNotExists() {
			return "", ""
		}
		kind := "TABLE"
		if ct.GetObjtype() == pg_query.ObjectType_OBJECT_MATVIEW {
			kind = "MATERIALIZED VIEW"
		}
		down = "DROP " + kind + " IF EXISTS " + ident(ct.GetInto().GetRel())
	case n.GetCreateFunctionStmt() != nil:
		fn := n.GetCreateFunctionStmt()
		var args []string
		for _, p := range fn.GetParameters() {
			fp := p.GetFunctionParameter()
			if m := fp.GetMode(); m == pg_query.FunctionParameterMode_FUNC_PARAM_OUT || m == pg_query.FunctionParameterMode_FUNC_PARAM_TABLE {
				continue
			}
			t, err := typeName(fp.GetArgType())
			if err != nil {
				return "", ""
			}
			args = append(args, t)
		}
		kind := "FUNCTION"
		if fn.GetIsProcedure() {
			kind = "PROCEDURE"
		}
		down = fmt.Sprintf("DROP %s IF EXISTS %s(%s)", kind, dotted(names(fn.GetFuncname())), strings.Join(args, ", "))
		if fn.GetReplace() {
			caveat = ifNew
		}
	case n.GetCreateTrigStmt() != nil:
		tr := n.GetCreateTrigStmt()
		down = fmt.Sprintf("DROP TRIGGER IF EXISTS %s ON %s", quoteIdent(tr.GetTrigname()), ident(tr.GetRelation()))
		if tr.GetReplace() {
			caveat = ifNew
		}
	case n.GetCreateSeqStmt() != nil && !n.GetCreateSeqStmt().GetIfNotExists():
		down = "DROP SEQUENCE IF EXISTS " + ident(n.GetCreateSeqStmt().GetSequence())
	case n.GetCreateSchemaStmt() != nil && !n.GetCreateSchemaStmt().GetIfNotExists() && len(n.GetCreateSchemaStmt().GetSchemaElts()) == 0:
		down = "DROP SCHEMA IF EXISTS " + quoteIdent(n.GetCreateSchemaStmt().GetSchemaname())
	case n.GetCreateExtensionStmt() != nil && !n.GetCreateExtensionStmt().GetIfNotExists():
		down = "DROP EXTENSION IF EXISTS " + quoteIdent(n.GetCreateExtensionStmt().GetExtname())
	case n.GetCompositeTypeStmt() != nil:
		down = "DROP TYPE IF EXISTS " + ident(n.GetCompositeTypeStmt().GetTypevar())
	case n.GetCreateDomainStmt() != nil:
		down = "DROP DOMAIN IF EXISTS " + dotted(names(n.GetCreateDomainStmt().GetDomainname()))
	case n.GetCreateEnumStmt() != nil:
		down = "DROP TYPE IF EXISTS " + dotted(names(n.GetCreateEnumStmt().GetTypeName()))
	case n.GetIndexStmt() != nil:
		ix := n.GetIndexStmt()
		if ix.GetIdxname() == "" || ix.GetIfNotExists() {
			return "", ""
		}
		conc := ""
		if ix.GetConcurrent() {
			conc = "CONCURRENTLY "
		}
		down = "DROP INDEX " + conc + "IF EXISTS " + dotted([]string{ix.GetRelation().GetSchemaname(), ix.GetIdxname()})
	case n.GetCreateStmt() != nil && !n.GetCreateStmt().GetIfNotExists():
		down = "DROP TABLE IF EXISTS " + ident(n.GetCreateStmt().GetRelation())
	case n.GetAlterTableStmt() != nil:
		down = dropAdded(n.GetAlterTableStmt())
	case n.GetRenameStmt() != nil:
		down = renameBack(n.GetRenameStmt())
	case n.GetGrantStmt() != nil:
		g := proto.Clone(n.GetGrantStmt()).(*pg_query.GrantStmt)
		g.IsGrant = !g.GetIsGrant()
		g.GrantOption = false
		s, err := deparseStmt(&pg_query.Node{Node: &pg_query.Node_GrantStmt{GrantStmt: g}})
		if err != nil {
			return "", ""
		}
		down = s
		caveat = "down takes back what up gave (or gives back what it took): right unless the role had it before"
	}
	return down, caveat
}

// dropAdded undoes an ALTER TABLE that adds one named constraint (or a primary key,
// named table_pkey when the SQL does not say).
func dropAdded(a *pg_query.AlterTableStmt) string {
	if len(a.GetCmds()) != 1 || a.GetObjtype() != pg_query.ObjectType_OBJECT_TABLE {
		return ""
	}
	cmd := a.GetCmds()[0].GetAlterTableCmd()
	con := cmd.GetDef().GetConstraint()
	if cmd.GetSubtype() != pg_query.AlterTableType_AT_AddConstraint || con == nil {
		return ""
	}
	name := con.GetConname()
	if name == "" && con.GetContype() == pg_query.ConstrType_CONSTR_PRIMARY {
		name = pgName(a.GetRelation().GetRelname(), "", "pkey")
	}
	if name == "" {
		return ""
	}
	return fmt.Sprintf("ALTER TABLE %s DROP CONSTRAINT IF EXISTS %s", ident(a.GetRelation()), quoteIdent(name))
}

// renameBack is the RENAME that gives back the old name (of an index, a constraint, a
// view, a sequence: what rename_column and rename_table do not cover).
func renameBack(r *pg_query.RenameStmt) string {
	back := proto.Clone(r).(*pg_query.RenameStmt)
	switch {
	case r.GetObject() != nil:
		return "" // a type, a function, ...: named by an object the new name does not rebuild simply
	case r.GetSubname() != "":
		back.Subname, back.Newname = r.GetNewname(), r.GetSubname()
	case r.GetRelation() != nil:
		back.Relation.Relname, back.Newname = r.GetNewname(), r.GetRelation().GetRelname()
	default:
		return ""
	}
	back.MissingOk = false
	s, err := deparseStmt(&pg_query.Node{Node: &pg_query.Node_RenameStmt{RenameStmt: back}})
	if err != nil {
		return ""
	}
	return s
}

// ident writes a table as the SQL named it, quoted where needed.
func ident(r *pg_query.RangeVar) string {
	return dotted([]string{r.GetSchemaname(), r.GetRelname()})
}

func dotted(parts []string) string {
	var out []string
	for _, p := range parts {
		if p != "" {
			out = append(out, quoteIdent(p))
		}
	}
	return strings.Join(out, ".")
}

var lowerIdent = func(s string) bool {
	for i, r := range s {
		if !(r == '_' || (r >= 'a' && r <= 'z') || (i > 0 && r >= '0' && r <= '9')) {
			return false
		}
	}
	return s != ""
}

// quoteIdent quotes a name unless it reads the same bare. Keywords are quoted too, as
// the deparser would, by asking it.
func quoteIdent(s string) string {
	if lowerIdent(s) && !keyword(s) {
		return s
	}
	return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
}

// keyword says whether a lower-case name must be quoted: the parser refuses it bare
// as a column name.
func keyword(s string) bool {
	_, err := pg_query.Parse("SELECT 1 AS " + s)
	return err != nil
}
