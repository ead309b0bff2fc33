#!/usr/bin/env bash
# Runs inside pg_virtualenv: builds the scenario, then the pg_regress and
# pgTAP suites and the dump/restore check. Writes "passed failed" per suite
# into $1/<suite>.count.
set -uo pipefail
results="$1"
cd "$(dirname "$0")/.."

test/scenario/build.sh --envs 3 --rows 1000 --consolidation tdm_regress \
  --consolidation tdm_tap || exit 1
psql -X -q -d tdm_tap -c "CREATE EXTENSION pgtap" || exit 1

echo "-- pg_regress"
make -s installcheck TDM_REGRESS_DB=tdm_regress 2>&1 | tee "$results/regress.log"
regress_ok=$(grep -cE '\.\.\. ok' "$results/regress.log")
regress_bad=$(grep -cE '\.\.\. (FAILED|failed)' "$results/regress.log")
[ -f regression.diffs ] && cat regression.diffs
[ $((regress_ok + regress_bad)) -gt 0 ] || regress_bad=1
echo "$regress_ok $regress_bad" >"$results/regress.count"

echo "-- pgTAP"
pg_prove -v -d tdm_tap test/pgtap/*.sql >"$results/pgtap.log" 2>&1
prove_status=$?
grep -E '^(not ok|#)' "$results/pgtap.log"
tail -n 3 "$results/pgtap.log"
tap_ok=$(grep -cE '^ok [0-9]+' "$results/pgtap.log")
tap_bad=$(grep -cE '^not ok [0-9]+' "$results/pgtap.log")
# A file that died or planned otherwise fails without a "not ok" line.
[ "$prove_status" -ne 0 ] && [ "$tap_bad" -eq 0 ] && tap_bad=1
echo "$tap_ok $tap_bad" >"$results/pgtap.count"

echo "-- dump and restore"
if test/dump_restore.sh tdm_regress; then
  echo "1 0" >"$results/dump.count"
else
  echo "0 1" >"$results/dump.count"
fi

echo "-- jobs across a restart and without worker slots"
test/jobs_restart.sh tdm_regress "$results/restart.count" || true
