package spec_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zdmhq/zdm/internal/spec"
)

const undoBase = `name: n
table: t
operations:
  - rename_column: {column: a, to: b}
`

func TestParseUndoWindow(t *testing.T) {
	m, err := spec.Parse("m.yaml", []byte(undoBase+"undo_window: 24h\ngates: [contract, finalize]\n"))
	require.NoError(t, err)
	assert.Equal(t, 24*time.Hour, m.UndoWindow.D())
	assert.True(t, m.HasUndoWindow())
	assert.True(t, m.HasGate(spec.GateFinalize))

	m, err = spec.Parse("m.yaml", []byte(undoBase))
	require.NoError(t, err)
	assert.False(t, m.HasUndoWindow(), "no undo_window: contract drops the old shape, as before")
}

func TestParseUndoWindowErrors(t *testing.T) {
	for _, c := range []struct{ file, want string }{
		{undoBase + "undo_window: soon\n", `m.yaml:5: undo_window: "soon" is not a duration (fix: write it like 500ms, 2s or 1m)`},
		{undoBase + "undo_window: -1h\n", "m.yaml:5: undo_window: -1h0m0s is out of range (fix: use a duration such as 24h (at most 720h), or leave it out)"},
		{undoBase + "undo_window: 1000h\n", "m.yaml:5: undo_window: 1000h0m0s is out of range"},
		{undoBase + "gates: [finalize]\n", "m.yaml:5: gates[0]: gate finalize ends an undo window, and this migration has none (fix: add undo_window: 24h, or drop this gate)"},
		{undoBase + "gates: [finalise]\nundo_window: 1h\n", `m.yaml:5: gates[0]: unknown gate "finalise" (fix: use read_new, contract and/or finalize)`},
	} {
		_, err := spec.Parse("m.yaml", []byte(c.file))
		require.Error(t, err, c.file)
		assert.Contains(t, err.Error(), c.want)
	}
}
