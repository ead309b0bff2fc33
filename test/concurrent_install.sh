#!/usr/bin/env bash
# CREATE EXTENSION tdm in two databases at once, in a cluster that has no
# tdm role yet: both create the cluster-wide roles, and the second must
# take the first's, not fail on them. Runs first in the throwaway cluster
# (any tdm role already there skips it); prints one "ok"/"not ok" line per
# check and writes "passed failed" to $1.
set -uo pipefail
counts="$1"
. "$(dirname "$0")/checks.sh"
q() { psql -X -At -d "$1" -c "$2"; }

roles="$(q postgres "SELECT count(*) FROM pg_roles WHERE rolname IN ('tdm_admin', 'tdm_reviewer', 'tdm_auditor')")"
case "$roles" in
  0) ;;
  [1-3])
    echo "ok - concurrent installs # SKIP the cluster has tdm's roles already"
    echo "1 0" >"$counts"
    exit 0 ;;
  *)
    echo "not ok - the cluster's roles could not be read: $roles"
    echo "0 1" >"$counts"
    exit 1 ;;
esac
for db in tdm_install_a tdm_install_b; do
  dropdb --if-exists "$db" && createdb "$db"
done
# The first holds its new roles uncommitted while the second installs.
psql -X -q -d tdm_install_a -v ON_ERROR_STOP=1 \
  -c "BEGIN" -c "CREATE EXTENSION tdm CASCADE" -c "SELECT pg_sleep(3)" -c "COMMIT" \
  >"$counts.first" 2>&1 &
first=$!
for _ in $(seq 1 100); do
  [ "$(q postgres "SELECT EXISTS (SELECT FROM pg_stat_activity WHERE datname = 'tdm_install_a'
                                   AND query = 'SELECT pg_sleep(3)')")" = t ] && break
  sleep 0.05
done
second_output="$(psql -X -q -d tdm_install_b -v ON_ERROR_STOP=1 -c "CREATE EXTENSION tdm CASCADE" 2>&1)"
second_status=$?
wait "$first"
first_status=$?
check "the first install, its roles held open, succeeds" "[ $first_status -eq 0 ] && echo t"
check "the second install, at the same time, succeeds" "[ $second_status -eq 0 ] && echo t"
[ "$first_status" -eq 0 ] || sed 's/^/# /' "$counts.first"
[ "$second_status" -eq 0 ] || echo "$second_output" | sed 's/^/# /'
has_tdm() { q "$1" "SELECT count(*) = 1 FROM pg_extension WHERE extname = 'tdm'"; }
check "each database has tdm, and the cluster the three roles once" \
  "[ \"\$(has_tdm tdm_install_a)\" = t ] && [ \"\$(has_tdm tdm_install_b)\" = t ] &&
   q postgres \"SELECT count(*) = 3 FROM pg_roles WHERE rolname IN ('tdm_admin', 'tdm_reviewer', 'tdm_auditor')\""
check "the roles keep their comments" \
  "q postgres \"SELECT shobj_description(oid, 'pg_authid') = 'tdm: setup, consolidate, promote, deploy, rollback' FROM pg_roles WHERE rolname = 'tdm_admin'\""
rm -f "$counts.first"
dropdb tdm_install_a && dropdb tdm_install_b
echo "$ok $bad" >"$counts"
