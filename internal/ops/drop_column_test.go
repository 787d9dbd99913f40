package ops_test

import (
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"

	"github.com/zdmhq/zdm/internal/ops/opstest"
)

// noteWrites are the application's writes around a drop_column of accounts.note: old
// code writes note, new code leaves it out.
func noteWrites(who string, base int64, withNote bool) opstest.Writer {
	return opstest.Writes("accounts", "aid", base, opstest.Hot,
		func(i int) []opstest.Col {
			cols := []opstest.Col{{Name: "bid", Value: i % 10}, {Name: "name", Value: fmt.Sprintf("%s %d", who, i)}, {Name: "email", Value: email(who, i)}}
			if withNote {
				cols = append(cols, opstest.Col{Name: "note", Value: fmt.Sprintf("%s note %d", who, i)})
			}
			return cols
		},
		func(i int) []opstest.Col {
			if withNote {
				return []opstest.Col{{Name: "note", Value: fmt.Sprintf("%s note %d", who, i)}}
			}
			return []opstest.Col{{Name: "abalance", Value: i}}
		})
}

// dropNote is a lifecycle case of a drop_column of accounts.note.
func dropNote(name, setup, migration string, check func(t *testing.T, pool *pgxpool.Pool), gone ...string) opstest.Case {
	return opstest.Case{Name: name, Setup: setup, Migration: "table: accounts\noperations:\n  - " + migration + "\n",
		OldWrite: noteWrites("old", 1_000_000, true), NewWrite: noteWrites("new", 2_000_000, false),
		Dropped: append([]string{"note"}, gone...), Check: check}
}

func refusedDropNote(name, setup, migration, want string) opstest.Case {
	c := dropNote(name, setup, migration, nil)
	c.WantRefused = want
	return c
}

// leaveNote makes old code leave note alone (its values must exist elsewhere).
func leaveNote(c opstest.Case) opstest.Case {
	c.OldWrite = noteWrites("old", 1_000_000, false)
	return c
}

// noColumn asserts that accounts.note is gone and new code's inserts work.
func noColumn(t *testing.T, pool *pgxpool.Pool) {
	assert.False(t, opstest.Scalar[bool](t, pool, `SELECT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = 'accounts'::regclass AND attname = 'note' AND NOT attisdropped)`))
	opstest.Exec(t, pool, `INSERT INTO accounts (aid, bid, name) VALUES (9000001, 1, 'after')`)
}

func TestDropColumnLifecycle(t *testing.T) {
	t.Parallel()
	notNull := dropNote("NOT NULL without default: new code's rows get down", opstest.Accounts("note text NOT NULL := 'n' || g"),
		`drop_column: {column: note, down: "'n/a: ' || name"}`, noColumn)
	// New code inserts only, and reads back what its rows hold in note while it exists.
	notNull.NewWrite = opstest.Filled(opstest.Writes("accounts", "aid", 2_000_000, opstest.Hot, func(i int) []opstest.Col {
		return []opstest.Col{{Name: "bid", Value: i % 10}, {Name: "name", Value: "new"}}
	}, nil), "accounts", "aid", 2_000_000, "note", "n/a: new")

	for _, c := range []opstest.Case{
		dropNote("a nullable column", opstest.Accounts("note text := 'n' || g"), `drop_column: {column: note}`, noColumn),
		notNull,
		dropNote("an indexed column with a CHECK of its own",
			opstest.Accounts("note text CONSTRAINT accounts_note_check CHECK (note <> '') := 'n' || g")+`CREATE INDEX accounts_note_idx ON accounts (note);
				CREATE UNIQUE INDEX accounts_note_lower ON accounts (lower(note)) WHERE note LIKE 'x%';`,
			`drop_column: {column: note}`, func(t *testing.T, pool *pgxpool.Pool) {
				noColumn(t, pool)
				assert.Equal(t, "CREATE UNIQUE INDEX accounts_pkey ON public.accounts USING btree (aid)", opstest.Index(t, pool, "accounts_pkey"))
			}, "index accounts_note_idx", "index accounts_note_lower", "constraint accounts_note_check"),
		refusedDropNote("NOT NULL without default needs down", opstest.Accounts("note text NOT NULL := 'n' || g"), `drop_column: {column: note}`,
			"new code's inserts, which leave it out, would fail until contract (fix: add down: an expression for the value rows written without the column get)"),
		refusedDropNote("a bad down", opstest.Accounts("note text NOT NULL := 'n' || g"), `drop_column: {column: note, down: "nmae || 'x'"}`,
			`column "nmae" does not exist`),
		refusedDropNote("a view uses it", opstest.Accounts("note text := 'n' || g")+`CREATE VIEW notes AS SELECT aid, note FROM accounts;`,
			`drop_column: {column: note}`, `column "note" is used by view(s) notes, which dropping it would break (fix: drop or change the views first)`),
		leaveNote(refusedDropNote("a foreign key", "CREATE TABLE kinds (note text PRIMARY KEY);\n"+opstest.Accounts("note text REFERENCES kinds"),
			`drop_column: {column: note}`, `constraint accounts_note_fkey on table accounts, which dropping it would break (fix: drop the foreign key first`)),
		refusedDropNote("a foreign key to it", opstest.Accounts("note text UNIQUE")+"CREATE TABLE marks (note text REFERENCES accounts (note));",
			`drop_column: {column: note}`, `constraint marks_note_fkey on table marks`),
		refusedDropNote("the primary key", opstest.Accounts("note text"), `drop_column: {column: aid}`, `column "aid" is part of the key of public.accounts`),
		refusedDropNote("a multi-column index", opstest.Accounts("note text")+"CREATE INDEX accounts_note_bid ON accounts (note, bid);",
			`drop_column: {column: note}`, "index accounts_note_bid (it also covers bid)"),
		refusedDropNote("a generated column", opstest.Accounts("note text", "note_len int GENERATED ALWAYS AS (length(note)) STORED"),
			`drop_column: {column: note}`, "a generated column computed from it"),
		refusedDropNote("a trigger's UPDATE OF", opstest.Accounts("note text")+`CREATE FUNCTION noop() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;
			CREATE TRIGGER on_note BEFORE UPDATE OF note ON accounts FOR EACH ROW EXECUTE FUNCTION noop();`,
			`drop_column: {column: note}`, "trigger on_note on table accounts"),
		refusedDropNote("a policy", opstest.Accounts("note text")+`CREATE POLICY notes ON accounts USING (note IS NULL);`,
			`drop_column: {column: note}`, "policy notes on table accounts"),
	} {
		t.Run(c.Name, func(t *testing.T) {
			t.Parallel()
			opstest.Run(t, c)
		})
	}
}
