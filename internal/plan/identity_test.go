package plan

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestIdentitySame(t *testing.T) {
	app := Identity{SystemID: "7642011472967116994", Database: "app"}
	cases := []struct {
		name string
		a, b Identity
		same bool
	}{
		{"identical", app, app, true},
		{"another database of the cluster", app, Identity{SystemID: app.SystemID, Database: "app_staging"}, false},
		{"the same name on another cluster", app, Identity{SystemID: "7000000000000000001", Database: "app"}, false},
		{"names differ only in case", app, Identity{SystemID: app.SystemID, Database: "App"}, false},
		{"one side could not read the cluster: names decide", app, Identity{Database: "app"}, true},
		{"neither could: names decide", Identity{Database: "app"}, Identity{Database: "other"}, false},
	}
	for _, c := range cases {
		assert.Equal(t, c.same, c.a.Same(c.b), c.name)
		assert.Equal(t, c.same, c.b.Same(c.a), c.name+" (the other way round)")
	}
}

func TestIdentityZeroAndText(t *testing.T) {
	assert.True(t, Identity{}.IsZero())
	assert.False(t, Identity{Database: "app"}.IsZero())
	assert.Equal(t, `database "app" on cluster 76`, Identity{SystemID: "76", Database: "app"}.String())
	assert.Equal(t, `database "app" (cluster unknown)`, Identity{Database: "app"}.String())

	// It travels in workflow histories: a system identifier and a name, nothing else.
	b, err := json.Marshal(Identity{SystemID: "76", Database: "app"})
	require.NoError(t, err)
	assert.JSONEq(t, `{"system_id":"76","database":"app"}`, string(b))
}
