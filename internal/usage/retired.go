// Package usage answers "is any code still using the old shape?": which names a plan's
// contract retires (read from the contract's own statements by PostgreSQL's parser),
// and which statements the database executes still name them.
package usage

import (
	"encoding/json"
	"fmt"
	"strings"

	pg_query "github.com/pganalyze/pg_query_go/v6"

	"github.com/zdmhq/zdm/internal/plan"
	"github.com/zdmhq/zdm/internal/wire"
)

// Changed is a column that keeps its name at contract but not its type: old code's
// statements go on working only where its values fit the new type.
type Changed struct {
	Schema, Table, Column string
	OldType, NewType      string
}

// Retired lists what p's contract takes away from applications: columns dropped or
// renamed, tables and views dropped or renamed. It is read from the contract's
// statements themselves (DO blocks included), so a contract that renames a name aside
// instead of dropping it retires it too. A name contract gives back (change_type drops
// a column and renames its shadow to the same name) is not retired, and zdm's own
// objects (_zdm*, schema zdm) never are.
func Retired(p *plan.Plan) ([]wire.Retired, error) {
	d := deriver{defSchema: p.Schema, renamedAt: map[string]string{}}
	if d.defSchema == "" {
		d.defSchema = "public"
	}
	// Expand renames tables (rename_table) whose old name contract retires: the new
	// name is what new code uses.
	for _, s := range p.Expand {
		if err := d.each(s.SQL, func(n *pg_query.Node) { d.expandRename(n) }); err != nil {
			return nil, fmt.Errorf("expand statement %s: %w", s.ID, err)
		}
	}
	for _, s := range p.Contract {
		if err := d.each(s.SQL, d.contract); err != nil {
			return nil, fmt.Errorf("contract statement %s: %w", s.ID, err)
		}
	}
	var out []wire.Retired
	for _, r := range d.out {
		if r.gone || zdmName(r.Schema, r.Table, r.Column) {
			continue
		}
		if r.Column != "" && r.Replacement == "" {
			for _, op := range p.Ops {
				if op.Old == r.Column && op.Final != "" && op.Final != op.Old && !strings.HasPrefix(op.Final, "_zdm") {
					r.Replacement = op.Final
				}
			}
		}
		if r.Column == "" && r.Replacement == "" {
			r.Replacement = d.renamedAt[r.Schema+"."+r.Table]
		}
		out = append(out, r.Retired)
	}
	return out, nil
}

// TypeChanges lists the columns that keep their name but change type at contract.
func TypeChanges(p *plan.Plan) []Changed {
	var out []Changed
	for _, op := range p.Ops {
		if op.Old != "" && op.Final == op.Old && op.OldType != "" && op.NewType != "" && op.OldType != op.NewType {
			out = append(out, Changed{Schema: p.Schema, Table: p.Table, Column: op.Old, OldType: op.OldType, NewType: op.NewType})
		}
	}
	return out
}

type entry struct {
	wire.Retired
	gone bool // given back later in the same contract
}

type deriver struct {
	defSchema string
	out       []*entry
	// renamedAt maps schema.old to the new name of a table expand renamed.
	renamedAt map[string]string
}

// each parses sql and calls f for every statement in it, and for every statement of
// the DO blocks in it.
func (d *deriver) each(sql string, f func(*pg_query.Node)) error {
	tree, err := pg_query.Parse(sql)
	if err != nil {
		return err
	}
	for _, raw := range tree.Stmts {
		n := raw.Stmt
		if do := n.GetDoStmt(); do != nil {
			for _, body := range doBodies(do) {
				for _, inner := range plpgsqlStatements(body) {
					_ = d.each(inner, f) // a statement of the block we cannot parse names nothing we act on
				}
			}
			continue
		}
		f(n)
	}
	return nil
}

func doBodies(do *pg_query.DoStmt) []string {
	var out []string
	for _, a := range do.Args {
		if de := a.GetDefElem(); de != nil && de.Defname == "as" {
			if s := de.Arg.GetString_(); s != nil {
				out = append(out, s.Sval)
			}
		}
	}
	return out
}

// plpgsqlStatements returns the SQL statements a PL/pgSQL block runs.
func plpgsqlStatements(body string) []string {
	src := "CREATE FUNCTION zdm_usage_probe() RETURNS void LANGUAGE plpgsql AS " + dollarQuote(body)
	js, err := pg_query.ParsePlPgSqlToJSON(src)
	if err != nil {
		return nil
	}
	var tree any
	if json.Unmarshal([]byte(js), &tree) != nil {
		return nil
	}
	var out []string
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, c := range x {
				if k == "sqlstmt" || k == "dynquery" {
					if e, ok := c.(map[string]any)["PLpgSQL_expr"].(map[string]any); ok {
						if q, ok := e["query"].(string); ok {
							out = append(out, q)
						}
					}
				}
				walk(c)
			}
		case []any:
			for _, c := range x {
				walk(c)
			}
		}
	}
	walk(tree)
	return out
}

func dollarQuote(s string) string {
	tag := "zdmusage"
	for strings.Contains(s, "$"+tag+"$") {
		tag += "x"
	}
	return "$" + tag + "$" + s + "$" + tag + "$"
}

func (d *deriver) rel(rv *pg_query.RangeVar) (string, string) {
	if rv == nil {
		return "", ""
	}
	sch := rv.Schemaname
	if sch == "" {
		sch = d.defSchema
	}
	return sch, rv.Relname
}

func (d *deriver) expandRename(n *pg_query.Node) {
	if rn := n.GetRenameStmt(); rn != nil && rn.RenameType == pg_query.ObjectType_OBJECT_TABLE {
		sch, tbl := d.rel(rn.Relation)
		if !zdmName(sch, rn.Newname, "") {
			d.renamedAt[sch+"."+tbl] = rn.Newname
		}
	}
}

func (d *deriver) contract(n *pg_query.Node) {
	switch {
	case n.GetAlterTableStmt() != nil:
		at := n.GetAlterTableStmt()
		sch, tbl := d.rel(at.Relation)
		for _, c := range at.Cmds {
			cmd := c.GetAlterTableCmd()
			if cmd != nil && cmd.Subtype == pg_query.AlterTableType_AT_DropColumn {
				d.retire(sch, tbl, cmd.Name, "column dropped", "")
			}
		}
	case n.GetRenameStmt() != nil:
		rn := n.GetRenameStmt()
		sch, tbl := d.rel(rn.Relation)
		switch rn.RenameType {
		case pg_query.ObjectType_OBJECT_COLUMN:
			d.giveBack(sch, tbl, rn.Newname)
			d.retire(sch, tbl, rn.Subname, renamedHow("column", rn.Newname), notZdm(rn.Newname))
		case pg_query.ObjectType_OBJECT_TABLE, pg_query.ObjectType_OBJECT_VIEW:
			d.giveBack(sch, rn.Newname, "")
			d.retire(sch, tbl, "", renamedHow(strings.ToLower(strings.TrimPrefix(rn.RenameType.String(), "OBJECT_")), rn.Newname), notZdm(rn.Newname))
		}
	case n.GetDropStmt() != nil:
		ds := n.GetDropStmt()
		how := ""
		switch ds.RemoveType {
		case pg_query.ObjectType_OBJECT_TABLE:
			how = "table dropped"
		case pg_query.ObjectType_OBJECT_VIEW:
			how = "view dropped"
		default:
			return
		}
		for _, o := range ds.Objects {
			var parts []string
			for _, it := range o.GetList().GetItems() {
				parts = append(parts, it.GetString_().GetSval())
			}
			switch len(parts) {
			case 1:
				d.retire(d.defSchema, parts[0], "", how, "")
			case 2:
				d.retire(parts[0], parts[1], "", how, "")
			}
		}
	}
}

func renamedHow(what, to string) string {
	if strings.HasPrefix(to, "_zdm") {
		return what + " renamed aside"
	}
	return what + " renamed to " + to
}

func notZdm(name string) string {
	if strings.HasPrefix(name, "_zdm") {
		return ""
	}
	return name
}

func (d *deriver) retire(sch, tbl, col, how, repl string) {
	for _, e := range d.out {
		if e.Schema == sch && e.Table == tbl && e.Column == col {
			e.gone, e.How = false, how
			return
		}
	}
	d.out = append(d.out, &entry{Retired: wire.Retired{Schema: sch, Table: tbl, Column: col, How: how, Replacement: repl}})
}

// giveBack marks a name retired earlier in the contract as back: contract created it
// again (a shadow column renamed to the old name).
func (d *deriver) giveBack(sch, tbl, col string) {
	for _, e := range d.out {
		if e.Schema == sch && e.Table == tbl && e.Column == col {
			e.gone = true
		}
	}
}

func zdmName(sch, tbl, col string) bool {
	return sch == "zdm" || strings.HasPrefix(tbl, "_zdm") || strings.HasPrefix(col, "_zdm")
}

// Describe says, for zdm plan, which application statements stop working after
// contract.
func Describe(r wire.Retired) string {
	use := "SELECT/INSERT/UPDATE/DELETE naming " + r.Name()
	if r.Column != "" {
		use = "SELECT/INSERT/UPDATE naming " + r.Name() + ", and INSERT without a column list into " + r.Schema + "." + r.Table + ","
	} else {
		use = "every statement naming " + r.Name()
	}
	msg := fmt.Sprintf("after contract: %s fail (%s)", use, r.How)
	if r.Replacement != "" {
		msg += "; new code uses " + r.Replacement
	}
	return msg
}
