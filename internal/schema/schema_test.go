package schema

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestChooseKeyPrefersThePrimaryKey(t *testing.T) {
	tbl := &Table{Schema: "public", Name: "t",
		Columns: []Column{{Name: "id", NotNull: true}, {Name: "code", NotNull: true}, {Name: "maybe"}},
		Indexes: []Index{
			{Name: "t_code", Columns: []string{"code"}, Unique: true, Valid: true},
			{Name: "t_pkey", Columns: []string{"id"}, Unique: true, Primary: true, Valid: true},
		}}
	tbl.chooseKey()
	assert.Equal(t, []string{"id"}, tbl.Key)
	assert.Equal(t, "primary key t_pkey", tbl.KeySource)
}

func TestChooseKeyFallsBackToAUniqueNotNullIndex(t *testing.T) {
	tbl := &Table{Schema: "public", Name: "t",
		Columns: []Column{{Name: "a", NotNull: true}, {Name: "b", NotNull: true}, {Name: "maybe"}},
		Indexes: []Index{
			{Name: "t_maybe", Columns: []string{"maybe"}, Unique: true, Valid: true},              // nullable
			{Name: "t_partial", Columns: []string{"a"}, Unique: true, Valid: true, Partial: true}, // partial
			{Name: "t_invalid", Columns: []string{"b"}, Unique: true, Valid: false},               // invalid
			{Name: "t_expr", Columns: []string{""}, Unique: true, Valid: true},                    // expression
			{Name: "t_ab", Columns: []string{"a", "b"}, Unique: true, Valid: true},
		}}
	tbl.chooseKey()
	assert.Equal(t, []string{"a", "b"}, tbl.Key)
	assert.Equal(t, "unique index t_ab", tbl.KeySource)

	none := &Table{Columns: []Column{{Name: "maybe"}}, Indexes: []Index{{Name: "x", Columns: []string{"maybe"}, Unique: true, Valid: true}}}
	none.chooseKey()
	assert.Empty(t, none.Key)
}
