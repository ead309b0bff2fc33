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
