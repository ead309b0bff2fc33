#!/usr/bin/env bash
# Builds the scenario in the running cluster (libpq's PGHOST, PGPORT, PGUSER
# and PGPASSWORD say where): environment databases st1..stN holding the
# sample schema and its test data, and consolidation databases with
# CREATE EXTENSION tdm CASCADE, one postgres_fdw server and user mapping per
# environment (over loopback TCP) and a `staging` schema with the same
# tables and constraints. Deterministic by seed: tests, demo and benchmarks
# share it. Every database it builds is dropped first, if it exists.
#
#   build.sh [--envs N] [--rows N] [--shared F] [--differ F] [--exact F]
#            [--id-overlap F] [--users-only] [--release R] [--seed S]
#            [--env-prefix P] [--consolidation DB]...
#
#   --rows     users per environment (each with an account and 2 transactions)
#   --shared   fraction of users that are the same person in every environment
#   --differ   fraction of those whose attributes differ per environment
#   --exact    fraction of shared users that are exact duplicates (timestamps too)
#   --id-overlap  fraction of the other users whose ids collide across
#              environments (1: every sequence starts at 1)
#   --users-only  fill the users table only (benchmarks)
#   --env-prefix  environment databases are P1..PN (default st: st1..stN);
#              the servers keep the names st1..stN, each for database Pi
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"

envs=3 rows=100 shared=0.3 differ=0.3 exact=0.3 id_overlap=1 with_children=on release=R2 seed=42
env_prefix=st
consolidation=()
while [ $# -gt 0 ]; do
  case "$1" in
    --envs) envs="$2"; shift 2 ;;
    --rows) rows="$2"; shift 2 ;;
    --shared) shared="$2"; shift 2 ;;
    --differ) differ="$2"; shift 2 ;;
    --exact) exact="$2"; shift 2 ;;
    --id-overlap) id_overlap="$2"; shift 2 ;;
    --users-only) with_children=off; shift ;;
    --release) release="$2"; shift 2 ;;
    --seed) seed="$2"; shift 2 ;;
    --env-prefix) env_prefix="$2"; shift 2 ;;
    --consolidation) consolidation+=("$2"); shift 2 ;;
    *) echo "build.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
[ "$rows" -ge 1 ] || { echo "build.sh: --rows must be at least 1" >&2; exit 2; }
[ -n "$env_prefix" ] || { echo "build.sh: --env-prefix must not be empty" >&2; exit 2; }

psql_quiet() { psql -X -q -v ON_ERROR_STOP=1 "$@" >/dev/null; }

# Environments are independent: build them two at a time.
build_environment() {
  local i="$1" db="$env_prefix$1"
  dropdb --if-exists "$db"
  createdb "$db"
  psql_quiet -d "$db" -f "$here/schema.sql"
  psql_quiet -d "$db" -v env="$i" -v rows="$rows" -v shared="$shared" -v differ="$differ" \
    -v exact="$exact" -v id_overlap="$id_overlap" \
    -v with_children="$with_children" -v release="$release" -v seed="$seed" -f "$here/environment_data.sql"
}
pids=()
for i in $(seq 1 "$envs"); do
  build_environment "$i" &
  pids+=($!)
  if [ ${#pids[@]} -ge 2 ]; then wait "${pids[0]}" || exit 1; pids=("${pids[@]:1}"); fi
done
for pid in "${pids[@]}"; do wait "$pid" || exit 1; done

for db in "${consolidation[@]}"; do
  # --force: a tdm_spare worker may still be building a rollback's spares.
  dropdb --if-exists --force "$db"
  createdb "$db"
  psql_quiet -d "$db" -c "CREATE EXTENSION tdm CASCADE" -c "CREATE SCHEMA staging" \
    -c "SET search_path = staging" -f "$here/schema.sql"
  for i in $(seq 1 "$envs"); do
    # Values reach SQL as psql variables (:'name' quotes them as literals).
    psql_quiet -d "$db" -v server="st$i" -v host="${PGHOST:-localhost}" \
      -v port="${PGPORT:-5432}" -v dbname="$env_prefix$i" -v user="${PGUSER:-$(id -un)}" \
      -v password="${PGPASSWORD:-}" <<'SQL'
CREATE SERVER :"server" FOREIGN DATA WRAPPER postgres_fdw
  OPTIONS (host :'host', port :'port', dbname :'dbname', fetch_size '10000');
CREATE USER MAPPING FOR CURRENT_USER SERVER :"server"
  OPTIONS (user :'user', password :'password');
SQL
  done
done
