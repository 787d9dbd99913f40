package ops

import (
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/zdmhq/zdm/internal/plan"
	"github.com/zdmhq/zdm/internal/schema"
	"github.com/zdmhq/zdm/internal/spec"
	"github.com/zdmhq/zdm/internal/sqlexpr"
)

func init() { spec.CheckQuery = sqlexpr.ParseQuery }

// Operation is one kind of change. Its file-level fields and checks come from spec.Op;
// Plan checks it against the live table and says what it does in each phase.
type Operation interface {
	spec.Op
	Plan(e *Env) *Change
}

// Change is what one operation contributes to a migration's plan.
type Change struct {
	// Summary says in one line what the operation does, for zdm plan.
	Summary string
	// Sync is the column the backfill fills and the sync trigger keeps in step; nil
	// for an operation that needs no backfill (an index, a constraint).
	Sync *plan.Op
	// Expand runs before the sync trigger exists (columns it fills must be there);
	// AfterSync once it keeps the columns in step (NOT VALID checks, which old code's
	// writes would otherwise break).
	Expand, AfterSync []plan.Statement
	// Validate runs after the backfill and its verification.
	Validate []plan.Statement
	// Contract runs in the one contract transaction, after the sync trigger is gone.
	Contract []plan.Statement
	// Rollback undoes Expand and AfterSync; it runs in the one rollback transaction,
	// before the new columns are dropped (statements marked Concurrent run after it,
	// each on its own).
	Rollback []plan.Statement
	// Checks prove at plan time that expressions and types fit the live table.
	Checks []plan.Check
	// Carried lists what the operation carries to the final column, and how.
	Carried []string
	// Notes are things a person should know (writes that stop working after
	// contract, a column that changes position).
	Notes []string
	// Touches names (schema.name) the tables the operation changes or locks besides
	// its own (a foreign key's referenced table): the workflow claims them too.
	Touches []string
	// Raw is set for SQL a person wrote (the sql operation): zdm plan shows it as such.
	Raw bool
}

// Referencer is implemented by operations that read other tables than their own (a
// foreign key's referenced table): References names them as schema.name, so that
// they are inspected before planning.
type Referencer interface{ References() []string }

// Creator is implemented by operations that create their table: it need not exist.
type Creator interface{ CreatesTable() }

// Catalog answers what operations ask of the live database while they plan.
type Catalog interface {
	// Type resolves a type name.
	Type(name string) (schema.Type, error)
	// StrictFunction says whether every function of that (possibly qualified) name
	// is strict: NULL only for NULL input. StrictOperator the same for an operator.
	StrictFunction(name []string) bool
	StrictOperator(name string) bool
	// Recomputable says whether expr, over the table's row, gives the same value
	// whenever it is computed again: immutable functions and casts only, no subquery.
	Recomputable(expr string) bool
	// IndexMethod says whether the server has an index access method of that name.
	IndexMethod(name string) bool
}

// Env is what an operation plans against: its place in the file, the live table, and
// a place to report problems.
type Env struct {
	M     *spec.Migration
	Field string // operations[i].kind
	// Table is the live table the operation acts on; nil for an operation on no table,
	// or one that creates its table (TableName then says which, as schema.name).
	Table     *schema.Table
	TableName string
	// Lookup returns another table the migration names (schema.name) as the
	// operations before this one leave it, nil when it does not exist.
	Lookup func(name string) *schema.Table
	// Shapes is the schema as the operations before this one leave it; nil in tests
	// that plan one operation alone.
	Shapes *Shapes
	// Catalog is nil in tests without a database: types are then taken as written.
	Catalog Catalog
	// Resuming is set when this run already ran its expand: the columns it adds may
	// be there.
	Resuming bool
	Errs     spec.Errors
}

// Errorf reports a problem with the operation's field sub.
func (e *Env) Errorf(sub, fix, format string, args ...any) {
	f := e.Field
	if sub != "" {
		f += "." + sub
	}
	e.Errs = append(e.Errs, e.M.Errorf(f, fix, format, args...))
}

// Path is the full field path of sub.
func (e *Env) Path(sub string) string { return e.Field + "." + sub }

// TableIdent is the operation's table, quoted and qualified.
func (e *Env) TableIdent() string {
	if e.Table != nil {
		return e.Table.Ident()
	}
	sch, name := spec.SplitTable(e.TableName)
	return quoted(sch, name)
}

// Fresh reports a column the operation adds that already exists (unless this run added
// it).
func (e *Env) Fresh(sub, name string) {
	if e.Table.Column(name) != nil && !e.Resuming {
		e.Errorf(sub, "choose another name, or drop the existing column", "column %q already exists in %s", name, e.Table)
	}
}

// Column returns the named column or reports that it does not exist.
func (e *Env) Column(sub, name string) *schema.Column {
	c := e.Table.Column(name)
	if c == nil {
		e.Errorf(sub, "use one of: "+strings.Join(VisibleColumns(e.Table), ", "), "column %q does not exist in %s", name, e.Table)
	}
	if c != nil && c.ReplacedBy != "" {
		e.Errorf(sub, "change the column in a later migration, once "+c.ReplacedBy+" is contracted", "column %q is replaced or dropped by %s of this migration", name, c.ReplacedBy)
		return nil
	}
	if c != nil && c.UsedBy == "" {
		c.UsedBy = e.Field
	}
	return c
}

// Expr checks that v, in field sub, is exactly one SQL expression, and returns it as the
// parser reads it, with references qualified by the table's schema reduced to the
// table's name (the trigger reads the row under that name only).
func (e *Env) Expr(sub, v string) string {
	x, err := sqlexpr.ParseExpr(v)
	if err != nil {
		e.Errorf(sub, "write a single SQL expression over the table's columns", "%s", err)
		return ""
	}
	out, err := x.RewriteColumnRefs(func(parts []string) []string {
		if e.Table != nil && len(parts) == 3 && parts[0] == e.Table.Schema && parts[1] == e.Table.Name {
			return parts[1:]
		}
		return nil
	})
	if err != nil {
		e.Errorf(sub, "write a single SQL expression over the table's columns", "%s", err)
		return ""
	}
	return out
}

// Type resolves the type named in field sub.
func (e *Env) Type(sub, v string) *schema.Type {
	if _, err := sqlexpr.ParseType(v); err != nil {
		e.Errorf(sub, "write one PostgreSQL type, e.g. bigint, text or numeric(12,2)", "%s", err)
		return nil
	}
	if t, ok := e.Shapes.pendingType(v); ok {
		return &t
	}
	if e.Catalog == nil {
		return &schema.Type{Name: strings.TrimSpace(v), Comparable: true, Collatable: true}
	}
	t, err := e.Catalog.Type(v)
	if err != nil {
		e.Errorf(sub, "write one PostgreSQL type, e.g. bigint, text or numeric(12,2)", "%s", err)
		return nil
	}
	return &t
}

// comparable says whether values of the column type typ (as format_type writes it)
// have an equality operator.
func (e *Env) comparable(typ string) bool {
	if e.Catalog == nil {
		return true
	}
	t, err := e.Catalog.Type(typ)
	return err == nil && t.Comparable // when in doubt, compare as text: always possible
}

// recomputable says whether expr can be computed again later with the same result, so
// that verify may compare it.
func (e *Env) recomputable(expr string) bool {
	if x, err := sqlexpr.ParseExpr(expr); err != nil || x.HasSubquery() {
		return false
	}
	return e.Catalog == nil || e.Catalog.Recomputable(expr)
}

// VisibleColumns lists the table's columns that are not zdm's own.
func VisibleColumns(t *schema.Table) []string {
	var out []string
	for _, c := range t.Columns {
		if !strings.HasPrefix(c.Name, "_zdm_") {
			out = append(out, c.Name)
		}
	}
	return out
}

// Ident quotes one identifier.
func Ident(s string) string { return pgx.Identifier{s}.Sanitize() }

// Literal renders s as a SQL string literal, for the few statements (COMMENT) that take
// no parameters.
func Literal(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// ShadowName is the column change_type fills beside col.
func ShadowName(col string) string { return "_zdm_" + col }

// shortName keeps a name zdm derives under PostgreSQL's 63-byte limit.
func shortName(n string) string {
	if len(n) > 63 {
		n = n[:63]
	}
	return n
}

// addColumn is the expand statement that adds a nullable column without default: a
// catalog change, no row touched.
func addColumn(e *Env, name, typ, collation string) plan.Statement {
	coll := ""
	if collation != "" {
		coll = " COLLATE " + collation
	}
	return plan.Statement{
		ID:   "expand/add-column/" + name,
		SQL:  fmt.Sprintf("ALTER TABLE %s ADD COLUMN IF NOT EXISTS %s %s%s", e.TableIdent(), Ident(name), typ, coll),
		Lock: plan.LockBriefExclusive,
		Note: "nullable, no default: no row is touched",
	}
}

func dropColumnRollback(e *Env, name string) plan.Statement {
	return plan.Statement{
		ID:   "rollback/drop-column/" + name,
		SQL:  fmt.Sprintf("ALTER TABLE %s DROP COLUMN IF EXISTS %s", e.TableIdent(), Ident(name)),
		Lock: plan.LockBriefExclusive,
	}
}

// AddCheckNotValid is the idempotent statement that adds CHECK (expr) NOT VALID as name
// to the table tbl (quoted): new writes are checked from then on, existing rows only by
// a later VALIDATE.
func AddCheckNotValid(tbl, name, expr string) string {
	return fmt.Sprintf(`DO $zdm$ BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conrelid = %s::regclass AND conname = %s) THEN
    ALTER TABLE %s ADD CONSTRAINT %s CHECK (%s) NOT VALID;
  END IF;
END $zdm$`, Literal(tbl), Literal(name), tbl, Ident(name), expr)
}
