package ops_test

import (
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"

	"github.com/zdmhq/zdm/internal/ops/opstest"
)

// typeCase is a case of an operation on no table: the file has no table: line, and the
// application keeps writing accounts, which nothing must break.
func typeCase(name, setup, migration string, check func(t *testing.T, pool *pgxpool.Pool)) opstest.Case {
	return opstest.Case{Name: name, Setup: setup, Migration: "operations:\n  - " + migration + "\n",
		OldWrite: indexWrites("old", 1_000_000), NewWrite: indexWrites("new", 2_000_000), OldWritesAfterContract: true, Check: check}
}

func refusedType(name, setup, migration, want string) opstest.Case {
	c := typeCase(name, setup, migration, nil)
	c.WantRefused = want
	return c
}

// create_enum alone; a column of the new type in the same migration is a case of
// shapes_test.go.
func TestCreateEnumLifecycle(t *testing.T) {
	t.Parallel()
	for _, c := range []opstest.Case{
		typeCase("create", opstest.Accounts(), `create_enum: {name: mood, values: [happy, sad]}`,
			func(t *testing.T, pool *pgxpool.Pool) {
				assert.Equal(t, []string{"happy", "sad"}, opstest.EnumLabels(t, pool, "mood"))
				assert.Equal(t, "22P02", opstest.ExecErr(t, pool, `SELECT 'ok'::mood`), "only its values")
				opstest.Exec(t, pool, `ALTER TABLE accounts ADD COLUMN mood mood NOT NULL DEFAULT 'sad'`)
				assert.Equal(t, int64(opstest.AccountsRows), opstest.Scalar[int64](t, pool, `SELECT count(*) FROM accounts WHERE mood = 'sad' AND aid <= $1`, opstest.AccountsRows))
			}),
		// The file's table is not the operation's: the accounts table must come out of the
		// migration exactly as it went in.
		func() opstest.Case {
			c := typeCase("a file with a table: line", opstest.Accounts(), `create_enum: {name: mood, values: [happy, sad]}`,
				func(t *testing.T, pool *pgxpool.Pool) {
					assert.Equal(t, []string{"happy", "sad"}, opstest.EnumLabels(t, pool, "mood"))
				})
			c.Migration = "table: accounts\n" + c.Migration
			return c
		}(),
		typeCase("mixed-case name in another schema, values that need quoting", "CREATE SCHEMA app;\n"+opstest.Accounts(),
			`create_enum: {name: Mood, schema: app, values: ["it's", "$zdm$ x", "a b", "ünï"]}`,
			func(t *testing.T, pool *pgxpool.Pool) {
				assert.Equal(t, []string{"it's", "$zdm$ x", "a b", "ünï"}, opstest.EnumLabels(t, pool, `app."Mood"`))
				assert.Empty(t, opstest.EnumLabels(t, pool, "public.mood"))
			}),
		refusedType("a type of that name exists", "CREATE TYPE mood AS ENUM ('x');\n"+opstest.Accounts(),
			`create_enum: {name: mood, values: [happy, sad]}`, "create_enum.name: type public.mood already exists (an enum) (fix: choose another name"),
		refusedType("a table of that name exists", "CREATE TABLE mood (x int);\n"+opstest.Accounts(),
			`create_enum: {name: mood, values: [happy, sad]}`, "type public.mood already exists (the row type of mood)"),
		refusedType("no such schema", opstest.Accounts(), `create_enum: {name: mood, schema: app, values: [happy]}`,
			"create_enum.schema: schema app does not exist (fix: create the schema first"),
		refusedType("a value twice", opstest.Accounts(), `create_enum: {name: mood, values: [happy, sad, happy]}`,
			`create_enum.values[2]: "happy" is already values[0] (fix: list each value once)`),
		refusedType("no values", opstest.Accounts(), `create_enum: {name: mood, values: []}`, "create_enum.values: is required"),
		refusedType("a value too long", opstest.Accounts(), `create_enum: {name: mood, values: [happy, `+long64+`]}`,
			"is 64 bytes: PostgreSQL's limit on an enum value is 63"),
		refusedType("a qualified name", opstest.Accounts(), `create_enum: {name: app.mood, values: [happy]}`,
			`"app.mood" names a schema: the type's name is written alone (fix: write the schema in the schema field`),
	} {
		t.Run(c.Name, func(t *testing.T) {
			t.Parallel()
			opstest.Run(t, c)
		})
	}
}

// long64 is a label one byte over PostgreSQL's limit.
const long64 = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
