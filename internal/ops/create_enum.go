package ops

import (
	"fmt"
	"strings"

	"github.com/zdmhq/zdm/internal/plan"
	"github.com/zdmhq/zdm/internal/schema"
	"github.com/zdmhq/zdm/internal/spec"
)

// CreateEnum creates an enum type at expand; rollback drops it. No table is touched, so
// the operation takes no table lock and needs no backfill. Only a type this migration
// creates is ever dropped: a type of that name existing already is refused at plan.
type CreateEnum struct {
	Name   string   `yaml:"name" json:"name"`
	Values []string `yaml:"values" json:"values"`
	// Schema is the type's schema (public when empty).
	Schema string `yaml:"schema" json:"schema,omitempty"`
}

func init() { spec.RegisterOp("create_enum", func() spec.Op { return &CreateEnum{} }) }

var _ Operation = (*CreateEnum)(nil)

// Tableless implements spec.Tableless: a type belongs to no table.
func (o *CreateEnum) Tableless() {}

// CheckFile implements spec.Op.
func (o *CreateEnum) CheckFile(c *spec.OpCheck) {
	checkTypeName(c, "name", o.Name, o.Schema)
	if len(o.Values) == 0 {
		c.Errorf("values", "list the values in their order, e.g. `values: [happy, sad]`", "is required")
	}
	seen := map[string]int{}
	for i, v := range o.Values {
		sub := fmt.Sprintf("values[%d]", i)
		if !checkLabel(c, sub, v) {
			continue
		}
		if j, dup := seen[v]; dup {
			c.Errorf(sub, "list each value once", "%q is already values[%d]", v, j)
		}
		seen[v] = i
	}
}

// Moves implements spec.Op: a new type moves no application.
func (o *CreateEnum) Moves() *bool { return nil }

// Plan implements Operation.
func (o *CreateEnum) Plan(e *Env) *Change {
	sch := schemaOr(o.Schema)
	typ := quoted(sch, o.Name)
	if _, dup := e.Shapes.pendingType(sch + "." + o.Name); dup {
		e.Errorf("name", "create each type once", "type %s.%s is already created by an earlier operation of this migration", sch, o.Name)
		return nil
	}
	labels := make([]string, len(o.Values))
	for i, v := range o.Values {
		labels[i] = Literal(v)
	}
	ch := &Change{
		Summary: fmt.Sprintf("enum type %s.%s (%s) created at expand", sch, o.Name, strings.Join(labels, ", ")),
		Expand: []plan.Statement{{
			ID: "expand/create-enum/" + o.Name,
			SQL: doBlock(fmt.Sprintf(`BEGIN
  IF %s IS NULL THEN
    CREATE TYPE %s AS ENUM (%s);
  END IF;
END`, typeOID(sch, o.Name), typ, strings.Join(labels, ", "))),
			Lock: "none on tables (a new type)",
			Note: "created only when no type of that name is there: a retried step does not fail",
		}},
		Rollback: []plan.Statement{{
			ID:   "rollback/drop-enum/" + o.Name,
			SQL:  "DROP TYPE IF EXISTS " + typ,
			Lock: "none on tables (the type only)",
			Note: "no CASCADE: PostgreSQL refuses when a column or function uses the type by then, and the rollback stops there",
		}},
		Checks: []plan.Check{schemaMustExist(e, "schema", sch)},
		Notes: []string{
			"later operations of this migration may use the type (a column of it); a rollback drops them before the type",
		},
	}
	if !e.Resuming {
		// Rollback drops the type: it must be this migration's own.
		ch.Checks = append(ch.Checks, catalogCheck(e, "name",
			"choose another name, or drop the existing type (a table's or view's row type counts: they share the name space of types)",
			fmt.Sprintf(`DECLARE what text;
BEGIN
  SELECT CASE WHEN t.typrelid <> 0 THEN 'the row type of ' || t.typrelid::regclass::text
    ELSE CASE t.typtype WHEN 'e' THEN 'an enum' WHEN 'd' THEN 'a domain' WHEN 'c' THEN 'a composite type'
      WHEN 'r' THEN 'a range type' WHEN 'm' THEN 'a multirange type' ELSE 'a base type' END END
    INTO what FROM pg_type t WHERE t.oid = %s;
  IF FOUND THEN
    RAISE EXCEPTION 'type %%.%% already exists (%%)', %s, %s, what;
  END IF;
END`, typeOID(sch, o.Name), Literal(sch), Literal(o.Name))))
	}
	return ch
}

// Shape implements Shaper: later operations may use the type (a column of it).
func (o *CreateEnum) Shape(_ *Env, _ *Change, s *Shapes) {
	sch := o.Schema
	if sch == "" {
		sch = "public"
	}
	name := Ident(o.Name)
	if sch != "public" {
		name = quoted(sch, o.Name)
	}
	s.AddType(sch, o.Name, schema.Type{Name: name, Comparable: true})
}

// Undo implements Undoer: revert drops the type (the rollback).
func (o *CreateEnum) Undo(_ *Env, ch *Change) *Undo {
	return undoByRollback(ch, "revert drops the type "+o.Name+" (refused by PostgreSQL while a column still uses it)")
}
