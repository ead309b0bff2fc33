#!/usr/bin/env bash
# Runs inside pg_virtualenv: builds three environments and a consolidation
# database, then walks through what tdm does so far (scripts/demo.sql).
set -euo pipefail
cd "$(dirname "$0")/.."
echo "== Building environments st1..st3 (1000 users each) and consolidation database tdm_demo"
test/scenario/build.sh --envs 3 --rows 1000 --shared 0.3 --differ 0.3 \
  --consolidation tdm_demo 2>&1 | grep -v "does not exist, skipping" || true
# (The report's html page goes to a directory of its own.)
report_dir=$(mktemp -d)
psql -X -q -v ON_ERROR_STOP=1 -v report_html="$report_dir/tdm-report-R2.html" -d tdm_demo -f scripts/demo.sql
