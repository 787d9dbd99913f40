#!/usr/bin/env bash
# make bench-walwait: what a plain batched UPDATE of pgbench_accounts costs an application
# under pgbench -R 300, at several paces, and what the application waits on meanwhile.
# No zdm here: it shows where the limit of any backfill is on this machine (the README's
# "Where the limit is"). For each variant, on a fresh copy of the bench-pgbench template:
#   - pgbench -R $RATE (tpcb-like) for WARMUP + SECONDS + 5 s, logging every transaction;
#   - a probe like zdm's governor's (one row read from a random page and a commit), 20/s;
#   - after WARMUP s, for SECONDS s at most: UPDATE ... SET nb = abalance over key ranges
#     of BATCH rows, each committed, with PAUSE ms between them;
#   - pg_stat_activity of pgbench's sessions sampled every 20 ms during the UPDATEs.
# It prints, per variant: rows/s; the application's and the probe's p50/p99/max during the
# UPDATEs; the pgbench sessions' top wait events.
#
#   ZDM_WALWAIT_VARIANTS  "BATCH:PAUSE_MS:SYNCHRONOUS_COMMIT ..." ("5000:0:off 5000:0:on 5000:150:off 1000:30:off")
#   ZDM_WALWAIT_SECONDS   how long the UPDATEs run (40); ZDM_WALWAIT_WARMUP load before them (10)
#   ZDM_BENCH_SCALE / ZDM_BENCH_RATE / ZDM_BENCH_DB_PREFIX  as in bench-pgbench.sh (100 / 300)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
SCALE="${ZDM_BENCH_SCALE:-100}"
RATE="${ZDM_BENCH_RATE:-300}"
SECONDS_="${ZDM_WALWAIT_SECONDS:-40}"
WARMUP="${ZDM_WALWAIT_WARMUP:-10}"
VARIANTS="${ZDM_WALWAIT_VARIANTS:-5000:0:off 5000:0:on 5000:150:off 1000:30:off}"
DBP="${ZDM_BENCH_DB_PREFIX:-zdm_bench_pgbench}"
TPL="${DBP}_s$SCALE"
DB="${DBP}_walwait"
OUT="$ROOT/.stack/bench-walwait"

log() { printf 'bench-walwait: %s\n' "$*" >&2; }
die() {
	log "ERROR: $*"
	exit 1
}
command -v pgbench >/dev/null || die "pgbench is not installed (postgresql-client)"
scripts/stack.sh pg-ensure >&2
eval "$(scripts/stack.sh env)"
re='^(postgres(ql)?://[^/?]*)(/[^?]*)?(\?.*)?$'
[[ "$DATABASE_URL" =~ $re ]] || die "cannot read DATABASE_URL"
URL="${BASH_REMATCH[1]}/$DB${BASH_REMATCH[4]}"
admin() { psql "$DATABASE_URL" -XAtq -v ON_ERROR_STOP=1 "$@"; }
[[ "$(admin -v db="$TPL" <<<"SELECT count(*) FROM pg_database WHERE datname = :'db'")" == 1 ]] ||
	die "no template database $TPL: run make bench-pgbench once (it makes it with pgbench -i -s $SCALE)"
rm -rf "$OUT"
mkdir -p "$OUT"
go build -o "$OUT/report" ./internal/benchpg/report
printf 'BEGIN;\nSELECT abalance FROM pgbench_accounts TABLESAMPLE SYSTEM (0.01) LIMIT 1;\nSELECT pg_current_xact_id();\nCOMMIT;\n' >"$OUT/probe.sql"

PIDS=()
cleanup() {
	local p
	for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
}
trap cleanup EXIT

now() { date +%s.%N; }
{
	echo "make bench-walwait, $(date -u +%FT%TZ), $((SCALE * 100000)) accounts, pgbench -R $RATE -c 10 -j 2; UPDATEs for at most $SECONDS_ s"
	echo
	echo "| batch | pause | synchronous_commit | rows/s | app p50 / p99 / max | probe p50 / p99 / max | pgbench's top waits (20 ms samples) |"
	echo "|---|---|---|---|---|---|---|"
} >"$OUT/table.txt"
for v in $VARIANTS; do
	IFS=: read -r batch pause sc <<<"$v"
	[[ "$batch" =~ ^[0-9]+$ && "$pause" =~ ^[0-9]+$ && "$sc" =~ ^(on|off)$ ]] || die "variant $v: want BATCH:PAUSE_MS:on|off"
	dir="$OUT/$batch-$pause-$sc"
	mkdir -p "$dir"
	chmod 0777 "$dir"
	log "$v: fresh copy $DB of $TPL"
	admin -v db="$DB" -v tpl="$TPL" <<'SQL'
SELECT format('DROP DATABASE IF EXISTS %I WITH (FORCE)', :'db') \gexec
SELECT format('CREATE DATABASE %I TEMPLATE %I STRATEGY FILE_COPY', :'db', :'tpl') \gexec
SQL
	psql "$URL" -XAtq -v ON_ERROR_STOP=1 -c 'ALTER TABLE pgbench_accounts ADD COLUMN nb bigint' \
		-c 'CREATE TABLE walwait_samples (wait text)'
	psql "$URL" -XAtq -c 'CHECKPOINT' 2>/dev/null || true
	total=$((WARMUP + SECONDS_ + 5))
	pgbench -n -R "$RATE" -c 10 -j 2 -T "$total" -l --log-prefix="$dir/applog" "$URL" >"$dir/app.out" 2>&1 &
	PIDS+=("$!")
	pgbench -n -R 20 -c 1 -j 1 -T "$total" -f "$OUT/probe.sql" -l --log-prefix="$dir/probelog" "$URL" >"$dir/probe.out" 2>&1 &
	PIDS+=("$!")
	sleep "$WARMUP"
	t0=$(now)
	# psql variables do not reach into a DO block's text: they travel as settings.
	psql "$URL" -XAtq -v deadline="$SECONDS_" <<'SQL' >/dev/null 2>&1 &
SELECT set_config('walwait.deadline', :'deadline', false);
DO $$
DECLARE
  stop timestamptz := clock_timestamp() + make_interval(secs => current_setting('walwait.deadline')::int + 5);
BEGIN
  WHILE clock_timestamp() < stop LOOP
    PERFORM pg_stat_clear_snapshot();
    INSERT INTO walwait_samples SELECT coalesce(wait_event_type || ':' || wait_event, 'CPU')
      FROM pg_stat_activity WHERE application_name = 'pgbench' AND state = 'active' AND datname = current_database();
    COMMIT;
    PERFORM pg_sleep(0.02);
  END LOOP;
END $$;
SQL
	sampler=$!
	psql "$URL" -XAtq -v ON_ERROR_STOP=1 -v batch="$batch" -v pause="$pause" -v sc="$sc" -v deadline="$SECONDS_" <<'SQL' >"$dir/update.out" 2>&1 || die "$v: the UPDATEs failed: $(cat "$dir/update.out")"
SELECT set_config('synchronous_commit', :'sc', false), set_config('walwait.batch', :'batch', false),
  set_config('walwait.pause', :'pause', false), set_config('walwait.deadline', :'deadline', false);
DO $$
DECLARE
  lo bigint := 0;
  hi bigint := (SELECT max(aid) FROM pgbench_accounts);
  batch int := current_setting('walwait.batch')::int;
  pause float8 := current_setting('walwait.pause')::float8 / 1000;
  stop timestamptz := clock_timestamp() + make_interval(secs => current_setting('walwait.deadline')::int);
BEGIN
  WHILE lo < hi AND clock_timestamp() < stop LOOP
    UPDATE pgbench_accounts SET nb = abalance WHERE aid > lo AND aid <= lo + batch;
    COMMIT;
    lo := lo + batch;
    PERFORM pg_sleep(pause);
  END LOOP;
END $$;
SQL
	t1=$(now)
	kill "$sampler" 2>/dev/null || true
	wait "${PIDS[@]}" 2>/dev/null || true
	PIDS=()
	rows=$(psql "$URL" -XAtq -c 'SELECT count(nb) FROM pgbench_accounts')
	read -r _ _ _ ap50 ap99 amax _ <<<"$("$OUT/report" latency "$t0" "$t1" "$dir"/applog.*)"
	read -r _ _ _ pp50 pp99 pmax _ <<<"$("$OUT/report" latency "$t0" "$t1" "$dir"/probelog.*)"
	waits=$(psql "$URL" -XAtq -F' ' -c "SELECT string_agg(format('%s %s', wait, n), ', ' ORDER BY n DESC) FROM (SELECT wait, count(*) n FROM walwait_samples GROUP BY 1 ORDER BY 2 DESC LIMIT 5) w")
	rate=$(awk -v r="$rows" -v a="$t0" -v b="$t1" 'BEGIN { printf "%d", r / (b - a) }')
	echo "| $batch | ${pause}ms | $sc | $rate | $ap50 / $ap99 / $amax ms | $pp50 / $pp99 / $pmax ms | $waits |" >>"$OUT/table.txt"
	log "$v: $(tail -n 1 "$OUT/table.txt")"
done
admin -v db="$DB" <<<"SELECT format('DROP DATABASE IF EXISTS %I WITH (FORCE)', :'db') \gexec" || log "could not drop $DB"
cp "$OUT/table.txt" "$ROOT/.stack/bench-walwait.txt"
cat "$OUT/table.txt"
