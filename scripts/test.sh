#!/usr/bin/env bash
# make test: unit tests (GoogleTest through ctest), build and install tdm,
# then, in a throwaway cluster, two installs at once, pg_regress, pgTAP, the
# dump/restore check and the restart check against real environment
# databases (scripts/db-suites.sh). Ends with "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"

results="$(mktemp -d -t tdm-test.XXXXXX)"
chmod 755 "$results"
passed=0
failed=0

echo "== unit tests (src/core, GoogleTest)"
if cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >"$results/cmake.log" 2>&1 &&
   cmake --build build -j2 >>"$results/cmake.log" 2>&1; then
  (cd build && ctest --output-on-failure) | tee "$results/ctest.log"
  summary=$(grep -E 'tests passed, [0-9]+ tests? failed out of [0-9]+' "$results/ctest.log")
  total=$(sed -E 's/.* out of ([0-9]+).*/\1/' <<<"$summary")
  bad=$(sed -E 's/.*passed, ([0-9]+) tests? failed.*/\1/' <<<"$summary")
  passed=$((passed + ${total:-0} - ${bad:-0}))
  failed=$((failed + ${bad:-1}))
else
  cat "$results/cmake.log"
  echo "unit tests: build failed"
  failed=$((failed + 1))
fi

echo "== build and install the extension"
if make -s -j2 && $sudo make -s install; then
  echo "== database suites (throwaway cluster: concurrent install, pg_regress, pgTAP, dump/restore, restart)"
  # (Worker slots for the jobs of three suites at once, and their parallel
  # queries: the default 8 could run out, which a job reports as an error.
  # One locale on every machine: the expected outputs sort as C.UTF-8 does.)
  LC_ALL=C.UTF-8 pg_virtualenv -t -o max_worker_processes=32 scripts/db-suites.sh "$results"
  for suite in install regress pgtap dump restart; do
    if [ -f "$results/$suite.count" ]; then
      read -r ok bad <"$results/$suite.count"
      passed=$((passed + ok))
      failed=$((failed + bad))
    else
      echo "$suite: did not run"
      failed=$((failed + 1))
    fi
  done
else
  echo "build failed"
  failed=$((failed + 1))
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
