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
                (SELECT count(*) FROM tdm.mask) || ':' ||
                  coalesce((SELECT md5(secret) FROM tdm.mask_key), 'no key') || '/' ||
                (SELECT count(*) || ':' || coalesce(max(hash), '') FROM tdm.audit)"
before=$(psql -X -At -d "$source_db" -c "$catalog")
after=$(psql -X -At -d "$copy_db" -c "$catalog")
broken=$(psql -X -At -d "$copy_db" -c "SELECT count(*) FROM tdm.verify_audit()")
echo "catalog (environments/tables/releases/features/rules/masks:key/audit): before $before, after $after"
# (The regress suites leave a mask: its key must come back, or values
# masked after the restore would not match the ones masked before.)
if [ "$before" != "$after" ] || [ "$broken" != "0" ] || grep -q 'no key' <<<"$before"; then
  echo "dump/restore: FAILED (audit chain breaks: $broken)"
  exit 1
fi

# Sums of tables, compared between the source and the restored copy: each
# (name, statement) row of the query $2 gives a line "name=result".
sums_of() {
  psql -X -At -q -d "$1" -v list="$2" <<'SQL'
CREATE FUNCTION pg_temp.sums_of(list text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
  t record;
  sums text;
  result text := '';
BEGIN
  FOR t IN EXECUTE list LOOP
    EXECUTE t.statement INTO sums;
    result := result || t.name || '=' || sums || E'\n';
  END LOOP;
  RETURN result;
END
$$;
SELECT pg_temp.sums_of(:'list');
SQL
}

# Every table the extension dumps (pg_extension.extconfig: the run
# history, conflicts, decisions, key maps, snapshots...) comes back row for
# row: its rows' text, sorted, hashed (regclass columns print as names,
# which the restore keeps).
catalog_rows=$(cat <<'SQL'
SELECT c.oid::regclass::text AS name,
       format('SELECT count(*) || '':'' || md5(coalesce(string_agg(r::text, E''\n'' ORDER BY r::text), ''''))'
              ' FROM %s r', c.oid::regclass) AS statement
  FROM pg_extension e, unnest(e.extconfig) AS x(oid) JOIN pg_class c ON c.oid = x.oid
 WHERE e.extname = 'tdm' AND c.relkind = 'r' ORDER BY 1
SQL
)
rows_before=$(sums_of "$source_db" "$catalog_rows")
rows_after=$(sums_of "$copy_db" "$catalog_rows")
if [ "$rows_before" != "$rows_after" ] || ! grep -q '^tdm.key_map=[1-9]' <<<"$rows_before"; then
  echo "dump/restore: FAILED (tables tdm dumps differ after restore, or the story left no key map)"
  diff <(echo "$rows_before") <(echo "$rows_after") | sed 's/^/  /'
  exit 1
fi

# The row hashes of master's tables, which the snapshots' and locks'
# checksums add up, are the same in the restored database, where every
# type and enum label has another object id ("Order Lines" has an enum
# and an array column).
master_rows=$(cat <<'SQL'
SELECT format('master.%I', c.relname) AS name,
       format('SELECT count(*) || '':'' || coalesce(sum(tdm._row_hash(%s)), 0) FROM master.%I t',
              tdm._hash_args(m.rel), c.relname) AS statement
  FROM tdm.managed_table m JOIN pg_class c ON c.oid = m.rel
 WHERE to_regclass(format('master.%I', c.relname)) IS NOT NULL ORDER BY 1
SQL
)
hashes_before=$(sums_of "$source_db" "$master_rows")
hashes_after=$(sums_of "$copy_db" "$master_rows")
if [ "$hashes_before" != "$hashes_after" ] || ! grep -q '^master."Order Lines"=[1-9]' <<<"$hashes_before"; then
  echo "dump/restore: FAILED (row hashes of master differ after restore)"
  echo "  before: $hashes_before"
  echo "  after:  $hashes_after"
  exit 1
fi

# Restored without owners (pg_restore --no-owner), everything belongs to
# the restoring superuser: tdm_admin keeps what tdm granted it, and may
# read the sequences a dump of its own reads. (Not the environments'
# foreign tables: an owner's own grant is not dumped.)
noowner_db="${source_db}_noowner"
dropdb --if-exists "$noowner_db"
createdb "$noowner_db"
pg_restore --exit-on-error --no-owner -d "$noowner_db" "$dump"
denied=$(psql -X -At -d "$noowner_db" -c "
  SELECT string_agg(c.oid::regclass::text, ', ' ORDER BY 1) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
   WHERE n.nspname = 'tdm' AND CASE WHEN c.relkind = 'S' THEN NOT has_sequence_privilege('tdm_admin', c.oid, 'SELECT') END")
dropdb "$noowner_db"
if [ -n "$denied" ]; then
  echo "dump/restore: FAILED (restored with --no-owner, tdm_admin may not read: $denied)"
  exit 1
fi
echo "dump/restore: ok (catalog, every table tdm dumps, audit chain and row hashes intact; tdm_admin's sequence grants kept without owners)"
