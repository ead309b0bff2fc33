#!/usr/bin/env bash
# make demo: build and install tdm, then tell the release story so far in a
# throwaway cluster with three environment databases.
set -euo pipefail
cd "$(dirname "$0")/.."
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
make -s -j2
$sudo make -s install
LC_ALL=C.UTF-8 pg_virtualenv -t scripts/demo-story.sh
