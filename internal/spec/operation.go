package spec

import (
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"sync"
)

// Op is one operation's fields as the file gives them. Each operation type registers
// itself with RegisterOp; the file format's keys, the checks that need no database and
// the JSON the workflow carries all come from that registration.
type Op interface {
	// CheckFile reports what is wrong with the fields without asking the database.
	CheckFile(c *OpCheck)
	// Moves says where applications read after contract: true when they move to new
	// columns (rename_column, add_column), false when the new data lands under the old
	// name (change_type), nil when the operation does not concern them (an index).
	Moves() *bool
}

// Operation is one item of the file's operations list: its kind (the YAML key) and
// its fields. Where the kind's type is not registered in this program (the workflow,
// which plans nothing, links no operation), the fields are kept as JSON, untouched.
type Operation struct {
	Kind string
	Op   Op
	Raw  json.RawMessage
	// Table is the table the operation acts on when it names one itself (schema.name);
	// "" means the migration's table. Every operation takes the key, so a file may
	// touch several tables.
	Table string
}

// Tableless is implemented by operations that act on no table (a type, raw SQL): they
// need no table, neither their own nor the migration's.
type Tableless interface{ Tableless() }

type opType struct {
	new  func() Op
	keys []string
}

var (
	registryMu sync.RWMutex
	registry   = map[string]opType{}
)

// RegisterOp makes kind a key of the operations list; new returns a zero value of its
// type, a pointer to a struct whose yaml tags are the operation's fields.
func RegisterOp(kind string, new func() Op) {
	registryMu.Lock()
	defer registryMu.Unlock()
	if _, dup := registry[kind]; dup {
		panic("spec: operation " + kind + " registered twice")
	}
	registry[kind] = opType{new: new, keys: yamlKeys(new())}
}

// OpKinds lists the registered operations, sorted.
func OpKinds() []string {
	registryMu.RLock()
	defer registryMu.RUnlock()
	out := make([]string, 0, len(registry))
	for k := range registry {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func lookupOp(kind string) (opType, bool) {
	registryMu.RLock()
	defer registryMu.RUnlock()
	t, ok := registry[kind]
	return t, ok
}

// yamlKeys reads the yaml tags of the struct v points to.
func yamlKeys(v any) []string {
	t := reflect.TypeOf(v)
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	var keys []string
	for i := range t.NumField() {
		tag := strings.Split(t.Field(i).Tag.Get("yaml"), ",")[0]
		if tag != "" && tag != "-" {
			keys = append(keys, tag)
		}
	}
	return keys
}

// MarshalJSON writes {"kind": {fields}}, the shape of the file, the operation's own
// table among the fields.
func (o Operation) MarshalJSON() ([]byte, error) {
	switch {
	case o.Op != nil:
		body, err := json.Marshal(o.Op)
		if err != nil {
			return nil, err
		}
		if o.Table != "" {
			var fields map[string]json.RawMessage
			if err := json.Unmarshal(body, &fields); err != nil {
				return nil, err
			}
			fields["table"], _ = json.Marshal(o.Table)
			if body, err = json.Marshal(fields); err != nil {
				return nil, err
			}
		}
		return json.Marshal(map[string]json.RawMessage{o.Kind: body})
	case o.Raw != nil:
		return json.Marshal(map[string]json.RawMessage{o.Kind: o.Raw})
	}
	return []byte("{}"), nil
}

// UnmarshalJSON reads {"kind": {fields}} into the registered type of kind.
func (o *Operation) UnmarshalJSON(b []byte) error {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	if len(raw) != 1 {
		return fmt.Errorf("an operation has exactly one kind, got %d", len(raw))
	}
	for kind, body := range raw {
		t, ok := lookupOp(kind)
		if !ok {
			o.Kind, o.Raw = kind, append(json.RawMessage(nil), body...)
			return nil
		}
		op := t.new()
		if err := json.Unmarshal(body, op); err != nil {
			return fmt.Errorf("operation %s: %w", kind, err)
		}
		var own struct {
			Table string `json:"table"`
		}
		if err := json.Unmarshal(body, &own); err != nil {
			return fmt.Errorf("operation %s: %w", kind, err)
		}
		o.Kind, o.Op, o.Table = kind, op, own.Table
	}
	return nil
}

// OpCheck is what an operation's CheckFile reports to: field names are relative to the
// operation ("column" for operations[2].change_type.column).
type OpCheck struct {
	m     *Migration
	field string
	table string
	errs  *Errors
	seen  map[string]string
}

// Table is the table the operation acts on, as schema.name ("" when neither the
// operation nor the migration names one).
func (c *OpCheck) Table() string { return c.table }

// Field is the operation's path in the file, e.g. operations[2].change_type.
func (c *OpCheck) Field() string { return c.field }

// Errorf records a problem with the operation's field sub ("" for the operation itself).
func (c *OpCheck) Errorf(sub, fix, format string, args ...any) {
	f := c.field
	if sub != "" {
		f += "." + sub
	}
	*c.errs = append(*c.errs, c.m.Errorf(f, fix, format, args...))
}

// Ident checks that v, in field sub, is a column name zdm can manage.
func (c *OpCheck) Ident(sub, v string) {
	switch {
	case v == "":
		c.Errorf(sub, "add the "+sub+" field", "is required")
	case !identRE.MatchString(v) || len(v) > 50:
		c.Errorf(sub, "use a plain column name (letters, digits, _; at most 50 characters)", "%q is not a column name zdm can manage", v)
	case strings.HasPrefix(v, "_zdm"):
		c.Errorf(sub, "choose a name that does not start with _zdm", "%q is reserved for zdm's own columns", v)
	}
}

// Required checks that field sub is set.
func (c *OpCheck) Required(sub, v, example string) {
	if strings.TrimSpace(v) == "" {
		c.Errorf(sub, "add it, e.g. "+example, "is required")
	}
}

// Claim records that the operation changes column col (named in field sub): one
// operation per column and migration.
func (c *OpCheck) Claim(sub, col string) {
	if col == "" {
		return
	}
	key := c.table + "." + col
	if prev, ok := c.seen[key]; ok {
		c.Errorf(sub, "split the changes to one column into separate migrations", "column %q is already changed by %s", col, prev)
		return
	}
	c.seen[key] = c.field + "." + sub
}
