#!/usr/bin/env bash
# make bench: Google Benchmark of the core, then collection and detection
# against their baselines on 3 environments x users (default 1M rows each,
# 15% overlapping keys) in a throwaway cluster.
set -euo pipefail
cd "$(dirname "$0")/.."
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j2 --target tdm_bench >/dev/null
echo "== core (Google Benchmark)"
build/tdm_bench --benchmark_min_time=0.5
make -s -j2
$sudo make -s install
pg_virtualenv -t scripts/bench-db.sh "${TDM_BENCH_ROWS:-1000000}"
