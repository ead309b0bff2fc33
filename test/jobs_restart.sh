#!/usr/bin/env bash
# Jobs and the server's life: a job whose worker dies with a server restart
# is found `failed`, not `running`; with no background worker slot free,
# starting a job fails with a clear error naming max_worker_processes and
# leaves no job behind. Runs in the throwaway cluster after the other
# suites (it restarts the server twice); prints one "ok"/"not ok" line per
# check and writes "passed failed" to $2.
set -uo pipefail
db="$1"
counts="$2"
other_db="${3:-tdm_tap}"  # another database with tdm, not running jobs
. "$(dirname "$0")/checks.sh"
q() { psql -X -At -d "$db" -c "$1"; }
cluster="$(psql -X -At -d "$db" -c "SHOW cluster_name")"   # e.g. 15/regress
restart() { pg_ctlcluster "${cluster%%/*}" "${cluster#*/}" restart -m fast >/dev/null; }
wait_for() {  # bounded polling on a condition in $db
  for _ in $(seq 1 300); do
    [ "$(q "SELECT $1")" = "t" ] && return 0
    sleep 0.1
  done
  return 1
}

# Every table of st1: a consolidation is held in collection by whichever
# it reads first (tables other suites manage after R2 was tagged would
# fail it at once, before the restart this checks).
st1_tables="$(psql -X -At -d st1 -c "SELECT string_agg(format('%I', tablename), ', ')
                                        FROM pg_tables WHERE schemaname = 'public'")"

# A consolidation held in collection (st1's tables locked by another
# session), then the server restarts under it.
psql -X -q -d st1 -c "BEGIN; LOCK TABLE $st1_tables IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(300)" \
  >/dev/null 2>&1 &
holder=$!
wait_for "EXISTS (SELECT 1 FROM pg_locks l JOIN pg_database d ON d.oid = l.database
                   WHERE d.datname = 'st1' AND l.mode = 'AccessExclusiveLock' AND l.granted)"
run="$(q "SELECT tdm.consolidate('R2', wait => false)")"
job="$(q "SELECT job_id FROM tdm.run WHERE run_id = $run")"
check "the job runs in a worker before the restart" \
  "wait_for \"(SELECT status = 'running' FROM tdm.job WHERE job_id = $job)\" && echo t"
# Job ids are per database: another database's tdm.progress shows nothing
# of it (nor cancels it), this one's does.
check "tdm.progress shows the job in its own database" \
  "wait_for \"EXISTS (SELECT FROM tdm.progress WHERE job_id = $job)\" && echo t"
check "tdm.progress of another database does not show it" \
  "psql -X -At -d \"$other_db\" -c 'SELECT count(*) = 0 FROM tdm.progress'"
restart
wait "$holder" 2>/dev/null
check "after the restart the job is failed, not running" \
  "q \"SELECT tdm.wait_job($job, '30 s') = 'failed'\""
check "and says why" \
  "q \"SELECT error LIKE 'the job''s process (pid %) is gone%' FROM tdm.job WHERE job_id = $job\""

# No worker slot free: max_worker_processes = 1 (the logical replication
# launcher, when it runs, takes it; a held job takes it otherwise).
q "ALTER SYSTEM SET max_worker_processes = 1" >/dev/null
restart
psql -X -q -d st1 -c "BEGIN; LOCK TABLE $st1_tables IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(300)" \
  >/dev/null 2>&1 &
holder=$!
jobs_before="$(q "SELECT count(*) FROM tdm.job")"
error="" started=0
for _ in 1 2; do
  error="$(psql -X -At -d "$db" -c "SELECT tdm.consolidate('R2', wait => false)" 2>&1 >/dev/null)"
  [ -n "$error" ] && break
  started=$((started + 1))
done
echo "$error" | sed 's/^/# /'
names_setting="$(grep -q 'max_worker_processes' <<<"$error" && echo t)"
check "with no slot free the error names max_worker_processes" "echo $names_setting"
check "and no job is left behind by the refused call" \
  "q \"SELECT count(*) = $jobs_before + $started FROM tdm.job\""
kill "$holder" 2>/dev/null
q "ALTER SYSTEM RESET max_worker_processes" >/dev/null
restart
wait "$holder" 2>/dev/null
q "SELECT tdm.cancel_job(job_id) FROM tdm.job WHERE status IN ('queued', 'running')" >/dev/null 2>&1

# A database whose default isolation is REPEATABLE READ: its background
# jobs still read committed (a rollback waits for the spare worker, then
# reads what it committed), and a rollback called in a REPEATABLE READ
# transaction, whose changes would miss rows committed after its snapshot,
# is refused, saying how to call it.
q "ALTER DATABASE $db SET default_transaction_isolation = 'repeatable read'" >/dev/null
snap="$(q "SELECT tdm.snapshot('repeatable read check')")"
rolled="$(q "SELECT tdm.rollback($snap, wait => false)")"
check "a background rollback under a REPEATABLE READ default completes" \
  "PGOPTIONS='-c default_transaction_isolation=read\\ committed' q \"SELECT tdm.wait_job($rolled, '60 s') = 'completed'\""
snap="$(q "SELECT tdm.snapshot('repeatable read check 2')")"
refused="$(psql -X -At -d "$db" -c "SELECT tdm.rollback($snap)" 2>&1)"
check "one called in a REPEATABLE READ transaction is refused, with the way to call it" \
  "grep -q 'a REPEATABLE READ transaction does not see' <<<\"\$refused\" && grep -q 'wait => false' <<<\"\$refused\" && echo t"
q "ALTER DATABASE $db RESET default_transaction_isolation" >/dev/null

echo "$ok $bad" >"$counts"
[ "$bad" -eq 0 ]
