#!/usr/bin/env bash
# Runs inside pg_virtualenv: builds the benchmark scenario, runs bench/*.sql.
set -euo pipefail
cd "$(dirname "$0")/.."
rows="$1"
echo "== building 3 environments x $rows users (15% overlapping keys)"
start=$(date +%s)
test/scenario/build.sh --envs 3 --rows "$rows" --shared 0.15 --id-overlap 0 --differ 0.3 \
  --users-only --consolidation tdm_bench 2>&1 | grep -v "does not exist, skipping" || true
echo "   built in $(( $(date +%s) - start )) s"
psql -X -q -d tdm_bench -f bench/collect_detect.sql

# Consolidation end to end: users, accounts and transactions. The
# target's case first, at the issue's scale (default 1M users per
# environment, 15% overlapping keys, all auto-resolvable); then every
# sequence starting at 1 in each environment, most rows re-keyed (default
# 100k users: ten times the conflicts and members per row); then a small
# scenario (10k users, consolidated once, not measured) for the snapshot
# and rollback benchmarks of master.
consolidate() {  # users, id overlap, psql variables for bench/consolidate.sql
  local users="$1" overlap="$2"
  shift 2
  echo
  echo "== building 3 environments x $users users with accounts and transactions (15% shared, id overlap $overlap)"
  start=$(date +%s)
  test/scenario/build.sh --envs 3 --rows "$users" --shared 0.15 --id-overlap "$overlap" --differ 0.3 \
    --consolidation tdm_bench_consolidate 2>&1 | grep -v "does not exist, skipping" || true
  echo "   built in $(( $(date +%s) - start )) s"
  psql -X -q -d tdm_bench_consolidate "$@" -f bench/consolidate.sql
}
consolidate "${TDM_BENCH_CONSOLIDATE_ROWS:-1000000}" 0
consolidate "${TDM_BENCH_COLLIDING_ROWS:-100000}" 1 -v indexed=0
consolidate "${TDM_BENCH_MASTER_BASE_ROWS:-10000}" 0 -v runs=0

# Snapshots and rollback of master, on that scenario's data.
psql -X -q -d tdm_bench_consolidate -f bench/master.sql
# Master grown to ~4 x TDM_BENCH_MASTER_USERS rows, then 4 times that:
# snapshot and rollback at both sizes, and a pg_dump -Fc + pg_restore of
# master (into an empty database) at the first as the baseline.
musers="${TDM_BENCH_MASTER_USERS:-250000}"
echo
echo "== master with $musers synthetic users, accounts and transactions"
psql -X -q -d tdm_bench_consolidate -v users="$musers" -f bench/master_scale.sql
dump="$(mktemp -d)/master.dump"
start=$(date +%s%N)
pg_dump -Fc -n master -f "$dump" tdm_bench_consolidate
createdb tdm_bench_restore
pg_restore -d tdm_bench_restore "$dump"
restore_ms=$(( ($(date +%s%N) - start) / 1000000 ))
rm -rf "$(dirname "$dump")"
psql -X -q -d tdm_bench_consolidate -v ms="$restore_ms" \
  <<<"INSERT INTO bench_scale SELECT max(rows), 'pg_dump -Fc + pg_restore', :ms FROM bench_scale;"
echo "== master with $((4 * musers)) synthetic users"
psql -X -q -d tdm_bench_consolidate -v users="$((4 * musers))" -f bench/master_scale.sql
psql -X -q -d tdm_bench_consolidate -f bench/master_report.sql
