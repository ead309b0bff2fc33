#!/usr/bin/env bash
# Runs inside pg_virtualenv: two databases installing tdm at once, then
# builds the scenario and runs the pg_regress and pgTAP suites, the
# dump/restore check and the restart check. Writes "passed failed" per
# suite into $1/<suite>.count.
#
# Four consolidation databases, each with environment databases of its own
# (the servers are st1..st3 in all four), so that four sequences run side
# by side on the machine's cores: pg_regress's release story (tdm_regress on
# st1..st3), pg_regress keys (tdm_keys on ks1..ks3), pg_regress returning
# (tdm_returning on rt1..rt3, which need none of the scenario's rows) and
# pgTAP (tdm_tap on tp1..tp3).
set -uo pipefail
results="$1"
cd "$(dirname "$0")/.."

echo "-- two databases install tdm at once, in a cluster without its roles"
test/concurrent_install.sh "$results/install.count" || true

scenario() { test/scenario/build.sh --envs 3 --rows 1000 "$@"; }
scenario --consolidation tdm_regress &
regress_scenario=$!
scenario --env-prefix ks --consolidation tdm_keys || exit 1
wait "$regress_scenario" || exit 1
scenario --env-prefix tp --consolidation tdm_tap || exit 1
test/scenario/build.sh --envs 3 --rows 1 --env-prefix rt --consolidation tdm_returning || exit 1
psql -X -q -d tdm_tap -c "CREATE EXTENSION pgtap" || exit 1

# pg_regress of the tests $3.. in database $2, results in $results/$1.
regress() {
  local name="$1" db="$2"
  shift 2
  make -s installcheck TDM_REGRESS_DB="$db" REGRESS="$*" \
    EXTRA_REGRESS_OPTS="--outputdir=$results/$name" >"$results/$name.log" 2>&1
}

echo "-- pg_regress and pgTAP, side by side"
main_list="$(make -s --no-print-directory -f Makefile print-regress)"
[ -n "$main_list" ] || { echo "Makefile: REGRESS is empty" >&2; exit 1; }
regress regress tdm_regress $main_list &
regress_pid=$!
regress keys tdm_keys keys &
keys_pid=$!
regress returning tdm_returning returning &
returning_pid=$!
pg_prove -v -d tdm_tap test/pgtap/*.sql >"$results/pgtap.log" 2>&1 &
prove_pid=$!
wait "$regress_pid"
regress_status=$?
wait "$keys_pid"
keys_status=$?
wait "$returning_pid"
returning_status=$?
wait "$prove_pid"
prove_status=$?

echo "-- pg_regress"
regress_ok=0
regress_bad=0
# A run that failed without a failed test (it could not start, or died)
# counts as one failure; so does a test list that ran no test.
for run in regress:$regress_status keys:$keys_status returning:$returning_status; do
  name="${run%%:*}" status="${run#*:}"
  cat "$results/$name.log"
  [ -f "$results/$name/regression.diffs" ] && cat "$results/$name/regression.diffs"
  ok=$(grep -cE '\.\.\. ok' "$results/$name.log")
  bad=$(grep -cE '\.\.\. (FAILED|failed)' "$results/$name.log")
  if [ $((ok + bad)) -eq 0 ] || { [ "$status" -ne 0 ] && [ "$bad" -eq 0 ]; }; then
    echo "$name: pg_regress ended with status $status after $ok passed test(s)"
    bad=$((bad + 1))
  fi
  regress_ok=$((regress_ok + ok))
  regress_bad=$((regress_bad + bad))
done
echo "$regress_ok $regress_bad" >"$results/regress.count"

echo "-- pgTAP"
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
