package main

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestTargetEnvs(t *testing.T) {
	env := map[string]string{"EU1_URL": "postgres://eu1", "US1_URL": "postgres://us1", "DATABASE_URL": "postgres://main"}
	getenv := func(k string) string { return env[k] }

	env["ZDM_TARGET_ENVS"] = ""
	names, err := targetEnvs(getenv)
	require.NoError(t, err)
	assert.Empty(t, names)

	env["ZDM_TARGET_ENVS"] = " EU1_URL, US1_URL,,EU1_URL "
	names, err = targetEnvs(getenv)
	require.NoError(t, err)
	assert.Equal(t, []string{"EU1_URL", "US1_URL"}, names)

	for value, want := range map[string]string{
		"EU1_URL,AP1_URL":         "ZDM_TARGET_ENVS names AP1_URL, which is not set",
		"postgres://x@h/db":       `"postgres://x@h/db" is not an environment variable name`,
		"DATABASE_URL":            "DATABASE_URL is the worker's own database",
		"EU1_URL,lower_case_name": `"lower_case_name" is not an environment variable name`,
	} {
		env["ZDM_TARGET_ENVS"] = value
		_, err := targetEnvs(getenv)
		require.Error(t, err, value)
		assert.Contains(t, err.Error(), want)
	}
}
