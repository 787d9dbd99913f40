package schema

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Dependent is an object PostgreSQL records as depending on a column (pg_depend): what
// dropping the column would drop or be refused by.
type Dependent struct {
	// Type is pg_identify_object's type: "table constraint", "index", "rule",
	// "policy", "trigger", "default value", "sequence", "statistics object",
	// "table column", "publication relation", ...
	Type string `json:"type"`
	// Name is the object's name; Identity its qualified identity.
	Name     string `json:"name"`
	Identity string `json:"identity"`
	// Describe is pg_describe_object's text, for messages.
	Describe string `json:"describe"`
	// ConstraintType is pg_constraint.contype for table constraints.
	ConstraintType string `json:"constraint_type,omitempty"`
	// Expr is a CHECK constraint's expression; Deferrable its DEFERRABLE clause.
	Expr string `json:"expr,omitempty"`
	// Own is true for the column's own default and owned sequence.
	Own bool `json:"own,omitempty"`
	// Validated is false for a NOT VALID constraint.
	Validated bool `json:"validated,omitempty"`
	// Using and WithCheck are a row-level security policy's expressions.
	Using     string `json:"using,omitempty"`
	WithCheck string `json:"with_check,omitempty"`
}

// Grant is one column privilege (GRANT priv (col) ON table TO grantee).
type Grant struct {
	Grantee   string `json:"grantee"` // "" for PUBLIC
	Privilege string `json:"privilege"`
	Grantable bool   `json:"grantable,omitempty"`
}

// Type is a type as the live database knows it.
type Type struct {
	// Name is the type as format_type writes it, modifiers included.
	Name string `json:"name"`
	// Comparable is false for types without an equality operator (json, xml, point, and
	// arrays or composites of them): zdm compares their values as text.
	Comparable bool `json:"comparable"`
	// Collatable types take a COLLATE clause.
	Collatable bool `json:"collatable"`
}

// ResolveType asks the database what the type written as name is. name must already be
// known to be one type name (sqlexpr.ParseType): it is pasted into a cast.
func ResolveType(ctx context.Context, q Querier, name string) (Type, error) {
	// pg_typeof names a domain as itself (a row description gives its base type); the
	// description gives the modifiers (numeric(12,2)).
	rows, err := q.Query(ctx, "SELECT pg_typeof(NULL::"+name+")::oid, NULL::"+name)
	if err != nil {
		return Type{}, pgMessage(err)
	}
	// Copied: the descriptions live in the connection's buffer, which the next query
	// on it overwrites.
	fd := slices.Clone(rows.FieldDescriptions())
	var oid uint32
	for rows.Next() {
		if err := rows.Scan(&oid, nil); err != nil {
			rows.Close()
			return Type{}, err
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return Type{}, pgMessage(err)
	}
	if len(fd) != 2 || oid == 0 {
		return Type{}, fmt.Errorf("%s is not one type", name)
	}
	mod := fd[1].TypeModifier
	if fd[1].DataTypeOID != oid {
		mod = -1 // a domain: its modifiers are its base type's
	}
	var t Type
	if err := q.QueryRow(ctx, `SELECT format_type($1, nullif($2, -1)), typcollation <> 0 FROM pg_type WHERE oid = $1`,
		oid, mod).Scan(&t.Name, &t.Collatable); err != nil {
		return Type{}, fmt.Errorf("type %s: %w", name, err)
	}
	t.Comparable, err = comparable(ctx, q, oid, 0)
	return t, err
}

// pgMessage is the server's own message of err, for errors a person has to fix.
func pgMessage(err error) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return errors.New(pe.Message)
	}
	return err
}

// comparable says whether values of the type can be compared with IS DISTINCT FROM:
// PostgreSQL must find an equality operator for it (and, for arrays, domains and
// composites, for what they are made of).
func comparable(ctx context.Context, q Querier, oid uint32, depth int) (bool, error) {
	if depth > 8 {
		return false, nil
	}
	var typtype, category string
	var elem, base, relid uint32
	var name string
	err := q.QueryRow(ctx, `SELECT typtype::text, typcategory::text, typelem, typbasetype, typrelid, format_type(oid, NULL)
		FROM pg_type WHERE oid = $1`, oid).Scan(&typtype, &category, &elem, &base, &relid, &name)
	if err != nil {
		return false, fmt.Errorf("read type %d: %w", oid, err)
	}
	switch {
	case typtype == "d":
		return comparable(ctx, q, base, depth+1)
	case category == "A" && elem != 0:
		return comparable(ctx, q, elem, depth+1)
	case typtype == "c":
		rows, err := q.Query(ctx, `SELECT atttypid FROM pg_attribute WHERE attrelid = $1 AND attnum > 0 AND NOT attisdropped`, relid)
		if err != nil {
			return false, err
		}
		types, err := pgx.CollectRows(rows, pgx.RowTo[uint32])
		if err != nil {
			return false, err
		}
		for _, t := range types {
			if ok, err := comparable(ctx, q, t, depth+1); err != nil || !ok {
				return false, err
			}
		}
		return true, nil
	}
	// The parser itself finds the operator, the way IS DISTINCT FROM will.
	var ok bool
	err = q.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_operator o
		WHERE o.oprname = '=' AND o.oprleft = o.oprright AND o.oprresult = 'bool'::regtype
		  AND (o.oprleft = $1 OR EXISTS (SELECT 1 FROM pg_cast c WHERE c.castsource = $1 AND c.casttarget = o.oprleft AND c.castmethod = 'b' AND c.castcontext = 'i')
		       OR (o.oprleft = 'anyenum'::regtype AND $2 = 'e') OR (o.oprleft = 'anyrange'::regtype AND $2 = 'r')
		       OR (o.oprleft = 'anymultirange'::regtype AND $2 = 'm')))`, oid, typtype).Scan(&ok)
	return ok, err
}

// readAttached reads, for every column, what is attached to it: its dependents in
// pg_depend, its privileges, comment, statistics target and collation.
func (t *Table) readAttached(ctx context.Context, q Querier, oid uint32) error {
	rows, err := q.Query(ctx, `
		SELECT a.attname,
		       coalesce(CASE WHEN a.attcollation <> ty.typcollation AND a.attcollation <> 0
		                     THEN quote_ident(cn.nspname) || '.' || quote_ident(co.collname) END, ''),
		       coalesce(col_description(a.attrelid, a.attnum), ''),
		       a.attstattarget
		FROM pg_attribute a
		JOIN pg_type ty ON ty.oid = a.atttypid
		LEFT JOIN pg_collation co ON co.oid = a.attcollation
		LEFT JOIN pg_namespace cn ON cn.oid = co.collnamespace
		WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped`, oid)
	if err != nil {
		return fmt.Errorf("read columns of %s: %w", t, err)
	}
	for rows.Next() {
		var name, coll, comment string
		var stat int
		if err := rows.Scan(&name, &coll, &comment, &stat); err != nil {
			return err
		}
		if c := t.Column(name); c != nil {
			c.Collation, c.Comment = coll, comment
			if stat >= 0 {
				c.StatTarget = &stat
			}
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read columns of %s: %w", t, err)
	}

	rows, err = q.Query(ctx, `
		SELECT a.attname, coalesce(r.rolname, ''), x.privilege_type, x.is_grantable
		FROM pg_attribute a, aclexplode(a.attacl) x
		LEFT JOIN pg_roles r ON r.oid = x.grantee
		WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped AND a.attacl IS NOT NULL
		ORDER BY 1, 2, 3`, oid)
	if err != nil {
		return fmt.Errorf("read column privileges of %s: %w", t, err)
	}
	for rows.Next() {
		var col string
		var g Grant
		if err := rows.Scan(&col, &g.Grantee, &g.Privilege, &g.Grantable); err != nil {
			return err
		}
		if c := t.Column(col); c != nil {
			c.Grants = append(c.Grants, g)
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read column privileges of %s: %w", t, err)
	}

	rows, err = q.Query(ctx, `
		SELECT a.attname, o.type, coalesce(con.conname, pol.polname, tg.tgname, o.name, ''), coalesce(o.identity, ''),
		       pg_describe_object(d.classid, d.objid, d.objsubid),
		       coalesce(con.contype::text, ''),
		       coalesce(CASE WHEN con.contype = 'c' THEN pg_get_expr(con.conbin, con.conrelid) END, ''),
		       (d.classid = 'pg_attrdef'::regclass AND ad.adnum = a.attnum)
		         OR (d.classid = 'pg_class'::regclass AND d.deptype = 'a' AND sq.relkind = 'S'),
		       coalesce(con.convalidated, true),
		       coalesce(pg_get_expr(pol.polqual, pol.polrelid), ''), coalesce(pg_get_expr(pol.polwithcheck, pol.polrelid), '')
		FROM pg_depend d
		JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
		CROSS JOIN LATERAL pg_identify_object(d.classid, d.objid, d.objsubid) o
		LEFT JOIN pg_constraint con ON d.classid = 'pg_constraint'::regclass AND con.oid = d.objid
		LEFT JOIN pg_policy pol ON d.classid = 'pg_policy'::regclass AND pol.oid = d.objid
		LEFT JOIN pg_trigger tg ON d.classid = 'pg_trigger'::regclass AND tg.oid = d.objid
		LEFT JOIN pg_attrdef ad ON d.classid = 'pg_attrdef'::regclass AND ad.oid = d.objid
		LEFT JOIN pg_class sq ON d.classid = 'pg_class'::regclass AND sq.oid = d.objid
		WHERE d.refclassid = 'pg_class'::regclass AND d.refobjid = $1 AND d.refobjsubid > 0
		  AND NOT (d.classid = 'pg_class'::regclass AND d.objid = $1 AND d.objsubid = d.refobjsubid)
		ORDER BY 1, 2, 3`, oid)
	if err != nil {
		return fmt.Errorf("read what depends on the columns of %s: %w", t, err)
	}
	for rows.Next() {
		var col string
		var d Dependent
		if err := rows.Scan(&col, &d.Type, &d.Name, &d.Identity, &d.Describe, &d.ConstraintType, &d.Expr, &d.Own, &d.Validated, &d.Using, &d.WithCheck); err != nil {
			return err
		}
		// A constraint depends on a column once for its key and once for its
		// expression: keep one.
		if c := t.Column(col); c != nil && !slices.ContainsFunc(c.Dependents, func(x Dependent) bool {
			return x.Type == d.Type && x.Identity == d.Identity && x.Describe == d.Describe
		}) {
			c.Dependents = append(c.Dependents, d)
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read what depends on the columns of %s: %w", t, err)
	}
	return nil
}
