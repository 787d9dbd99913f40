package convert

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// DBCatalog reads the live schema through pool, for what the SQL does not say.
type DBCatalog struct {
	Ctx  context.Context
	Pool *pgxpool.Pool
}

var _ Catalog = DBCatalog{}

func regclass(qualified string) string {
	schema, name := splitQualified(qualified)
	return pgx.Identifier{schema, name}.Sanitize()
}

// ColumnType implements Catalog.
func (d DBCatalog) ColumnType(table, column string) (string, bool, error) {
	var typ string
	err := d.Pool.QueryRow(d.Ctx, `SELECT format_type(a.atttypid, a.atttypmod) FROM pg_attribute a
		WHERE a.attrelid = to_regclass($1) AND a.attname = $2 AND a.attnum > 0 AND NOT a.attisdropped`,
		regclass(table), column).Scan(&typ)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", false, nil
	}
	return typ, err == nil, err
}

// IndexTable implements Catalog.
func (d DBCatalog) IndexTable(index string) (string, bool, error) {
	var schema, name string
	err := d.Pool.QueryRow(d.Ctx, `SELECT n.nspname, c.relname FROM pg_index i
		JOIN pg_class c ON c.oid = i.indrelid JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE i.indexrelid = to_regclass($1)`, regclass(index)).Scan(&schema, &name)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", false, nil
	}
	return schema + "." + name, err == nil, err
}
