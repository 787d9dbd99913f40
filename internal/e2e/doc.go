// Package e2e runs whole migrations against the real components: PostgreSQL from
// DATABASE_URL, a Temporal dev server started from the temporal binary (ZDM_TEMPORAL_BIN),
// and Unleash from UNLEASH_URL. `make test` starts them and sets ZDM_INTEGRATION=1, which
// turns missing components from a skip into a failure.
package e2e
