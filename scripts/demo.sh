#!/usr/bin/env bash
# make demo: the whole job, unattended, on the local stack. A 1,000,000-row customers table
# is migrated (rename name -> full_name, add email_lower) while the demo application reads
# and writes it through Unleash flags; both gates are approved with the CLI after showing
# how a person would approve them in the Temporal UI. Ends with a summary; fails if the
# application saw a single error.
set -euo pipefail
cd "$(dirname "$0")/.."
# ZDM_DEMO_FAULT=1: the guarded switch, reverting by itself on a fault (make demo-fault).
[[ "${ZDM_DEMO_FAULT:-}" == 1 ]] && exec scripts/demo-fault.sh
ROWS="${ZDM_DEMO_ROWS:-1000000}"
FILE=examples/customers-full-name.yaml
NAME=customers-full-name
DUAL=customers-full-name-dual-write
READ=customers-full-name-read-new
STATS=.stack/demoapp-stats.json
# shellcheck source=scripts/demo-lib.sh
source scripts/demo-lib.sh

say "1/6 local stack: PostgreSQL, Temporal (UI http://127.0.0.1:8233), Unleash, zdm worker"
scripts/stack.sh up
eval "$(scripts/stack.sh env)"

say "2/6 demo table: public.customers with $ROWS rows"
demo_table "$ROWS"

say "3/6 demo application: reads and writes customers, flags decide the columns"
demo_app .stack/demoapp.log
sleep 2

say "4/6 migration: zdm start -f $FILE --wait"
demo_start

gate() {
	local g="$1"
	[[ $rc -eq 5 ]] || { echo "expected the migration to wait at gate $g (exit 5), got exit $rc" >&2; exit 1; }
	say "the migration waits at gate '$g'"
	cat <<MSG
A person approves it in the Temporal UI:
  open http://127.0.0.1:8233/namespaces/default/workflows/zdm-$NAME
  -> "Send a Signal" -> signal name: approve
  -> input: {"gate": "$g", "by": "<your name>", "comment": "looks good"}
or with the CLI, which this demo does now:
  bin/zdm approve $NAME --gate $g --by demo --comment "approved by make demo"
MSG
	bin/zdm status "$NAME"
	# A person looks at dashboards before deciding; the application runs in this mode meanwhile.
	sleep "${ZDM_DEMO_LOOK:-5}"
	bin/zdm approve "$NAME" --gate "$g" --by demo --comment "approved by make demo"
	set +e
	bin/zdm watch "$NAME"
	rc=$?
	set -e
}
gate read_new
gate contract
[[ $rc -eq 0 ]] || { echo "migration did not complete (exit $rc)" >&2; bin/zdm status "$NAME" || true; exit 1; }
END=$(date +%s)

say "5/6 the application keeps running on the new columns"
sleep 3
kill -TERM $APP
wait $APP || true
trap - EXIT

say "6/6 summary"
bin/zdm status "$NAME"
python3 - "$STATS" "$((END - START))" "$ROWS" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
print(f"migration:        {sys.argv[2]} s for {int(sys.argv[3]):,} rows")
print(f"demo app:         {s['ops']:,} operations ({s['reads']:,} reads, {s['updates']:,} updates, {s['inserts']:,} inserts)")
print(f"per mode:         {s.get('mode_ops')}")
print(f"demo app errors:  {s['errors']}")
print(f"worst latency:    {s['max_latency_ms']:.1f} ms (p99 {s['p99_ms']:.1f} ms)")
if s['errors']:
    print("first errors:", *s.get('first_errors') or [], sep="\n  ")
    sys.exit(1)
PY
psql -X -q "$DATABASE_URL" -c '\d public.customers'
