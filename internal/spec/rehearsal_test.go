package spec

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const rehearsedBase = "name: users-email\ntable: users\noperations:\n  - add_column: {column: email_lower, type: text, backfill: \"lower(email)\"}\n"

func TestRequireRehearsal(t *testing.T) {
	m, err := Parse("m.yaml", []byte(rehearsedBase))
	require.NoError(t, err)
	assert.False(t, m.RequireRehearsal)

	m, err = Parse("m.yaml", []byte(rehearsedBase+"require_rehearsal: true\n"))
	require.NoError(t, err)
	assert.True(t, m.RequireRehearsal)
	assert.Equal(t, 7*24*time.Hour, m.RehearsalAge(), "a week by default")

	m, err = Parse("m.yaml", []byte(rehearsedBase+"require_rehearsal: true\nrehearsal_max_age: 24h\n"))
	require.NoError(t, err)
	assert.Equal(t, 24*time.Hour, m.RehearsalAge())

	for body, want := range map[string]string{
		"require_rehearsal: true\nrehearsal_max_age: soon\n": `m.yaml:6: rehearsal_max_age: "soon" is not a duration`,
		"require_rehearsal: true\nrehearsal_max_age: 5s\n":   "m.yaml:6: rehearsal_max_age: 5s is out of range",
		"rehearsal_max_age: 24h\n":                           "m.yaml:5: rehearsal_max_age: has no effect without require_rehearsal: true",
		"require_rehersal: true\n":                           `did you mean "require_rehearsal"?`,
	} {
		_, err := Parse("m.yaml", []byte(rehearsedBase+body))
		require.Error(t, err, body)
		assert.Contains(t, err.Error(), want, body)
	}
}
