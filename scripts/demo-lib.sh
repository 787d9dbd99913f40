# shellcheck shell=bash
# What the demos (scripts/demo.sh, scripts/demo-fault.sh) share, sourced by them. They set
# DUAL and READ (the flags' names), STATS (the demo app's stats file) and FILE (the
# migration) first.

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

# demo_table ROWS: public.customers afresh with ROWS rows, and both flags off. A previous
# demo leaves the table migrated and the flags in their final state.
demo_table() {
	bin/zdm-demoapp reset --dependents
	for f in "$DUAL" "$READ"; do
		curl -fsS -o /dev/null -X POST -H "Authorization: $UNLEASH_ADMIN_TOKEN" \
			"$UNLEASH_URL/api/admin/projects/default/features/$f/environments/${UNLEASH_ENVIRONMENT:-development}/off" 2>/dev/null || true
	done
	bin/zdm-demoapp seed --rows "$1"
}

# demo_app LOG [ARGS...]: starts the demo application in the background on the flags,
# with ARGS, its output in LOG; APP is its pid, killed when the script exits. Returns
# once the app has written its first stats.
demo_app() {
	local log="$1"
	shift
	rm -f "$STATS"
	bin/zdm-demoapp run --stats-file "$STATS" --dual-write-flag "$DUAL" --read-new-flag "$READ" "$@" >"$log" 2>&1 &
	APP=$!
	trap 'kill $APP 2>/dev/null || true' EXIT
	for _ in $(seq 60); do [[ -s "$STATS" ]] && break; sleep 0.5; done
	[[ -s "$STATS" ]] || { cat "$log"; echo "demo app did not start" >&2; exit 1; }
}

# demo_start: shows FILE and runs zdm start -f FILE --wait; START is when it began, rc
# its exit code.
demo_start() {
	cat "$FILE"
	START=$(date +%s)
	set +e
	bin/zdm start -f "$FILE" --wait
	rc=$?
	set -e
}
