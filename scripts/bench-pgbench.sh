#!/usr/bin/env bash
# make bench-pgbench (or ZDM_BENCH_PGBENCH=1 make bench): pgbench_accounts.abalance from
# int to bigint while pgbench offers a steady load, migrated by zdm (default settings), then
# on a fresh copy of the same table by pgroll (start --complete), in the same run.
#
# For each tool: wall time; the application's p50/p99/max over the transactions that ENDED
# while the migration ran (pgbench -l, one line per transaction); failed transactions; lost
# updates (every account's abalance against the sum of its pgbench_history deltas). For zdm
# also Temporal's share, from the workflow's history. Table in .stack/bench-pgbench.txt.
#
#   ZDM_BENCH_SCALE    pgbench scale (100: 10,000,000 accounts)
#   ZDM_BENCH_RATE     transactions per second pgbench offers (300)
#   ZDM_BENCH_CLIENTS  pgbench clients (10), over ZDM_BENCH_THREADS threads (2)
#   ZDM_BENCH_WARMUP / ZDM_BENCH_MARGIN   seconds of load before / after each migration (10 / 5)
#   ZDM_BENCH_TUNED    1: also zdm with target_batch_time 50ms and lock_timeout 100ms
#                      (default: only at scale 10 or less)
#   ZDM_BENCH_PGROLL   a pgroll v0.14.0 binary (default .stack/pgroll-v0.14.0, built once
#                      from github.com/xataio/pgroll in a scratch module outside the
#                      repository when absent)
#   ZDM_BENCH_PGROLL_URL  a superuser URL for pgroll (its init creates an event trigger,
#                      which needs one); its database is replaced by the bench's. Default:
#                      the local cluster's postgres role over the socket (run as root)
#   ZDM_BENCH_TEMPORAL_PORT  the bench's own Temporal dev server (7299)
#   ZDM_BENCH_TOOLS    which to run ("baseline zdm pgroll"); baseline: the same load on a
#                      fresh copy with no migration, ZDM_BENCH_BASELINE seconds (60): the
#                      application's latency this machine gives without any migration
#   ZDM_BENCH_ZDM_YAML  also zdm with these lines added to the migration file (one per line),
#                      e.g. 'backfill: {max_app_p99: 10ms}': a trade-off point beside the default
#   ZDM_BENCH_DEFAULT  0: leave out zdm's default runs (every ZDM_BENCH_PARALLELISM) (e.g. only ZDM_BENCH_ZDM_YAML's, so that
#                      each setting is measured first in its own run of the bench)
#   ZDM_BENCH_DB_PREFIX  prefix of the bench's databases (zdm_bench_pgbench), so that two
#                      benches on one PostgreSQL do not drop each other's copies
#   ZDM_BENCH_PARALLELISM  zdm's backfill partitions, one run per value on a fresh copy
#                      ("1 2 4"; 1 is the default file, without backfill.parallelism)
#   ZDM_BENCH_REINIT   1: run pgbench -i again even when the template database exists
#
# It runs its own Temporal dev server and zdm worker (the worker's DATABASE_URL must name
# the migrated database, and each tool gets a fresh copy), so a `make up` stack is left as
# it is; only PostgreSQL is shared. The template database zdm_bench_pgbench_sSCALE is kept
# for the next run (drop it by hand to free the disk).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"

SCALE="${ZDM_BENCH_SCALE:-100}"
RATE="${ZDM_BENCH_RATE:-300}"
CLIENTS="${ZDM_BENCH_CLIENTS:-10}"
THREADS="${ZDM_BENCH_THREADS:-2}"
WARMUP="${ZDM_BENCH_WARMUP:-10}"
MARGIN="${ZDM_BENCH_MARGIN:-5}"
TEMPORAL_PORT="${ZDM_BENCH_TEMPORAL_PORT:-7299}"
DBP="${ZDM_BENCH_DB_PREFIX:-zdm_bench_pgbench}"
PGROLL_VERSION=v0.14.0
PGROLL="${ZDM_BENCH_PGROLL:-$ROOT/.stack/pgroll-$PGROLL_VERSION}"
if [[ -z "${ZDM_BENCH_TUNED:-}" ]]; then
	if ((SCALE <= 10)); then ZDM_BENCH_TUNED=1; else ZDM_BENCH_TUNED=0; fi
fi
ROWS=$((SCALE * 100000))
TOOLS="${ZDM_BENCH_TOOLS:-baseline zdm pgroll}"
BASELINE="${ZDM_BENCH_BASELINE:-60}"
PARALLELISM="${ZDM_BENCH_PARALLELISM:-1 2 4}"
OUT="$ROOT/.stack/bench-pgbench"
TXT="$ROOT/.stack/bench-pgbench.txt"

log() { printf 'bench-pgbench: %s\n' "$*" >&2; }
die() {
	log "ERROR: $*"
	exit 1
}
now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }

# rows_label 10000000 -> 10M
rows_label() { awk -v n="$1" 'BEGIN { if (n >= 1e6) printf "%gM", n / 1e6; else printf "%gk", n / 1e3 }'; }

[[ "$SCALE" =~ ^[0-9]+$ && "$SCALE" -ge 1 ]] || die "ZDM_BENCH_SCALE=$SCALE: want a whole number >= 1"
command -v pgbench >/dev/null || die "pgbench is not installed (postgresql-client)"

mkdir -p "$ROOT/.stack"
scripts/stack.sh pg-ensure >&2
eval "$(scripts/stack.sh env)"
ADMIN_URL="$DATABASE_URL"
TEMPORAL_BIN="$ZDM_TEMPORAL_BIN"
[[ -x "$TEMPORAL_BIN" ]] || die "no Temporal CLI at $TEMPORAL_BIN (make bin/temporal)"

# db_url DB: ADMIN_URL naming database DB.
db_url() {
	local re='^(postgres(ql)?://[^/?]*)(/[^?]*)?(\?.*)?$'
	[[ "$ADMIN_URL" =~ $re ]] || die "cannot read DATABASE_URL"
	printf '%s/%s%s' "${BASH_REMATCH[1]}" "$1" "${BASH_REMATCH[4]}"
}
admin() { psql "$ADMIN_URL" -XAtq -v ON_ERROR_STOP=1 "$@"; }

rm -rf "$OUT"
mkdir -p "$OUT"

# --- what we start, stopped on exit ---------------------------------------------------------
PIDS=()
cleanup() {
	local p
	for p in "${PIDS[@]}"; do
		kill -TERM "$p" 2>/dev/null || true
	done
	for p in "${PIDS[@]}"; do
		wait "$p" 2>/dev/null || true
	done
}
trap cleanup EXIT

# --- binaries -------------------------------------------------------------------------------
log "building bin/zdm, bin/zdm-worker and the bench's reader"
go build -o bin/zdm ./starter
go build -o bin/zdm-worker ./worker
go build -o "$OUT/report" ./internal/benchpg/report

if [[ ! -x "$PGROLL" ]]; then
	cache="${ZDM_BENCH_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/zdm-bench}/pgroll-build"
	log "no pgroll at $PGROLL: building pgroll $PGROLL_VERSION from github.com/xataio/pgroll in $cache (a scratch module outside this repository; once)"
	mkdir -p "$cache"
	(
		cd "$cache"
		[[ -f go.mod ]] || go mod init pgroll-build >/dev/null 2>&1
		GOWORK=off go get "github.com/xataio/pgroll@$PGROLL_VERSION"
		GOWORK=off go build -o "$PGROLL" github.com/xataio/pgroll
	) >&2 || die "building pgroll $PGROLL_VERSION failed"
fi

# --- the table: pgbench -i once into a template, copied for each tool -----------------------
TPL="${DBP}_s$SCALE"
MARK="pgbench -i -s $SCALE done"
if [[ "${ZDM_BENCH_REINIT:-0}" == 1 || "$(admin -v db="$TPL" <<<"SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = :'db'")" != "$MARK" ]]; then
	log "pgbench -i -s $SCALE into database $TPL ($(rows_label "$ROWS") accounts; kept as the template of later runs)"
	admin -v db="$TPL" <<'SQL'
SELECT format('DROP DATABASE IF EXISTS %I WITH (FORCE)', :'db') \gexec
SELECT format('CREATE DATABASE %I', :'db') \gexec
SQL
	t=$(now)
	pgbench -i -q -s "$SCALE" "$(db_url "$TPL")" >"$OUT/init.log" 2>&1 || {
		tail -n 20 "$OUT/init.log" >&2
		die "pgbench -i failed"
	}
	admin -v db="$TPL" -v mark="$MARK" <<<"SELECT format('COMMENT ON DATABASE %I IS %L', :'db', :'mark') \gexec"
	log "pgbench -i took $(secs "$t" "$(now)") s"
else
	log "using template database $TPL (pgbench -i -s $SCALE done earlier; ZDM_BENCH_REINIT=1 redoes it)"
fi
# The lost-update check rests on every balance starting at 0 with an empty history.
out=$("$OUT/report" balances "$(db_url "$TPL")")
read -r accounts mismatched history <<<"$out"
[[ "$accounts" == "$ROWS" && "$mismatched" == 0 && "$history" == 0 ]] ||
	die "$TPL: $accounts accounts, $mismatched balances not 0, $history history rows: expected $ROWS, 0, 0 (ZDM_BENCH_REINIT=1)"
log "$TPL: $accounts accounts, every balance 0, pgbench_history empty"

# fresh_db NAME: a copy of the template, checkpointed.
fresh_db() {
	drop_db "$1" || die "database $1 is left from an earlier run and this role cannot drop it while autovacuum works in it (fix: wait for autovacuum, or drop it as a superuser: DROP DATABASE $1 WITH (FORCE))"
	admin -v db="$1" -v tpl="$TPL" <<'SQL'
SELECT format('CREATE DATABASE %I TEMPLATE %I STRATEGY FILE_COPY', :'db', :'tpl') \gexec
SQL
	psql "$(db_url "$1")" -XAtq -c 'CHECKPOINT' 2>/dev/null || log "(no CHECKPOINT: the role lacks pg_checkpoint)"
}

# drop_db NAME: a copy is dropped once used, and before it is made again. WITH (FORCE)
# cannot end an autovacuum worker (after the big rewrite, say) for a role without
# pg_signal_backend: run as root, the local cluster's postgres role drops it (as pgroll's
# runs do); else it is tried for 30 s and, at worst, left.
drop_db() {
	local i port
	for i in $(seq 10); do
		admin -v db="$1" <<<"SELECT format('DROP DATABASE IF EXISTS %I WITH (FORCE)', :'db') \gexec" 2>/dev/null && return 0
		if [[ "$(id -u)" == 0 && -z "${ZDM_BENCH_PGROLL_URL:-}" ]]; then
			port=$(pg_lsclusters -h | awk -v v="${ZDM_PG_VERSION:-15}" -v c="${ZDM_PG_CLUSTER:-main}" '$1==v && $2==c {print $3}')
			runuser -u postgres -- psql -XAtq -h /var/run/postgresql -p "${port:-5432}" -d postgres -v db="$1" \
				<<<"SELECT format('DROP DATABASE IF EXISTS %I WITH (FORCE)', :'db') \gexec" 2>/dev/null && return 0
		fi
		sleep 3
	done
	log "WARNING: could not drop database $1 (drop it by hand)"
	return 1
}

# --- the load -------------------------------------------------------------------------------
# load_start DIR URL: pgbench in the background with a per-transaction log. It is given far
# more time than the migration needs and ended by load_stop, which ends its sessions (the
# clients abort and pgbench prints its summary and flushes its logs, which a signal to
# pgbench itself would lose).
PGB=""
load_start() {
	pgbench -n -c "$CLIENTS" -j "$THREADS" -R "$RATE" -T 36000 -l --log-prefix="$1/pgbench_log" "$2" \
		>"$1/pgbench.out" 2>"$1/pgbench.err" &
	PGB=$!
	PIDS+=("$PGB")
	sleep 1
	kill -0 "$PGB" 2>/dev/null || {
		cat "$1/pgbench.err" >&2
		die "pgbench did not start"
	}
}
# load_stop DIR DB: prints the clients that had aborted before the stop.
load_stop() {
	local aborted
	cp "$1/pgbench.err" "$1/pgbench.err.before-stop"
	aborted=$(grep -c 'aborted' "$1/pgbench.err.before-stop" || true)
	admin -v db="$2" <<<"SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = :'db' AND application_name = 'pgbench'" >/dev/null
	wait "$PGB" 2>/dev/null || true
	printf '%s' "$aborted"
}

abalance_type() {
	psql "$(db_url "$1")" -XAtq -c "SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = 'public.pgbench_accounts'::regclass AND attname = 'abalance'"
}

ROWS_OUT=()
# record LABEL DIR DB T0 T1 ABORTED [TYPE]: one line of the table; abalance must be TYPE
# (bigint) at the end.
record() {
	local label="$1" dir="$2" db="$3" t0="$4" t1="$5" aborted="$6" want="${7:-bigint}" committed failed skipped p50 p99 max acc mism hist typ out
	out=$("$OUT/report" latency "$t0" "$t1" "$dir"/pgbench_log.*)
	read -r committed failed skipped p50 p99 max stall <<<"$out"
	out=$("$OUT/report" balances "$(db_url "$db")")
	read -r acc mism hist <<<"$out"
	typ=$(abalance_type "$db")
	local summary
	summary=$(grep -E 'number of (failed|transactions actually processed)' "$dir/pgbench.out" | tr '\n' ';' || true)
	log "$label: $committed transactions ended during the migration, $failed failed, $skipped skipped, $aborted clients aborted before the end; abalance is now $typ; $hist history rows, $mism of $acc balances differ from their history; pgbench: ${summary:-no summary}"
	[[ "$typ" == "$want" ]] || die "$label left abalance as $typ, not $want (logs in $dir)"
	if ((aborted > 0)); then
		NOTES+=("$label: $aborted pgbench clients aborted by an error during the run:"
			"$(grep 'aborted' "$dir/pgbench.err.before-stop" | sed -E 's/^.*(ERROR|FATAL): +/  /' | sort | uniq -c)")
	fi
	ROWS_OUT+=("| $(rows_label "$ROWS") | $label | $(secs "$t0" "$t1") s | $p50 / $p99 / $max ms | $stall ms | $committed | $((failed + aborted)) / $mism |")
	log "$label: from $t0 to $t1: ${ROWS_OUT[-1]}"
}

# --- zdm ------------------------------------------------------------------------------------
TEMPORAL_ADDR="127.0.0.1:$TEMPORAL_PORT"
temporal_up() {
	if "$TEMPORAL_BIN" operator cluster health --address "$TEMPORAL_ADDR" --command-timeout 2s >/dev/null 2>&1; then
		die "something already answers at $TEMPORAL_ADDR: set ZDM_BENCH_TEMPORAL_PORT"
	fi
	log "starting the bench's Temporal dev server on $TEMPORAL_ADDR (db $OUT/temporal.db)"
	"$TEMPORAL_BIN" server start-dev --headless --db-filename "$OUT/temporal.db" --ip 127.0.0.1 \
		--port "$TEMPORAL_PORT" --search-attribute MigrationPhase=Keyword \
		--search-attribute MigrationTable=Keyword --log-level warn >"$OUT/temporal.log" 2>&1 &
	PIDS+=("$!")
	local i
	for i in $(seq 60); do
		"$TEMPORAL_BIN" operator cluster health --address "$TEMPORAL_ADDR" --command-timeout 2s 2>/dev/null | grep -q SERVING && return 0
		sleep 1
	done
	die "the Temporal dev server did not answer within 60 s; see $OUT/temporal.log"
}

# run_zdm NAME LABEL [YAML LINES...]
run_zdm() {
	local name="$1" label="$2" db="${DBP}_$1" dir="$OUT/$1" url worker t0 t1 aborted rc=0
	shift 2
	mkdir -p "$dir"
	url="$(db_url "$db")"
	{
		printf 'name: bench-pgbench-%s\ntable: public.pgbench_accounts\noperations:\n' "$name"
		printf '  - change_type: {column: abalance, type: bigint}\n'
		printf 'gates: []   # unattended: the wall time is the migration'"'"'s own\n'
		printf '%s\n' "$@"
	} >"$dir/migration.yaml"
	log "$label: fresh copy $db, worker, $WARMUP s of load, then zdm start -f $dir/migration.yaml"
	fresh_db "$db"
	env -u UNLEASH_URL DATABASE_URL="$url" TEMPORAL_ADDRESS="$TEMPORAL_ADDR" ZDM_METRICS_ADDR=off \
		bin/zdm-worker >"$dir/worker.log" 2>&1 &
	worker=$!
	PIDS+=("$worker")
	load_start "$dir" "$url"
	sleep "$WARMUP"
	t0=$(now)
	DATABASE_URL="$url" TEMPORAL_ADDRESS="$TEMPORAL_ADDR" bin/zdm start -f "$dir/migration.yaml" >"$dir/zdm.out" 2>&1 || {
		cat "$dir/zdm.out" >&2
		die "$label: zdm start failed"
	}
	"$TEMPORAL_BIN" workflow result --address "$TEMPORAL_ADDR" -w "zdm-bench-pgbench-$name" >"$dir/result.out" 2>&1 || rc=$?
	t1=$(now)
	sleep "$MARGIN"
	aborted=$(load_stop "$dir" "$db")
	# load_stop ran in a subshell, where pgbench is no child to wait for: wait here, so
	# that its logs are whole before they are read.
	wait "$PGB" 2>/dev/null || true
	kill -TERM "$worker" 2>/dev/null || true
	wait "$worker" 2>/dev/null || true
	if ((rc != 0)) || ! grep -qi 'completed' "$dir/result.out"; then
		cat "$dir/result.out" >&2
		die "$label: the workflow did not complete (worker log: $dir/worker.log)"
	fi
	record "$label" "$dir" "$db" "$t0" "$t1" "$aborted"
	TEMPORAL_ADDRESS="$TEMPORAL_ADDR" "$OUT/report" history "zdm-bench-pgbench-$name" "$ROWS" >"$dir/history.txt"
	sed "s/^/  /" "$dir/history.txt" >&2
	SHARES+=("$label:" "$(cat "$dir/history.txt")")
	drop_db "$db" || true
}

# --- pgroll ---------------------------------------------------------------------------------
# pgroll_run DB ARGS...: pgroll as a superuser on database DB (pgroll init creates an event
# trigger). The application (pgbench) still connects as DATABASE_URL's role.
pgroll_run() {
	local db="$1" re='^(postgres(ql)?://[^/?]*)(/[^?]*)?(\?.*)?$' port
	shift
	if [[ -n "${ZDM_BENCH_PGROLL_URL:-}" ]]; then
		[[ "$ZDM_BENCH_PGROLL_URL" =~ $re ]] || die "cannot read ZDM_BENCH_PGROLL_URL"
		"$PGROLL" --postgres-url "${BASH_REMATCH[1]}/$db${BASH_REMATCH[4]}" "$@"
	else
		[[ "$(id -u)" == 0 ]] || die "pgroll needs a superuser: set ZDM_BENCH_PGROLL_URL (or run as root, for the local cluster's postgres role)"
		port=$(pg_lsclusters -h | awk -v v="${ZDM_PG_VERSION:-15}" -v c="${ZDM_PG_CLUSTER:-main}" '$1==v && $2==c {print $3}')
		runuser -u postgres -- "$PGROLL" --postgres-url "postgres://postgres@/$db?host=/var/run/postgresql&port=${port:-5432}&sslmode=disable" "$@"
	fi
}

run_pgroll() {
	local label="pgroll $PGROLL_VERSION (start --complete)" db="${DBP}_pgroll" dir="$OUT/pgroll" url t0 t1 aborted
	mkdir -p "$dir"
	url="$(db_url "$db")"
	cat >"$dir/abalance_bigint.json" <<'JSON'
{
  "operations": [
    {"alter_column": {"table": "pgbench_accounts", "column": "abalance", "type": "bigint",
                      "up": "abalance::bigint", "down": "abalance::integer"}}
  ]
}
JSON
	log "$label: fresh copy $db, pgroll init, $WARMUP s of load, then pgroll start --complete"
	fresh_db "$db"
	pgroll_run "$db" init >"$dir/pgroll-init.log" 2>&1 || {
		cat "$dir/pgroll-init.log" >&2
		die "pgroll init failed"
	}
	# pgroll 0.14 refuses a schema with tables but no migration history: a baseline first.
	install -d -m 0777 "$dir/baseline"
	pgroll_run "$db" baseline 00_baseline "$dir/baseline" --yes >"$dir/pgroll-baseline.log" 2>&1 || {
		cat "$dir/pgroll-baseline.log" >&2
		die "pgroll baseline failed"
	}
	load_start "$dir" "$url"
	sleep "$WARMUP"
	t0=$(now)
	pgroll_run "$db" start --complete "$dir/abalance_bigint.json" >"$dir/pgroll.log" 2>&1 || {
		cat "$dir/pgroll.log" >&2
		load_stop "$dir" "$db" >/dev/null
		die "pgroll start --complete failed"
	}
	t1=$(now)
	sleep "$MARGIN"
	aborted=$(load_stop "$dir" "$db")
	wait "$PGB" 2>/dev/null || true # whole logs before they are read (see run_zdm)
	[[ "$(abalance_type "$db")" == bigint ]] || {
		tr '\r' '\n' <"$dir/pgroll.log" | tail -n 5 >&2
		die "pgroll start --complete did not change abalance (log: $dir/pgroll.log)"
	}
	record "$label" "$dir" "$db" "$t0" "$t1" "$aborted"
	drop_db "$db" || true
}

# --- no migration -----------------------------------------------------------------------------
# The same load on a fresh copy for BASELINE seconds, nothing else: what the application's
# latency is on this machine before any tool adds to it.
run_baseline() {
	local label="no migration (the load alone, $BASELINE s)" db="${DBP}_baseline" dir="$OUT/baseline" url t0 t1 aborted
	[[ "$BASELINE" =~ ^[0-9]+$ && "$BASELINE" -ge 5 ]] || die "ZDM_BENCH_BASELINE=$BASELINE: want a whole number of seconds >= 5"
	mkdir -p "$dir"
	url="$(db_url "$db")"
	log "$label: fresh copy $db, $WARMUP s of load, then $BASELINE s measured"
	fresh_db "$db"
	load_start "$dir" "$url"
	sleep "$WARMUP"
	t0=$(now)
	sleep "$BASELINE"
	t1=$(now)
	sleep "$MARGIN"
	aborted=$(load_stop "$dir" "$db")
	wait "$PGB" 2>/dev/null || true # whole logs before they are read (see run_zdm)
	record "$label" "$dir" "$db" "$t0" "$t1" "$aborted" integer
	drop_db "$db" || true
}

SHARES=()
NOTES=()
STARTED="$(date -u +%FT%TZ)"
[[ " $TOOLS " == *" baseline "* ]] && run_baseline
if [[ " $TOOLS " == *" zdm "* ]]; then
	temporal_up
	for n in $PARALLELISM; do
		[[ "${ZDM_BENCH_DEFAULT:-1}" == 0 ]] && break
		[[ "$n" =~ ^[0-9]+$ ]] && ((n >= 1 && n <= 16)) || die "ZDM_BENCH_PARALLELISM: $n is not a number of partitions from 1 to 16"
		if ((n == 1)); then
			run_zdm default "zdm, default settings (1 partition)"
		else
			run_zdm "p$n" "zdm, default settings, $n partitions" "backfill: {parallelism: $n}"
		fi
	done
	if [[ "$ZDM_BENCH_TUNED" == 1 ]]; then
		run_zdm tuned 'zdm, `target_batch_time: 50ms`, `lock_timeout: 100ms`' \
			'backfill: {target_batch_time: 50ms}' 'lock_timeout: 100ms'
	fi
	if [[ -n "${ZDM_BENCH_ZDM_YAML:-}" ]]; then
		mapfile -t extra <<<"$ZDM_BENCH_ZDM_YAML"
		run_zdm custom "zdm, \`${ZDM_BENCH_ZDM_YAML//$'\n'/\`, \`}\`" "${extra[@]}"
	fi
fi
[[ " $TOOLS " == *" pgroll "* ]] && run_pgroll

{
	echo "make bench-pgbench, $STARTED, commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet 2>/dev/null || echo ' (with local changes)')"
	echo "pgbench_accounts.abalance int -> bigint, $(rows_label "$ROWS") rows (pgbench scale $SCALE); pgbench -R $RATE -c $CLIENTS -j $THREADS (tpcb-like);"
	echo "latency of the transactions that ended while the migration ran (pgbench -l; with -R it counts from each transaction's scheduled start)"
	echo
	echo "| rows | tool | wall | app p50 / p99 / max | longest stall | transactions | failed / lost |"
	echo "|---|---|---|---|---|---|---|"
	printf '%s\n' "${ROWS_OUT[@]}"
	echo
	echo "no migration: the same load on a fresh copy of the table, nothing else running: the floor any tool's figures sit on."
	echo "failed: pgbench's failed markers in the window plus clients aborted by an error before the load was stopped;"
	echo "longest stall: the longest stretch of the migration in which no transaction ended (a transaction held up until the load stops is in no percentile)."
	echo "lost: accounts whose abalance differs from the sum of their pgbench_history deltas (all 0 and empty at the start)."
	echo "zdm, N partition(s): default settings but backfill.parallelism N (ZDM_BENCH_PARALLELISM=\"$PARALLELISM\")."
	((${#NOTES[@]} == 0)) || printf '%s\n' "${NOTES[@]}"
	echo
	echo "Temporal's share of zdm's wall time, from each workflow's history:"
	printf '%s\n' "${SHARES[@]}"
} | tee "$TXT"
log "written to .stack/bench-pgbench.txt (logs under .stack/bench-pgbench/)"
