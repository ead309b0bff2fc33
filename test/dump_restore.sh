#!/usr/bin/env bash
# pg_dump keeps tdm's catalog: dump the consolidation database $1, restore
# it into a new database and compare the catalog and the audit chain.
set -euo pipefail
source_db="$1"
copy_db="${source_db}_restored"
dump="$(mktemp -t tdm-dump.XXXXXX)"
trap 'rm -f "$dump"' EXIT

pg_dump -Fc -d "$source_db" -f "$dump"
dropdb --if-exists "$copy_db"
createdb "$copy_db"
pg_restore --exit-on-error -d "$copy_db" "$dump"

catalog="SELECT (SELECT count(*) FROM tdm.environment) || '/' ||
                (SELECT count(*) FROM tdm.managed_table) || '/' ||
                (SELECT count(*) FROM tdm.release) || '/' ||
                (SELECT count(*) FROM tdm.feature) || '/' ||
                (SELECT count(*) FROM tdm.rule) || '/' ||
                (SELECT count(*) || ':' || coalesce(max(hash), '') FROM tdm.audit)"
before=$(psql -X -At -d "$source_db" -c "$catalog")
after=$(psql -X -At -d "$copy_db" -c "$catalog")
broken=$(psql -X -At -d "$copy_db" -c "SELECT count(*) FROM tdm.verify_audit()")
echo "catalog (environments/tables/releases/features/rules/audit): before $before, after $after"
if [ "$before" != "$after" ] || [ "$broken" != "0" ] || [ "$before" = "0/0/0/0/0/0:" ]; then
  echo "dump/restore: FAILED (audit chain breaks: $broken)"
  exit 1
fi
echo "dump/restore: ok (catalog and audit chain intact)"
