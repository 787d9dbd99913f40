#!/usr/bin/env bash
# make bench: zdm's backfill beside one big UPDATE on the same kind of table, and zdm
# rehearse's prediction beside a full run, on the local stack's PostgreSQL.
# ZDM_BENCH_ROWS (default 1000000) and ZDM_BENCH_BATCH (10000) tune it. It also runs the
# contract's DDL under pgbench (BenchmarkContractUnderLoad; ZDM_BENCH_DDL=0 leaves it out). ZDM_BENCH_PGBENCH=1
# adds scripts/bench-pgbench.sh (zdm and pgroll under pgbench; make bench-pgbench alone).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/stack.sh up --deps >&2
eval "$(scripts/stack.sh env)"
echo "zdm bench: ${ZDM_BENCH_ROWS:-1000000} rows, batches of ${ZDM_BENCH_BATCH:-10000}" >&2
go test -run '^$' -bench 'BenchmarkBackfill|BenchmarkTriggerWrites' -benchtime 1x -benchmem -timeout 60m ./internal/pgexec/ | tee .stack/bench.txt
# zdm rehearse's prediction: the demo migration on a 10% sample vs the full run, each in
# a scratch database of its own (ZDM_BENCH_PAIRS pairs, default 3).
go test -run '^$' -bench 'BenchmarkRehearsalPrediction' -benchtime 1x -timeout 60m ./internal/rehearse/ | tee -a .stack/bench.txt
# The contract's DDL under pgbench -R 300 at several lock timeouts (needs pgbench;
# ZDM_BENCH_DDL=0 leaves it out, ZDM_BENCH_DDL_TIMEOUTS / _REPS / _SCALE tune it).
if [[ "${ZDM_BENCH_DDL:-1}" != 0 ]]; then
	go test -run '^$' -bench 'BenchmarkContractUnderLoad' -benchtime 1x -timeout 30m ./internal/pgexec/ | tee -a .stack/bench.txt
fi
# The application's waits on the backfill's row locks: zdm's batches beside two experiments
# (rows locked in key order first; SKIP LOCKED plus a later pass), issue 10 §1. About four
# minutes at its default size, so ZDM_BENCH_ROWLOCKS=1 adds it (ZDM_BENCH_ROWLOCKS_* tune it).
if [[ "${ZDM_BENCH_ROWLOCKS:-}" == 1 ]]; then
	ZDM_INTEGRATION=1 go test -run '^$' -bench 'BenchmarkRowLocks' -benchtime 1x -timeout 30m ./internal/pgexec/ | tee -a .stack/bench.txt
fi
if [[ "${ZDM_BENCH_PGBENCH:-}" == 1 ]]; then
	scripts/bench-pgbench.sh
fi
