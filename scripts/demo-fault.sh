#!/usr/bin/env bash
# make demo-fault (or ZDM_DEMO_FAULT=1 make demo): the guarded switch, unattended, on the
# local stack. The demo application's new read path fails 10% of its reads
# (ZDM_DEMO_FAULT_RATE); zdm rolls read_new out in steps under a guard on the app's error
# ratio, read from a real Prometheus, sees the breach, switches read_new back by itself and
# waits at the recover gate, where this demo rejects (the fault is not fixed): the
# migration rolls back. The summary gives the errors the application saw before the revert
# and after it, the time from breach to flag off, and checks that no row was lost.
set -euo pipefail
cd "$(dirname "$0")/.."
ROWS="${ZDM_DEMO_ROWS:-200000}"
FAULT="${ZDM_DEMO_FAULT_RATE:-0.1}"
FILE=examples/customers-guarded.yaml
NAME=customers-guarded
DUAL=customers-guarded-dual-write
READ=customers-guarded-read-new
STATS=.stack/demoapp-fault-stats.json
# shellcheck source=scripts/demo-lib.sh
source scripts/demo-lib.sh

say "1/6 local stack: PostgreSQL, Temporal, Unleash, zdm worker, Prometheus"
scripts/stack.sh up
eval "$(scripts/stack.sh env)"
: "${ZDM_DEMO_METRICS_ADDR:=127.0.0.1:9464}"
# The example names the local stack's Prometheus; another PROMETHEUS_URL gets a copy.
if [[ "$PROMETHEUS_URL" != "http://127.0.0.1:9091" ]]; then
	sed "s#http://127.0.0.1:9091#$PROMETHEUS_URL#" "$FILE" >.stack/customers-guarded.yaml
	FILE=.stack/customers-guarded.yaml
fi

say "2/6 demo table: public.customers with $ROWS rows"
demo_table "$ROWS"
SEEDED=$(psql -X -At "$DATABASE_URL" -c 'SELECT count(*) FROM public.customers')

say "3/6 demo application, its new read path failing $FAULT of its reads; metrics for Prometheus at $ZDM_DEMO_METRICS_ADDR"
ZDM_DEMO_FAULT_RATE="$FAULT" demo_app .stack/demoapp-fault.log --metrics-addr "$ZDM_DEMO_METRICS_ADDR"
# Prometheus has the app's series before zdm asks for them.
for _ in $(seq 30); do
	curl -fsS "$PROMETHEUS_URL/api/v1/query?query=zdm_demo_requests_total" | grep -q '"read_new"' && break
	sleep 1
done

say "4/6 migration: zdm start -f $FILE --wait (rollout 10% -> 50% -> 100%, guarded)"
demo_start
[[ $rc -eq 5 ]] || { echo "expected the guard to stop the migration at the recover gate (exit 5), got exit $rc" >&2; exit 1; }
bin/zdm status "$NAME"
bin/zdm status "$NAME" --json >.stack/guarded-status.json
AWAIT=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["progress"]["awaiting_gate"])' .stack/guarded-status.json)
[[ "$AWAIT" == recover ]] || { echo "expected gate recover, the migration waits at $AWAIT" >&2; exit 1; }

say "5/6 read_new is back; the application runs on the old read path. The fault is not fixed: reject, roll back"
# The application keeps working meanwhile; its errors after the revert are counted over this time.
sleep "${ZDM_DEMO_LOOK:-10}"
bin/zdm reject "$NAME" --gate recover --by demo --reason "the new read path fails: roll back"
set +e
bin/zdm watch "$NAME"
rc=$?
set -e
END=$(date +%s)
sleep 2
kill -TERM $APP
wait $APP || true
trap - EXIT

say "6/6 summary"
bin/zdm status "$NAME" || true
ROWS_NOW=$(psql -X -At "$DATABASE_URL" -c 'SELECT count(*) FROM public.customers')
NULLS=$(psql -X -At "$DATABASE_URL" -c 'SELECT count(*) FROM public.customers WHERE name IS NULL OR email IS NULL')
NEWCOLS=$(psql -X -At "$DATABASE_URL" -c "SELECT count(*) FROM information_schema.columns WHERE table_schema = 'public' AND table_name = 'customers' AND column_name IN ('full_name', 'email_lower')")
python3 - "$STATS" .stack/guarded-status.json "$((END - START))" "$SEEDED" "$ROWS_NOW" "$NULLS" "$NEWCOLS" "$rc" <<'PY'
import json, sys
from datetime import datetime, timedelta
stats, status = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
secs, seeded, rows, nulls, newcols, rc = sys.argv[3], *map(int, sys.argv[4:])
def ts(s):  # RFC 3339 with nanoseconds
    s = s.replace("Z", "+00:00")
    if "." in s:
        head, frac = s.split(".", 1)
        digits = "".join(c for c in frac if c.isdigit())
        s = head + "." + digits[:6] + frac[len(digits):]
    return datetime.fromisoformat(s)
g = status["progress"]["guard"]
b = g["breaches"][-1]
detected, back = ts(b["detected_at"]), ts(b["flag_back_at"])
refresh = timedelta(seconds=1)  # the app's Unleash refresh interval (zdm-demoapp --refresh-interval)
last_err = ts(stats["last_error_at"]) if stats.get("last_error_at") else None
figs = ", ".join(f'{f["query"]}{f.get("labels", "")} = {f["value"]:.4f} > max {f.get("max")}' for f in b["figures"])
print(f"breach:           at {b['percent']}% of users: {figs}")
print(f"revert:           read_new {'off' if b['reverted_to'] == 0 else str(b['reverted_to']) + '%'} in Unleash {b['to_flag_back'] / 1e6:.0f} ms after the figures were read (detected {detected:%H:%M:%S.%f}, flag off {back:%H:%M:%S.%f})")
print(f"                  the app follows within its refresh interval ({refresh.total_seconds():.0f}s)")
step = ts(g["step_started_at"]) if g.get("step_started_at") else None
if step:
    print(f"detection:        {(detected - step).total_seconds():.1f} s after read_new reached {b['percent']}% (guard interval 2s, rate window 10s)")
print(f"app errors:       {stats['errors']} in all, {stats['errors_read_new']} of them on the new read path")
if last_err:
    print(f"                  last error at {last_err:%H:%M:%S.%f}, {(last_err - back).total_seconds() * 1000:+.0f} ms from flag off")
    after = last_err > back + refresh
else:
    after = False
print(f"errors after the revert (once the app had the flag): {'SOME (see first_errors in ' + sys.argv[1] + ')' if after else 0}")
print(f"demo app:         {stats['ops']:,} operations; per mode {stats.get('mode_ops')}; worst latency {stats['max_latency_ms']:.1f} ms")
print(f"migration:        {secs} s, ended {'rolled back' if rc == 1 else 'exit ' + str(rc)} after the recover gate was rejected")
print(f"rows:             {seeded:,} seeded + {stats['inserts']:,} inserted by the app = {seeded + stats['inserts']:,}; the table has {rows:,}; {nulls} with a NULL name or email")
print(f"table:            {'as it was (no full_name, no email_lower)' if newcols == 0 else 'STILL HAS NEW COLUMNS'}")
ok = (not after) and rows == seeded + stats['inserts'] and nulls == 0 and newcols == 0 and stats['errors'] == stats['errors_read_new'] and stats['errors_read_new'] > 0
print("no data lost; the guard reverted by itself" if ok else "FAILED: see above")
sys.exit(0 if ok else 1)
PY
