package ops_test

import (
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"

	"github.com/zdmhq/zdm/internal/ops/opstest"
)

// moods is accounts with a column mood of enum type typ ('happy', 'sad'), half of each.
func moods(typ string) string {
	return fmt.Sprintf("CREATE TYPE %s AS ENUM ('happy', 'sad');\n", typ) +
		opstest.Accounts(fmt.Sprintf("mood %s NOT NULL DEFAULT 'happy' := (CASE WHEN g %% 2 = 0 THEN 'happy' ELSE 'sad' END)::%s", typ, typ))
}

// moodWrites writes accounts' mood, cycling through values.
func moodWrites(who string, base int64, values ...string) opstest.Writer {
	cols := func(i int) []opstest.Col {
		return []opstest.Col{{Name: "mood", Value: values[i%len(values)]}, {Name: "abalance", Value: i}}
	}
	return opstest.Writes("accounts", "aid", base, opstest.Hot,
		func(i int) []opstest.Col {
			return append([]opstest.Col{{Name: "bid", Value: i % 10}, {Name: "name", Value: fmt.Sprintf("%s %d", who, i)}}, cols(i)...)
		}, cols)
}

// enumValue is a case adding value to the enum of moods(typ): old and new code write
// the old values while the migration runs, and the new value only once contracted.
func enumValue(name, typ, migration, value string, want []string) opstest.Case {
	return opstest.Case{Name: name, Setup: moods(typ), Migration: "table: accounts\noperations:\n  - " + migration + "\n",
		OldWrite: moodWrites("old", 1_000_000, "happy", "sad"), NewWrite: moodWrites("new", 2_000_000, "sad", "happy"),
		FinalWrite: moodWrites("final", 3_000_000, value), OldWritesAfterContract: true,
		Check: func(t *testing.T, pool *pgxpool.Pool) {
			assert.Equal(t, want, opstest.EnumLabels(t, pool, typ), "the values in their order")
			assert.Positive(t, opstest.Scalar[int64](t, pool, `SELECT count(*) FROM accounts WHERE mood::text = $1`, value), "new code wrote the new value after contract")
			assert.Empty(t, opstest.ExecErr(t, pool, `UPDATE accounts SET mood = $1 WHERE aid = $2`, value, opstest.AccountsRows), "a column of the type takes the new value")
		}}
}

func refusedEnumValue(name, setup, migration, want string) opstest.Case {
	c := index(name, setup, "", nil)
	c.Migration, c.WantRefused = "table: accounts\noperations:\n  - "+migration+"\n", want
	return c
}

func TestAddEnumValueLifecycle(t *testing.T) {
	t.Parallel()
	for _, c := range []opstest.Case{
		enumValue("at the end", "mood", `add_enum_value: {enum: mood, value: ok}`, "ok", []string{"happy", "sad", "ok"}),
		enumValue("before an existing value", "mood", `add_enum_value: {enum: mood, value: ok, before: sad}`, "ok", []string{"happy", "ok", "sad"}),
		func() opstest.Case {
			c := enumValue("after a value, mixed-case type in another schema", `app."Mood"`,
				`add_enum_value: {enum: Mood, schema: app, value: "it's $zdm$ ok", after: happy}`, "it's $zdm$ ok", []string{"happy", "it's $zdm$ ok", "sad"})
			c.Setup = "CREATE SCHEMA app;\n" + c.Setup
			return c
		}(),
		refusedEnumValue("no such type", opstest.Accounts(), `add_enum_value: {enum: mood, value: ok}`,
			"add_enum_value.enum: type public.mood does not exist (fix: name an existing enum type and its schema"),
		refusedEnumValue("not an enum", "CREATE DOMAIN mood AS text;\n"+opstest.Accounts(), `add_enum_value: {enum: mood, value: ok}`,
			"type public.mood is not an enum"),
		refusedEnumValue("no such schema", moods("mood"), `add_enum_value: {enum: mood, schema: app, value: ok}`,
			"add_enum_value.enum: schema app does not exist (fix: name an existing enum type"),
		refusedEnumValue("before a value it does not have", moods("mood"), `add_enum_value: {enum: mood, value: ok, before: meh}`,
			"add_enum_value.before: enum public.mood has no value 'meh': its values are 'happy', 'sad' (fix: name one of the enum's values)"),
		refusedEnumValue("after a value it does not have", moods("mood"), `add_enum_value: {enum: mood, value: ok, after: Happy}`,
			"add_enum_value.after: enum public.mood has no value 'Happy'"),
		refusedEnumValue("the value is there already", moods("mood"), `add_enum_value: {enum: mood, value: sad}`,
			"add_enum_value.value: enum public.mood already has the value 'sad' (fix: nothing to do: remove this operation)"),
		refusedEnumValue("before and after", moods("mood"), `add_enum_value: {enum: mood, value: ok, before: sad, after: happy}`,
			"add_enum_value.after: before and after are both set"),
		refusedEnumValue("a value too long", moods("mood"), `add_enum_value: {enum: mood, value: `+long64+`}`,
			"add_enum_value.value: \""+long64+"\" is 64 bytes"),
	} {
		t.Run(c.Name, func(t *testing.T) {
			t.Parallel()
			opstest.Run(t, c)
		})
	}
}
