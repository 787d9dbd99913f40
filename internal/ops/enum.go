package ops

import (
	"fmt"
	"strings"

	"github.com/zdmhq/zdm/internal/plan"
	"github.com/zdmhq/zdm/internal/spec"
)

// What create_enum and add_enum_value share: names and labels checked without a
// database, and checks of the catalog made at plan time.

// maxLabel is PostgreSQL's limit on an enum label and a type name (NAMEDATALEN - 1).
const maxLabel = 63

// checkTypeName checks the name of a type (field sub) and its schema.
func checkTypeName(c *spec.OpCheck, sub, name, schemaName string) {
	switch {
	case strings.TrimSpace(name) == "":
		c.Errorf(sub, "add the "+sub+" field, e.g. `"+sub+": mood`", "is required")
	case strings.Contains(name, "."):
		c.Errorf(sub, "write the schema in the schema field, e.g. `schema: app`", "%q names a schema: the type's name is written alone", name)
	case len(name) > maxLabel:
		c.Errorf(sub, fmt.Sprintf("use a name of at most %d bytes", maxLabel), "%q is longer than PostgreSQL's %d bytes", name, maxLabel)
	}
	if len(schemaName) > maxLabel {
		c.Errorf("schema", fmt.Sprintf("use a name of at most %d bytes", maxLabel), "%q is longer than PostgreSQL's %d bytes", schemaName, maxLabel)
	}
}

// checkLabel checks one enum label (field sub).
func checkLabel(c *spec.OpCheck, sub, v string) bool {
	switch {
	case v == "":
		c.Errorf(sub, "write the value, e.g. `happy`", "is empty")
	case len(v) > maxLabel:
		c.Errorf(sub, fmt.Sprintf("use a value of at most %d bytes", maxLabel), "%q is %d bytes: PostgreSQL's limit on an enum value is %d", v, len(v), maxLabel)
	case strings.ContainsRune(v, 0):
		c.Errorf(sub, "remove the NUL character", "%q holds a NUL character", v)
	default:
		return true
	}
	return false
}

// schemaOr is the schema a type is in: public when the file says none.
func schemaOr(s string) string {
	if s == "" {
		return "public"
	}
	return s
}

// doBlock is a DO block running body, quoted with a dollar tag that body does not hold:
// enum labels are anyone's text.
func doBlock(body string) string {
	tag := "$zdm$"
	for i := 1; strings.Contains(body, tag); i++ {
		tag = fmt.Sprintf("$zdm%d$", i)
	}
	return "DO " + tag + " " + body + " " + tag
}

// catalogCheck is a plan-time check of field sub: body, PL/pgSQL, raises the problem
// it finds with RAISE EXCEPTION. It changes nothing: Prepare runs it outside any
// transaction.
func catalogCheck(e *Env, sub, fix, body string) plan.Check {
	return plan.Check{Field: e.Path(sub), Group: e.Field, Fix: fix, SQL: doBlock(body)}
}

// typeOID is a PL/pgSQL expression: the oid of type name in schema sch, NULL when there
// is none.
func typeOID(sch, name string) string {
	return fmt.Sprintf(`(SELECT t.oid FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace WHERE n.nspname = %s AND t.typname = %s)`,
		Literal(sch), Literal(name))
}

// schemaMustExist is the check that schema sch exists (field sub names it).
func schemaMustExist(e *Env, sub, sch string) plan.Check {
	return catalogCheck(e, sub, "create the schema first, or name an existing one", fmt.Sprintf(`BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = %s) THEN
    RAISE EXCEPTION 'schema %% does not exist', %s;
  END IF;
END`, Literal(sch), Literal(sch)))
}
