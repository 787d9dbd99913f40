package notify

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Contract held for old code is its own kind of message: a warning with what runs, and
// no gate buttons (the gate was decided already).
func TestHeldMessageSaysContractWaitsForOldCode(t *testing.T) {
	e := Event{Kind: KindHeld, Migration: "customers-full-name", Table: "public.customers",
		Detail: `contract is held: old code still uses what contract retires: "UPDATE customers SET name = $1 WHERE id = $2" by billing`}
	require.NoError(t, e.Validate())
	title, blocks := Message(e)
	assert.Equal(t, "Migration customers-full-name holds before contract: old code still runs", title)
	b, err := json.Marshal(blocks)
	require.NoError(t, err)
	assert.Contains(t, string(b), `:warning: *Migration customers-full-name holds before contract: old code still runs*`)
	assert.Contains(t, string(b), `UPDATE customers SET name = $1 WHERE id = $2`)
	assert.NotContains(t, string(b), `"actions"`, "no buttons")
}
