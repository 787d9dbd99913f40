package ops

import (
	"fmt"

	"github.com/zdmhq/zdm/internal/plan"
	"github.com/zdmhq/zdm/internal/spec"
)

// AddEnumValue adds a value to an enum type. PostgreSQL cannot remove an enum value
// again, so no rollback could restore the type: the value is added at contract, after
// the last gate, on its own outside any transaction (servers before 12 refuse ADD VALUE
// in one, and a value added in a transaction cannot be used before it commits). Such a
// statement cannot be rehearsed, so everything that could make it fail is checked at
// plan.
type AddEnumValue struct {
	Enum  string `yaml:"enum" json:"enum"`
	Value string `yaml:"value" json:"value"`
	// Before or After place the value next to an existing one (at the end when both are
	// empty).
	Before string `yaml:"before" json:"before,omitempty"`
	After  string `yaml:"after" json:"after,omitempty"`
	// Schema is the type's schema (public when empty).
	Schema string `yaml:"schema" json:"schema,omitempty"`
}

func init() { spec.RegisterOp("add_enum_value", func() spec.Op { return &AddEnumValue{} }) }

var _ Operation = (*AddEnumValue)(nil)

// Tableless implements spec.Tableless: a type belongs to no table.
func (o *AddEnumValue) Tableless() {}

// CheckFile implements spec.Op.
func (o *AddEnumValue) CheckFile(c *spec.OpCheck) {
	checkTypeName(c, "enum", o.Enum, o.Schema)
	if o.Value == "" {
		c.Errorf("value", "write the value to add, e.g. `value: ok`", "is required")
	} else {
		checkLabel(c, "value", o.Value)
	}
	switch {
	case o.Before != "" && o.After != "":
		c.Errorf("after", "keep one of before and after", "before and after are both set")
	case o.Before != "" && o.Before == o.Value, o.After != "" && o.After == o.Value:
		c.Errorf(o.neighborField(), "name an existing value the new one goes next to", "the value cannot be placed next to itself")
	}
}

// Moves implements spec.Op: a new value moves no application.
func (o *AddEnumValue) Moves() *bool { return nil }

func (o *AddEnumValue) neighborField() string {
	if o.After != "" {
		return "after"
	}
	return "before"
}

// Plan implements Operation.
func (o *AddEnumValue) Plan(e *Env) *Change {
	sch := schemaOr(o.Schema)
	typ := quoted(sch, o.Enum)
	name := sch + "." + o.Enum
	place, neighbor := "", ""
	switch {
	case o.Before != "":
		place, neighbor = " BEFORE "+Literal(o.Before), o.Before
	case o.After != "":
		place, neighbor = " AFTER "+Literal(o.After), o.After
	}
	oid := typeOID(sch, o.Enum)
	labels := fmt.Sprintf(`(SELECT string_agg(quote_literal(enumlabel), ', ' ORDER BY enumsortorder) FROM pg_enum WHERE enumtypid = %s)`, oid)
	ch := &Change{
		Summary: fmt.Sprintf("value %s added to enum %s at contract", Literal(o.Value), name),
		Contract: []plan.Statement{{
			ID:         "contract/add-enum-value/" + o.Enum,
			SQL:        fmt.Sprintf("ALTER TYPE %s ADD VALUE IF NOT EXISTS %s%s", typ, Literal(o.Value), place),
			Lock:       "none on tables; EXCLUSIVE on the type, brief (catalog only)",
			Concurrent: true,
			Note:       "after the contract transaction: PostgreSQL cannot remove an enum value, so it is added only once the migration is approved",
		}},
		Checks: []plan.Check{
			catalogCheck(e, "enum", "name an existing enum type and its schema (create one with create_enum)", fmt.Sprintf(`DECLARE kind "char";
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = %s) THEN
    RAISE EXCEPTION 'schema %% does not exist', %s;
  END IF;
  SELECT typtype INTO kind FROM pg_type WHERE oid = %s;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'type %%.%% does not exist', %s, %s;
  END IF;
  IF kind <> 'e' THEN
    RAISE EXCEPTION 'type %%.%% is not an enum', %s, %s;
  END IF;
END`, Literal(sch), Literal(sch), oid, Literal(sch), Literal(o.Enum), Literal(sch), Literal(o.Enum))),
		},
		Notes: []string{
			fmt.Sprintf("applications may write %s only after contract: until then the type does not have it", Literal(o.Value)),
		},
	}
	if neighbor != "" {
		ch.Checks = append(ch.Checks, catalogCheck(e, o.neighborField(), "name one of the enum's values", fmt.Sprintf(`BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_enum WHERE enumtypid = %s AND enumlabel = %s) THEN
    RAISE EXCEPTION 'enum %%.%% has no value %%: its values are %%', %s, %s, %s, %s;
  END IF;
END`, oid, Literal(neighbor), Literal(sch), Literal(o.Enum), Literal(Literal(neighbor)), labels)))
	}
	if !e.Resuming {
		// A run that reached contract before may have added it already.
		ch.Checks = append(ch.Checks, catalogCheck(e, "value", "nothing to do: remove this operation", fmt.Sprintf(`BEGIN
  IF EXISTS (SELECT 1 FROM pg_enum WHERE enumtypid = %s AND enumlabel = %s) THEN
    RAISE EXCEPTION 'enum %%.%% already has the value %%', %s, %s, %s;
  END IF;
END`, oid, Literal(o.Value), Literal(sch), Literal(o.Enum), Literal(Literal(o.Value)))))
	}
	return ch
}

// Undo implements Undoer: there is none.
func (o *AddEnumValue) Undo(*Env, *Change) *Undo {
	return cannotUndo("PostgreSQL cannot remove a value from an enum type",
		"move add_enum_value to a migration without undo_window")
}
