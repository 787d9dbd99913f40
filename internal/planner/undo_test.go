package planner_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zdmhq/zdm/internal/planner"
)

func ids(stmts []planner.Statement) []string {
	out := make([]string, len(stmts))
	for i, s := range stmts {
		out[i] = s.ID
	}
	return out
}

func TestPlanUndoWindow(t *testing.T) {
	m := parse(t, "  - change_type: {column: code, type: varchar(20)}\nundo_window: 2h\n")
	p, err := planner.Build(m, accounts(), planner.Options{})
	require.NoError(t, err)
	require.NotNil(t, p.Undo)
	u := p.Undo
	assert.Equal(t, "2h0m0s", u.Window.String())

	// The plain contract drops the old column; the window's sets it, its index and its
	// unique constraint aside instead, before the copies take their names.
	assert.Contains(t, ids(p.Contract), "contract/drop-old/code")
	assert.NotContains(t, ids(u.Contract), "contract/drop-old/code")
	var sqls []string
	for _, s := range u.Contract {
		sqls = append(sqls, s.SQL)
		assert.NotContains(t, s.SQL, "DROP COLUMN", s.ID)
	}
	all := strings.Join(sqls, "\n")
	for _, want := range []string{
		`ALTER INDEX "public"."accounts_code_idx" RENAME TO "_zdm_undo_accounts_code_idx"`,
		`ALTER TABLE "public"."accounts" RENAME CONSTRAINT "accounts_code_key" TO "_zdm_undo_accounts_code_key"`,
		`ALTER TABLE "public"."accounts" RENAME COLUMN "code" TO "_zdm_undo_code"`,
		`ALTER TABLE "public"."accounts" RENAME COLUMN "_zdm_code" TO "code"`,
		`NEW."_zdm_undo_code" := (new.code)::text;`,
	} {
		assert.Contains(t, all, want)
	}
	assert.Less(t, strings.Index(all, `RENAME TO "_zdm_undo_accounts_code_idx"`), strings.Index(all, `RENAME TO "accounts_code_idx"`),
		"the old index is set aside before its copy takes the name")

	// Revert: the undo trigger goes, the names come back, the sync trigger is back.
	assert.Equal(t, []string{"revert/drop-undo-trigger", "revert/drop-undo-function", "revert/swap-back/code", "revert/sync-function", "revert/sync-trigger"}, ids(u.Revert))
	assert.Contains(t, u.Revert[2].SQL, `ALTER TABLE "public"."accounts" RENAME COLUMN "code" TO "_zdm_code"`)
	assert.Contains(t, u.Revert[2].SQL, `ALTER TABLE "public"."accounts" RENAME COLUMN "_zdm_undo_code" TO "code"`)
	assert.Contains(t, u.Revert[2].SQL, `ALTER TABLE "public"."accounts" RENAME CONSTRAINT "_zdm_undo_accounts_code_key" TO "accounts_code_key"`)
	assert.Equal(t, []string{"finalize/drop-undo-trigger", "finalize/drop-undo-function", "finalize/drop-aside/code"}, ids(u.Finalize))
	require.Len(t, u.Changes, 1)
	assert.Equal(t, "operations[0].change_type", u.Changes[0].Field)
	assert.Contains(t, u.Changes[0].Says, "code is kept as _zdm_undo_code")
	// Revert then rollback, as the workflow runs and rehearses them.
	assert.Equal(t, len(u.Revert)+len(p.Rollback), len(p.RevertAll()))
}

func TestPlanWithoutUndoWindowHasNone(t *testing.T) {
	p, err := planner.Build(parse(t, "  - rename_column: {column: name, to: full_name}\n"), accounts(), planner.Options{})
	require.NoError(t, err)
	assert.Nil(t, p.Undo)
}

func TestPlanUndoWindowRefusesWhatCannotBeUndone(t *testing.T) {
	_, err := planner.Build(parse(t, "  - drop_not_null: {column: name}\nundo_window: 1h\n"), accounts(), planner.Options{})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "m.yaml:4: operations[0].drop_not_null: undo_window is set, but this operation cannot be undone after contract: rows written with NULL after contract would make NOT NULL fail to come back (fix: move drop_not_null to a migration without undo_window)")
}
