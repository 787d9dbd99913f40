package schema

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// Constraint is one of the table's constraints as pg_constraint holds it. NOT NULL is a
// column property in PostgreSQL 15, not a constraint: it is not among them.
type Constraint struct {
	Name string `json:"name"`
	// Type is contype: c (CHECK), u (UNIQUE), p (PRIMARY KEY), f (FOREIGN KEY),
	// x (EXCLUDE), t (constraint trigger).
	Type string `json:"type"`
	// Def is pg_get_constraintdef: "CHECK ((abalance >= 0))", "FOREIGN KEY (bid) REFERENCES branches(bid)".
	Def string `json:"def"`
	// Columns are the table's columns it constrains (conkey), in its order.
	Columns   []string `json:"columns,omitempty"`
	Validated bool     `json:"validated"`
	// Inherited is set for a constraint a parent table gave it.
	Inherited bool `json:"inherited,omitempty"`
	// Index is the index it owns (u, p, x), or for a foreign key the referenced
	// table's unique index it relies on; "" for none.
	Index string `json:"index,omitempty"`
	// References is a foreign key's referenced table, schema.name.
	References string `json:"references,omitempty"`
	// ReferencedBy lists the foreign keys, of any table, this one included, that rely
	// on a u or p constraint's index: dropping it would fail.
	ReferencedBy []ConstraintRef `json:"referenced_by,omitempty"`
	// ReplicaIdentity is set when its index is the table's REPLICA IDENTITY USING INDEX.
	ReplicaIdentity bool `json:"replica_identity,omitempty"`
	// AddedBy names the operation of the migration being planned that adds it (it is
	// not in the database yet): set on the planner's copy of the table only.
	AddedBy string `json:"-"`
}

// ConstraintRef names a constraint of some table.
type ConstraintRef struct {
	Table string `json:"table"` // schema.name
	Name  string `json:"name"`
}

// Constraint returns the named constraint, or nil.
func (t *Table) Constraint(name string) *Constraint {
	for i := range t.Constraints {
		if t.Constraints[i].Name == name {
			return &t.Constraints[i]
		}
	}
	return nil
}

func (t *Table) readConstraints(ctx context.Context, q Querier, oid uint32) error {
	if err := q.QueryRow(ctx, `SELECT relreplident::text FROM pg_class WHERE oid = $1`, oid).Scan(&t.ReplicaIdentity); err != nil {
		return fmt.Errorf("read replica identity of %s: %w", t, err)
	}
	rows, err := q.Query(ctx, `
		SELECT con.conname, con.contype::text, pg_get_constraintdef(con.oid),
		       array(SELECT a.attname FROM unnest(con.conkey) WITH ORDINALITY k(attnum, ord)
		             JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum ORDER BY k.ord),
		       con.convalidated, con.coninhcount > 0,
		       coalesce((SELECT c.relname::text FROM pg_class c WHERE c.oid = con.conindid), ''),
		       coalesce((SELECT n.nspname || '.' || c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		                 WHERE c.oid = con.confrelid), ''),
		       array(SELECT n.nspname || '.' || c.relname
		             FROM pg_constraint fk JOIN pg_class c ON c.oid = fk.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace
		             WHERE con.contype IN ('u', 'p') AND fk.contype = 'f' AND fk.confrelid = con.conrelid AND fk.conindid = con.conindid
		             ORDER BY 1, fk.conname),
		       array(SELECT fk.conname::text
		             FROM pg_constraint fk JOIN pg_class c ON c.oid = fk.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace
		             WHERE con.contype IN ('u', 'p') AND fk.contype = 'f' AND fk.confrelid = con.conrelid AND fk.conindid = con.conindid
		             ORDER BY n.nspname || '.' || c.relname, fk.conname),
		       coalesce((SELECT i.indisreplident FROM pg_index i WHERE i.indexrelid = con.conindid AND con.contype IN ('u', 'p', 'x')), false)
		FROM pg_constraint con
		WHERE con.conrelid = $1
		ORDER BY con.conname`, oid)
	if err != nil {
		return fmt.Errorf("read constraints of %s: %w", t, err)
	}
	t.Constraints, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (Constraint, error) {
		var c Constraint
		var tables, names []string
		err := r.Scan(&c.Name, &c.Type, &c.Def, &c.Columns, &c.Validated, &c.Inherited, &c.Index, &c.References, &tables, &names, &c.ReplicaIdentity)
		for i := range min(len(tables), len(names)) {
			c.ReferencedBy = append(c.ReferencedBy, ConstraintRef{Table: tables[i], Name: names[i]})
		}
		return c, err
	})
	if err != nil {
		return fmt.Errorf("read constraints of %s: %w", t, err)
	}
	return nil
}
