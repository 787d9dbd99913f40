#!/bin/sh
# Creates zdm's database and Unleash's, each owned by a role of its own. The postgres
# image runs this once, on an empty data volume (docker-entrypoint-initdb.d), as the
# superuser over the local socket. Passwords come from the service's environment.
set -eu

psql -v ON_ERROR_STOP=1 -X --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
	-v zdm_password="$ZDM_DB_PASSWORD" -v unleash_password="$UNLEASH_DB_PASSWORD" <<'SQL'
-- zdm migrates tables in its database; its tests create databases of their own.
CREATE ROLE zdm LOGIN CREATEDB PASSWORD :'zdm_password';
CREATE DATABASE zdm OWNER zdm;
-- make bench starts each measurement from a checkpoint.
GRANT pg_checkpoint TO zdm;
-- Before contract zdm reads every role's statements in pg_stat_statements (loaded by the
-- service's command) for code still using the old shape.
GRANT pg_read_all_stats TO zdm;

CREATE ROLE unleash LOGIN PASSWORD :'unleash_password';
CREATE DATABASE unleash OWNER unleash;

\connect zdm
CREATE EXTENSION IF NOT EXISTS pg_stat_statements;
SQL
