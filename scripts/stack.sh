#!/usr/bin/env bash
# zdm's local stack: PostgreSQL, the Temporal dev server, Unleash, the zdm worker and a
# Prometheus scraping the worker and the demo application (scripts/stack-prometheus.sh).
#
#   scripts/stack.sh up [--deps]   start what is not already answering (--deps: no Temporal
#                                  server, worker or Prometheus; only make sure the temporal CLI exists)
#   scripts/stack.sh down          stop what this script started, and nothing else
#   scripts/stack.sh status        one line per component
#   scripts/stack.sh env           export lines for eval "$(scripts/stack.sh env)"
#   scripts/stack.sh pg-ensure     only the PostgreSQL part of `up`: start the local cluster
#                                  if needed, create the roles and databases named by
#                                  DATABASE_URL and UNLEASH_DATABASE_URL that do not exist
#
# All state lives under .stack/ in the repository. A component that already answers at its
# address is used as it is; what this script starts is recorded in .stack/*.pid (and
# .stack/postgres.started) so that `down` stops only that.
#
# PostgreSQL roles and databases are only ever created, never changed: a role that already
# exists (the cluster's superuser, a role of another program) is left exactly as it is, and
# when the URL cannot log in with it the script stops and says which URL to correct.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STACK="$ROOT/.stack"

: "${DATABASE_URL:=postgres://zdm:zdm@127.0.0.1:5432/zdm?sslmode=disable}"
: "${UNLEASH_DATABASE_URL:=postgres://unleash:unleash@127.0.0.1:5432/unleash?sslmode=disable}"
: "${TEMPORAL_ADDRESS:=127.0.0.1:7233}"
: "${TEMPORAL_UI_PORT:=8233}"
: "${UNLEASH_URL:=http://127.0.0.1:4242}"
: "${UNLEASH_ADMIN_TOKEN:=*:*.zdm-local-admin-token}"
: "${UNLEASH_API_TOKEN:=default:development.zdm-local-client-token}"
: "${UNLEASH_ENVIRONMENT:=development}"
# The Debian cluster this script may start when DATABASE_URL points at this machine.
: "${ZDM_PG_VERSION:=15}"
: "${ZDM_PG_CLUSTER:=main}"
UNLEASH_URL="${UNLEASH_URL%/}"
UNLEASH_VERSION=8.2.0
# shellcheck source=scripts/stack-prometheus.sh
source "$ROOT/scripts/stack-prometheus.sh"

log() { printf 'zdm-stack: %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# --- process bookkeeping -------------------------------------------------------------------

pidfile() { printf '%s/%s.pid' "$STACK" "$1"; }

# Prints the pid of component $1 if this script started it and it still runs.
our_pid() {
	local f pid
	f="$(pidfile "$1")"
	[[ -f "$f" ]] || return 1
	pid="$(<"$f")"
	if [[ "$pid" =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null &&
		tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$2"; then
		printf '%s' "$pid"
		return 0
	fi
	rm -f "$f" # stale: the process is gone or the pid was reused
	return 1
}

# spawn NAME LOGFILE CMD...: start CMD in its own session, detached from this shell; the
# process writes its own pid so the file names the real server, not a wrapper.
spawn() {
	local name="$1" logf="$2"
	shift 2
	rm -f "$(pidfile "$name")"
	: >"$logf"
	# shellcheck disable=SC2016 # $$ and "$@" belong to the inner shell
	setsid bash -c 'echo $$ >"$0"; exec "$@"' "$(pidfile "$name")" "$@" \
		</dev/null >>"$logf" 2>&1 &
	disown 2>/dev/null || true
	local i
	for i in $(seq 50); do
		[[ -s "$(pidfile "$name")" ]] && return 0
		sleep 0.1
	done
	die "$name did not start; see $logf"
}

# await_ready NAME MARKER LABEL CHECK TRIES PAUSE LATE: runs CHECK up to TRIES times,
# PAUSE seconds apart, until it succeeds. The spawned NAME (MARKER, as for our_pid)
# exiting meanwhile is fatal, and so is CHECK failing at the end (LATE says so); either
# way with the last lines of .stack/NAME.log.
await_ready() {
	local name="$1" marker="$2" label="$3" check="$4" tries="$5" pause="$6" late="$7" i
	for ((i = 0; i < tries; i++)); do
		"$check" && break
		if ! our_pid "$name" "$marker" >/dev/null; then
			log_tail "$STACK/$name.log"
			die "$label exited during startup"
		fi
		sleep "$pause"
	done
	if ! "$check"; then
		log_tail "$STACK/$name.log"
		die "$late"
	fi
}

# stop NAME MARKER TIMEOUT: SIGTERM the process group this script started, SIGKILL after
# TIMEOUT seconds.
stop() {
	local name="$1" marker="$2" timeout="$3" pid i
	if ! pid="$(our_pid "$name" "$marker")"; then
		log "$name: nothing that zdm-stack started is running"
		return 0
	fi
	log "stopping $name (pid $pid)"
	kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
	for ((i = 0; i < timeout * 10; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null; then
		log "$name did not stop within ${timeout}s, killing it"
		kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
	fi
	rm -f "$(pidfile "$name")"
}

log_tail() {
	log "last lines of $1:"
	tail -n 30 "$1" >&2 || true
}

# --- URL helpers ---------------------------------------------------------------------------

# pg_url_part URL user|password|host|port|db
pg_url_part() {
	local re='^postgres(ql)?://(([^:@/]*)(:([^@/]*))?@)?([^:/?]*)(:([0-9]+))?(/([^?]*))?'
	[[ "$1" =~ $re ]] || return 1
	case "$2" in
	user) printf '%s' "${BASH_REMATCH[3]}" ;;
	password) printf '%s' "${BASH_REMATCH[5]}" ;;
	host) printf '%s' "${BASH_REMATCH[6]:-127.0.0.1}" ;;
	port) printf '%s' "${BASH_REMATCH[8]:-5432}" ;;
	db) printf '%s' "${BASH_REMATCH[10]}" ;;
	esac
}

is_local_host() { [[ "$1" == 127.0.0.1 || "$1" == localhost || "$1" == "::1" || "$1" == "[::1]" ]]; }

# url_hostport http://host:port -> host port
http_host() { local h="${1#*://}"; h="${h%%/*}"; printf '%s' "${h%:*}"; }
http_port() {
	local h="${1#*://}"
	h="${h%%/*}"
	if [[ "$h" == *:* ]]; then printf '%s' "${h##*:}"; else printf '80'; fi
}

# --- PostgreSQL ----------------------------------------------------------------------------

pg_answers() { pg_isready -q -t 3 -d "$1" >/dev/null 2>&1 && psql "$1" -XAtqc 'select 1' >/dev/null 2>&1; }

pg_cluster_exists() { pg_lsclusters -h 2>/dev/null | awk -v v="$ZDM_PG_VERSION" -v c="$ZDM_PG_CLUSTER" '$1==v && $2==c {f=1} END {exit !f}'; }
pg_cluster_online() { pg_lsclusters -h 2>/dev/null | awk -v v="$ZDM_PG_VERSION" -v c="$ZDM_PG_CLUSTER" '$1==v && $2==c && $4 ~ /^online/ {f=1} END {exit !f}'; }
pg_cluster_port() { pg_lsclusters -h | awk -v v="$ZDM_PG_VERSION" -v c="$ZDM_PG_CLUSTER" '$1==v && $2==c {print $3}'; }

pg_install() {
	if [[ -x "/usr/lib/postgresql/$ZDM_PG_VERSION/bin/postgres" ]] && command -v pg_ctlcluster >/dev/null; then
		return 0
	fi
	[[ "$(id -u)" == 0 ]] || die "postgresql-$ZDM_PG_VERSION is not installed and installing it needs root"
	log "installing postgresql-$ZDM_PG_VERSION with apt-get"
	DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "postgresql-$ZDM_PG_VERSION" "postgresql-client-$ZDM_PG_VERSION" >&2
}

# psql as the cluster's superuser, over the local socket.
pg_super() { (cd / && runuser -u postgres -- psql -X -q -v ON_ERROR_STOP=1 -p "$(pg_cluster_port)" "$@"); }

# pg_url_with_db URL DB: URL naming database DB instead of its own.
pg_url_with_db() {
	local re='^(postgres(ql)?://[^/?]*)(/[^?]*)?(\?.*)?$'
	[[ "$1" =~ $re ]] || return 1
	printf '%s/%s%s' "${BASH_REMATCH[1]}" "$2" "${BASH_REMATCH[4]}"
}

# pg_who URL: user@host:port/db, never the password.
pg_who() {
	printf '%s@%s:%s/%s' "$(pg_url_part "$1" user)" "$(pg_url_part "$1" host)" "$(pg_url_part "$1" port)" "$(pg_url_part "$1" db)"
}

# pg_login_error URL: succeeds when URL logs in; otherwise prints the server's complaint
# (psql's first line, which never holds the password).
pg_login_error() {
	local out
	out="$(psql "$1" -XAtqc 'select 1' 2>&1 >/dev/null)" && return 0
	out="$(head -n1 <<<"$out")"
	printf '%s' "${out#psql: error: }"
	return 1
}

# pg_refused VAR URL WHY NOTE: stop, naming the URL (never its password), what the server
# said, why zdm-stack did not change anything (NOTE) and the fix.
pg_refused() {
	local var="$1" url="$2" why="$3" note="$4"
	die "PostgreSQL refuses $var ($(pg_who "$url")): ${why:-cannot log in}
  $note
  Fix: correct the password in $var, or name in $var a role that does not exist yet (zdm-stack
  creates it, with that password); and check that pg_hba.conf lets it log in from $(pg_url_part "$url" host)."
}

pg_role_exists() {
	[[ "$(pg_super -d postgres -At -v role="$1" <<<"SELECT 1 FROM pg_roles WHERE rolname = :'role'")" == 1 ]]
}

# pg_ensure_owner VAR URL CREATEDB|NOCREATEDB: create the URL's role (when it does not
# exist) and database (when it does not exist). An existing role is never altered: when
# the URL cannot log in with it, this stops with what to correct.
pg_ensure_owner() {
	local var="$1" url="$2" createdb="$3" user pw db why created=0
	user="$(pg_url_part "$url" user)"
	pw="$(pg_url_part "$url" password)"
	db="$(pg_url_part "$url" db)"
	[[ -n "$user" && -n "$db" ]] || die "$var ($(pg_who "$url")) names no user or no database: zdm-stack cannot create a role and database from it"
	if pg_role_exists "$user"; then
		# Not ours to change: go on (to create a missing database) only when the URL's
		# credentials already log in.
		why="$(pg_login_error "$(pg_url_with_db "$url" postgres)")" ||
			pg_refused "$var" "$url" "$why" "Role $user already exists, and zdm-stack never changes an existing role: it only creates roles and databases that do not exist."
		log "role $user exists and $var logs in with it; leaving the role as it is"
	else
		log "creating role $user ($createdb) in cluster $ZDM_PG_VERSION/$ZDM_PG_CLUSTER"
		pg_super -d postgres -v role="$user" -v pw="$pw" -v createdb="$createdb" <<'SQL'
SELECT format('CREATE ROLE %I LOGIN NOSUPERUSER %s', :'role', :'createdb')
    || CASE WHEN :'pw' <> '' THEN format(' PASSWORD %L', :'pw') ELSE '' END \gexec
SQL
		created=1
	fi
	if ((created)) && [[ "$createdb" == CREATEDB ]]; then
		# make bench starts each measurement from a checkpoint, for a fair comparison.
		pg_super -d postgres -v role="$user" <<'SQL'
SELECT format('GRANT pg_checkpoint TO %I', :'role')
 WHERE EXISTS (SELECT FROM pg_roles WHERE rolname = 'pg_checkpoint') \gexec
-- the backfill keeps a table's own triggers (updated_at, audit) quiet: it may set
-- session_replication_role (PostgreSQL 15+).
SELECT format('GRANT SET ON PARAMETER session_replication_role TO %I', :'role')
 WHERE current_setting('server_version_num')::int >= 150000 \gexec
-- before contract zdm reads every role's statements in pg_stat_statements.
SELECT format('GRANT pg_read_all_stats TO %I', :'role') \gexec
SQL
	fi
	pg_super -d postgres -v role="$user" -v db="$db" <<'SQL'
SELECT format('CREATE DATABASE %I OWNER %I', :'db', :'role')
 WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'db') \gexec
SQL
}

# pg_ours HOST PORT: the server there is the local Debian cluster this script manages.
pg_ours() { is_local_host "$1" && pg_cluster_online && [[ "$(pg_cluster_port)" == "$2" ]]; }

# pg_stat_statements_ensure: zdm looks at pg_stat_statements before contract for code
# still using the old shape. In the local cluster this script manages (and only there)
# the library is loaded (which needs one restart, done only when it is not loaded yet)
# and the extension created in template1 (so every test database has it) and in
# DATABASE_URL's database (the demo's).
pg_stat_statements_ensure() {
	local host port db libs
	host="$(pg_url_part "$DATABASE_URL" host)"
	port="$(pg_url_part "$DATABASE_URL" port)"
	db="$(pg_url_part "$DATABASE_URL" db)"
	if ! pg_ours "$host" "$port" || [[ "$(id -u)" != 0 ]]; then
		log "pg_stat_statements: not the local cluster zdm-stack manages (or not root): left as it is; without it zdm cannot tell whether old code still runs before contract"
		return 0
	fi
	libs="$(pg_super -d postgres -At -c 'SHOW shared_preload_libraries')"
	if [[ ",${libs// /}," != *,pg_stat_statements,* ]]; then
		log "pg_stat_statements: loading it in cluster $ZDM_PG_VERSION/$ZDM_PG_CLUSTER (the one zdm-stack manages): ALTER SYSTEM SET shared_preload_libraries, then one restart of the cluster"
		pg_super -d postgres -v libs="${libs:+$libs,}pg_stat_statements" <<<"ALTER SYSTEM SET shared_preload_libraries = :'libs'"
		# Room for the statements of make test's parallel databases, so that a statement
		# is not evicted between two looks.
		pg_super -d postgres <<<"ALTER SYSTEM SET pg_stat_statements.max = 20000"
		pg_ctlcluster "$ZDM_PG_VERSION" "$ZDM_PG_CLUSTER" restart >&2
		local i
		for i in $(seq 60); do
			pg_isready -q -h 127.0.0.1 -p "$port" && break
			sleep 0.5
		done
		pg_isready -q -h 127.0.0.1 -p "$port" || die "PostgreSQL on 127.0.0.1:$port is not ready 30s after its restart"
	fi
	pg_super -d template1 -c 'SET client_min_messages = warning' -c 'CREATE EXTENSION IF NOT EXISTS pg_stat_statements'
	if [[ "$(pg_super -d postgres -At -v db="$db" <<<"SELECT 1 FROM pg_database WHERE datname = :'db'")" == 1 ]]; then
		pg_super -d "$db" -c 'SET client_min_messages = warning' -c 'CREATE EXTENSION IF NOT EXISTS pg_stat_statements'
	fi
	log "pg_stat_statements: loaded; extension in template1 and in database $db"
}

pg_up() {
	local need=() vars=() url host port var i why
	for var in DATABASE_URL UNLEASH_DATABASE_URL; do
		pg_answers "${!var}" || {
			need+=("${!var}")
			vars+=("$var")
		}
	done
	if ((${#need[@]} == 0)); then
		log "PostgreSQL answers at $(pg_url_part "$DATABASE_URL" host):$(pg_url_part "$DATABASE_URL" port); using it"
		pg_stat_statements_ensure
		return 0
	fi
	for i in "${!need[@]}"; do
		url="${need[$i]}"
		host="$(pg_url_part "$url" host)"
		port="$(pg_url_part "$url" port)"
		if pg_isready -q -t 3 -d "$url" >/dev/null 2>&1; then
			# A server answers, only not to this URL: the script may create roles in its
			# own cluster, and touches nothing in anyone else's.
			if ! pg_ours "$host" "$port"; then
				why="$(pg_login_error "$url")" ||
					pg_refused "${vars[$i]}" "$url" "$why" "The server at $host:$port is not the local cluster $ZDM_PG_VERSION/$ZDM_PG_CLUSTER that zdm-stack manages, so it creates nothing there."
			fi
		else
			is_local_host "$host" || die "PostgreSQL at $host:$port does not answer, and zdm-stack only manages a local cluster"
		fi
	done
	port="$(pg_url_part "${need[0]}" port)"

	pg_install
	if ! pg_cluster_exists; then
		log "creating PostgreSQL cluster $ZDM_PG_VERSION/$ZDM_PG_CLUSTER on port $port"
		pg_createcluster --locale C.UTF-8 -p "$port" "$ZDM_PG_VERSION" "$ZDM_PG_CLUSTER" >&2
	fi
	[[ "$(pg_cluster_port)" == "$port" ]] ||
		die "cluster $ZDM_PG_VERSION/$ZDM_PG_CLUSTER listens on port $(pg_cluster_port), not $port; set ZDM_PG_CLUSTER or DATABASE_URL"
	if ! pg_cluster_online; then
		log "starting PostgreSQL cluster $ZDM_PG_VERSION/$ZDM_PG_CLUSTER on 127.0.0.1:$port"
		pg_ctlcluster "$ZDM_PG_VERSION" "$ZDM_PG_CLUSTER" start >&2
		printf '%s %s\n' "$ZDM_PG_VERSION" "$ZDM_PG_CLUSTER" >"$STACK/postgres.started"
	fi
	for i in $(seq 60); do
		pg_isready -q -h 127.0.0.1 -p "$port" && break
		sleep 0.5
	done
	pg_isready -q -h 127.0.0.1 -p "$port" || die "PostgreSQL on 127.0.0.1:$port is not ready after 30s"

	for i in "${!need[@]}"; do
		url="${need[$i]}"
		pg_answers "$url" && continue # the same URL twice, or made to answer just now
		if [[ "${vars[$i]}" == DATABASE_URL ]]; then
			pg_ensure_owner "${vars[$i]}" "$url" CREATEDB
		else
			pg_ensure_owner "${vars[$i]}" "$url" NOCREATEDB
		fi
		why="$(pg_login_error "$url")" ||
			pg_refused "${vars[$i]}" "$url" "$why" "zdm-stack created what was missing and changed nothing that existed."
	done
	pg_stat_statements_ensure
	log "PostgreSQL ready on 127.0.0.1:$port"
}

pg_down() {
	[[ -f "$STACK/postgres.started" ]] || {
		log "postgres: not started by zdm-stack, leaving it running"
		return 0
	}
	local v c
	read -r v c <"$STACK/postgres.started"
	log "stopping PostgreSQL cluster $v/$c"
	pg_ctlcluster "$v" "$c" stop >&2 || true
	rm -f "$STACK/postgres.started"
}

# --- Temporal ------------------------------------------------------------------------------

temporal_bin() {
	if [[ -n "${ZDM_TEMPORAL_BIN:-}" ]]; then
		if [[ "$ZDM_TEMPORAL_BIN" == /* ]]; then printf '%s' "$ZDM_TEMPORAL_BIN"; else printf '%s/%s' "$PWD" "$ZDM_TEMPORAL_BIN"; fi
	elif command -v temporal >/dev/null 2>&1; then
		command -v temporal
	else
		printf '%s' "$ROOT/bin/temporal"
	fi
}

temporal_ensure_bin() {
	local bin
	bin="$(temporal_bin)"
	[[ -x "$bin" ]] && return 0
	[[ "$bin" == "$ROOT/bin/temporal" ]] || die "ZDM_TEMPORAL_BIN=$bin is not an executable"
	log "building the Temporal CLI into bin/temporal (a few minutes, once)"
	# A lock keeps two concurrent `up`s from building it twice.
	(
		flock 9
		[[ -x "$ROOT/bin/temporal" ]] || make -C "$ROOT" --no-print-directory bin/temporal >&2
	) 9>"$STACK/temporal-build.lock"
	[[ -x "$bin" ]] || die "building bin/temporal failed"
}

temporal_answers() {
	local bin
	bin="$(temporal_bin)"
	if [[ -x "$bin" ]]; then
		"$bin" operator cluster health --address "$TEMPORAL_ADDRESS" --command-timeout 3s 2>/dev/null | grep -q SERVING
	else
		# No CLI to ask with: whether the port is open will do for `status`.
		(exec 3<>"/dev/tcp/${TEMPORAL_ADDRESS%:*}/${TEMPORAL_ADDRESS##*:}") 2>/dev/null
	fi
}

temporal_search_attributes() {
	local bin name out
	bin="$(temporal_bin)"
	for name in MigrationPhase MigrationTable; do
		if ! out="$("$bin" operator search-attribute create --address "$TEMPORAL_ADDRESS" \
			--name "$name" --type Keyword 2>&1)"; then
			grep -qi 'already exists' <<<"$out" || die "creating search attribute $name failed: $out"
		fi
	done
}

temporal_up() {
	temporal_ensure_bin
	if temporal_answers; then
		log "Temporal answers at $TEMPORAL_ADDRESS ($(who temporal "server start-dev")); using it"
		return 0
	fi
	local host="${TEMPORAL_ADDRESS%:*}" port="${TEMPORAL_ADDRESS##*:}" db="$STACK/temporal.db" existed=0 bin
	is_local_host "$host" || die "Temporal at $TEMPORAL_ADDRESS does not answer, and zdm-stack only starts one on this machine"
	bin="$(temporal_bin)"
	[[ -f "$db" ]] && existed=1
	log "starting Temporal dev server on $host:$port (UI on port $TEMPORAL_UI_PORT, db .stack/temporal.db)"
	spawn temporal "$STACK/temporal.log" "$bin" server start-dev \
		--db-filename "$db" --ip "$host" --port "$port" --ui-port "$TEMPORAL_UI_PORT" \
		--search-attribute MigrationPhase=Keyword --search-attribute MigrationTable=Keyword \
		--log-level warn
	await_ready temporal "server start-dev" "Temporal dev server" temporal_answers 60 1 "Temporal did not report SERVING within 60s"
	# Search attributes given by flag only apply when the SQLite file is first created.
	((existed)) && temporal_search_attributes
	log "Temporal ready at $TEMPORAL_ADDRESS (UI http://$host:$TEMPORAL_UI_PORT)"
}

# --- Unleash -------------------------------------------------------------------------------

unleash_answers() { curl -fsS -m 3 -o /dev/null "$UNLEASH_URL/health" 2>/dev/null; }

unleash_installed_version() {
	sed -n 's/^ *"version": *"\([^"]*\)".*/\1/p' "$STACK/unleash/node_modules/unleash-server/package.json" 2>/dev/null | head -n1
}

unleash_install() {
	local dir="$STACK/unleash" src="$ROOT/scripts/unleash"
	if [[ "$(unleash_installed_version)" == "$UNLEASH_VERSION" ]] &&
		cmp -s "$src/package-lock.json" "$dir/package-lock.json"; then
		return 0
	fi
	command -v npm >/dev/null || die "npm is not installed (Node.js >= 20 is needed for Unleash)"
	log "installing unleash-server $UNLEASH_VERSION into .stack/unleash (npm ci, about a minute)"
	mkdir -p "$dir"
	cp "$src/package.json" "$src/package-lock.json" "$dir/"
	(cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >&2) || die "npm ci of unleash-server failed"
	[[ "$(unleash_installed_version)" == "$UNLEASH_VERSION" ]] || die "unleash-server $UNLEASH_VERSION is not in .stack/unleash after npm ci"
}

unleash_up() {
	if unleash_answers; then
		log "Unleash answers at $UNLEASH_URL ($(who unleash "unleash-server/dist/server.js")); using it"
		return 0
	fi
	local host port
	host="$(http_host "$UNLEASH_URL")"
	port="$(http_port "$UNLEASH_URL")"
	is_local_host "$host" || die "Unleash at $UNLEASH_URL does not answer, and zdm-stack only starts one on this machine"
	unleash_install
	log "starting Unleash $UNLEASH_VERSION on $host:$port"
	# The rest of the environment (PATH, HOME, proxies) passes through.
	spawn unleash "$STACK/unleash.log" env \
		DATABASE_URL="$UNLEASH_DATABASE_URL" DATABASE_SSL=false \
		HTTP_HOST="$host" PORT="$port" \
		CHECK_VERSION=false SEND_TELEMETRY=false \
		INIT_ADMIN_API_TOKENS="$UNLEASH_ADMIN_TOKEN" INIT_BACKEND_API_TOKENS="$UNLEASH_API_TOKEN" \
		node "$STACK/unleash/node_modules/unleash-server/dist/server.js"
	await_ready unleash "unleash-server/dist/server.js" Unleash unleash_answers 90 1 "Unleash did not answer $UNLEASH_URL/health within 90s"
	log "Unleash ready at $UNLEASH_URL"
}

# --- worker --------------------------------------------------------------------------------

worker_up() {
	local bin="$ROOT/bin/zdm-worker"
	if [[ ! -x "$bin" ]]; then
		log "no bin/zdm-worker (run make build); not starting a worker"
		return 0
	fi
	if our_pid worker "$bin" >/dev/null; then
		log "worker already running (pid $(<"$(pidfile worker)"))"
		return 0
	fi
	log "starting bin/zdm-worker (log .stack/worker.log)"
	export_env
	spawn worker "$STACK/worker.log" "$bin"
	sleep 1
	if ! our_pid worker "$bin" >/dev/null; then
		log_tail "$STACK/worker.log"
		die "bin/zdm-worker exited at once"
	fi
}

# --- commands ------------------------------------------------------------------------------

export_env() {
	export DATABASE_URL UNLEASH_DATABASE_URL TEMPORAL_ADDRESS UNLEASH_URL UNLEASH_ADMIN_TOKEN \
		UNLEASH_API_TOKEN UNLEASH_ENVIRONMENT PROMETHEUS_URL
	ZDM_TEMPORAL_BIN="$(temporal_bin)"
	export ZDM_TEMPORAL_BIN
}

# sh_quote VALUE: single-quoted for eval.
sh_quote() { printf "'%s'" "${1//\'/\'\\\'\'}"; }

cmd_env() {
	local var
	export_env
	for var in DATABASE_URL UNLEASH_DATABASE_URL TEMPORAL_ADDRESS UNLEASH_URL UNLEASH_ADMIN_TOKEN \
		UNLEASH_API_TOKEN UNLEASH_ENVIRONMENT ZDM_TEMPORAL_BIN PROMETHEUS_URL; do
		printf 'export %s=%s\n' "$var" "$(sh_quote "${!var}")"
	done
}

cmd_up() {
	local deps=0
	for a in "$@"; do
		case "$a" in
		--deps) deps=1 ;;
		*) die "unknown option for up: $a" ;;
		esac
	done
	mkdir -p "$STACK"
	pg_up
	if ((deps)); then
		temporal_ensure_bin
		log "--deps: not starting Temporal (tests start their own dev server with $(temporal_bin))"
	else
		temporal_up
	fi
	unleash_up
	((deps)) || worker_up
	((deps)) || prometheus_up
	log "stack is up; eval \"\$(scripts/stack.sh env)\" to use it"
}

cmd_down() {
	mkdir -p "$STACK"
	prometheus_down
	stop worker "$ROOT/bin/zdm-worker" 30
	stop unleash "unleash-server/dist/server.js" 15
	stop temporal "server start-dev" 30
	pg_down
}

status_line() { printf '%-9s %-5s %-42s %s\n' "$1" "$2" "$3" "$4"; }

who() {
	local pid
	if pid="$(our_pid "$1" "$2")"; then printf 'started by zdm-stack, pid %s' "$pid"; else printf 'external'; fi
}

cmd_status() {
	mkdir -p "$STACK"
	local addr who_pg
	addr="$(pg_url_part "$DATABASE_URL" host):$(pg_url_part "$DATABASE_URL" port)/$(pg_url_part "$DATABASE_URL" db)"
	if [[ -f "$STACK/postgres.started" ]]; then who_pg="started by zdm-stack, cluster $(<"$STACK/postgres.started")"; else who_pg=external; fi
	if pg_answers "$DATABASE_URL"; then
		status_line postgres up "$addr" "$who_pg"
	else
		status_line postgres down "$addr" -
	fi
	if temporal_answers; then
		status_line temporal up "$TEMPORAL_ADDRESS" "$(who temporal "server start-dev")"
	else
		status_line temporal down "$TEMPORAL_ADDRESS" -
	fi
	if unleash_answers; then
		status_line unleash up "$UNLEASH_URL" "$(who unleash "unleash-server/dist/server.js")"
	else
		status_line unleash down "$UNLEASH_URL" -
	fi
	local pid
	if pid="$(our_pid worker "$ROOT/bin/zdm-worker")"; then
		status_line worker up "bin/zdm-worker" "started by zdm-stack, pid $pid"
	else
		status_line worker down "bin/zdm-worker" -
	fi
	prometheus_status
}

usage() {
	sed -n '2,12s/^# \{0,1\}//p' "${BASH_SOURCE[0]}" >&2
	exit 2
}

main() {
	local cmd="${1:-}"
	[[ $# -gt 0 ]] && shift
	case "$cmd" in
	up) cmd_up "$@" ;;
	down) cmd_down ;;
	status) cmd_status ;;
	env) cmd_env ;;
	pg-ensure)
		mkdir -p "$STACK"
		pg_up
		;;
	*) usage ;;
	esac
}

main "$@"
