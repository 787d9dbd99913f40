package suggest_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/zdmhq/zdm/internal/suggest"
)

func TestDistance(t *testing.T) {
	assert.Equal(t, 0, suggest.Distance("table", "table"))
	assert.Equal(t, 2, suggest.Distance("tabel", "table"), "a swap is two edits")
	assert.Equal(t, 1, suggest.Distance("acounts", "accounts"))
	assert.Equal(t, 3, suggest.Distance("", "abc"))
}

func TestClosest(t *testing.T) {
	assert.Equal(t, "table", suggest.Closest("tabel", []string{"name", "table", "gates"}, 2))
	assert.Equal(t, "", suggest.Closest("xyz", []string{"name", "table"}, 2))
}
