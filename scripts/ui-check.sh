#!/usr/bin/env bash
# make ui-check: start the example migration on the local stack, approve its read_new gate
# from the real Temporal UI in headless Chromium, and check that the workflow moved on.
# Installs Debian's chromium and npm's playwright-core (into .stack/ui) when missing.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v chromium >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; }
mkdir -p .stack/ui
[[ -d .stack/ui/node_modules/playwright-core ]] || npm install --prefix .stack/ui --no-audit --no-fund playwright-core@1 >/dev/null
scripts/stack.sh up
eval "$(scripts/stack.sh env)"
NAME=customers-full-name
bin/zdm-demoapp reset --dependents
bin/zdm-demoapp seed --rows 100000
for f in customers-full-name-dual-write customers-full-name-read-new; do
	curl -fsS -o /dev/null -X POST -H "Authorization: $UNLEASH_ADMIN_TOKEN" \
		"$UNLEASH_URL/api/admin/projects/default/features/$f/environments/${UNLEASH_ENVIRONMENT:-development}/off" 2>/dev/null || true
done
set +e
bin/zdm start -f examples/customers-full-name.yaml --wait
rc=$?
set -e
[[ $rc -eq 5 ]] || { echo "expected the migration at gate read_new (exit 5), got $rc" >&2; exit 1; }
NODE_PATH=.stack/ui/node_modules node scripts/ui/approve-in-ui.js "zdm-$NAME" read_new ui-check
sleep 2
bin/zdm status "$NAME" --json | python3 -c '
import json, sys
p = json.load(sys.stdin)
p = p.get("progress", p)
aps = p.get("approvals") or []
assert any(a["gate"] == "read_new" and a["by"] == "ui-check" and a["via"] == "signal" for a in aps), aps
print("ui-check: the approve sent from the Temporal UI moved the gate; now", p["phase"], p.get("awaiting_gate", ""))'
bin/zdm reject "$NAME" --gate contract --by ui-check --reason "ui-check done"
