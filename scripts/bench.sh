#!/usr/bin/env bash
# Benchmarks: measures what DESIGN.md's targets promise, on each server configuration
# (SQLite + filesystem, SQLite + Garage, PostgreSQL + Garage).
#
#   scripts/bench.sh                  the full run
#   scripts/bench.sh --quick          fewer samples, 100 MiB instead of 1 GiB, 1,000 files:
#                                     a few minutes, to see that every row prints
#   scripts/bench.sh [--quick] FLAGS  more dbx-bench flags, e.g. --configs sqlite-fs,
#                                     --keep-work (see target/release/dbx-bench --help)
#   DBX_BENCH_DBX_BIN=PATH scripts/bench.sh ...
#                                     the client rows with another dbx binary (an older
#                                     build, to compare against)
#
# Builds the release dbx-server, dbx-bench and dbx; starts a private Garage with
# scripts/s3-server.sh (its own state dir and port, so another run's Garage is never
# touched) and makes a fresh database dbx_bench_<date>_<random> on the Postgres at
# DBX_BENCH_PG_ADMIN_URL (default postgres://postgres@127.0.0.1:5432/test; if none answers
# there, a private throwaway cluster from scripts/pg-server.sh). Both are removed at the
# end. dbx-bench starts dbx-server itself, as a child process on a fresh data dir per
# configuration, prints one table per configuration on stdout, and writes
# target/bench/bench-<date>.json (with the machine's cores and memory) and
# target/bench/latest.md. All traffic stays on 127.0.0.1.
#
# The bench measures; it does not pass or fail. It exits non-zero only when it cannot run.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { echo "bench.sh: $*" >&2; }

started=$(date +%s)
mkdir -p target/bench
bench_args=("$@")
run_id="$(date +%Y%m%d_%H%M%S)_$$"

# Nothing listens on it, and no socket still holds it: right after an earlier run, its
# Garage's connections linger in TIME_WAIT and a new Garage could not bind the port.
port_free() {
    ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null &&
        { ! command -v ss >/dev/null || [[ -z "$(ss -Htan "sport = :$1" 2>/dev/null)" ]]; }
}

# The first port from $1 on (stepping by 2) that is free together with the next one.
free_port_pair() {
    local p
    for ((p = $1; p < $1 + 200; p += 2)); do
        if port_free "$p" && port_free "$((p + 1))"; then
            echo "$p"
            return 0
        fi
    done
    return 1
}

garage_dir="${TMPDIR:-/tmp}/dbx-bench-garage-$run_id"
garage_port=""
garage_started=""
pg_admin="${DBX_BENCH_PG_ADMIN_URL:-postgres://postgres@127.0.0.1:5432/test}"
pg_db=""
own_pg_dir=""
own_pg_port=""

cleanup() {
    if [[ -n "$pg_db" ]]; then
        psql "$pg_admin" -Atqc "DROP DATABASE IF EXISTS $pg_db WITH (FORCE)" >/dev/null 2>&1 ||
            psql "$pg_admin" -Atqc "DROP DATABASE IF EXISTS $pg_db" >/dev/null 2>&1 ||
            say "warning: could not drop database $pg_db"
    fi
    if [[ -n "$own_pg_dir" ]]; then
        DBX_PG_STATE_DIR="$own_pg_dir" DBX_PG_PORT="$own_pg_port" \
            scripts/pg-server.sh stop >/dev/null 2>&1 || true
    fi
    if [[ -n "$garage_started" ]]; then
        DBX_S3_STATE_DIR="$garage_dir" DBX_S3_PORT="$garage_port" \
            scripts/s3-server.sh stop >/dev/null 2>&1 || true
    fi
}
trap cleanup EXIT

say "building release binaries: dbx-server, dbx-bench"
cargo build --release --quiet -p dbx-server -p dbx-bench

dbx_reason=""
say "building release binary: dbx"
if ! cargo build --release --quiet -p dbx 2>target/bench/dbx-build.log; then
    first_error="$(grep -m1 '^error' target/bench/dbx-build.log || true)"
    dbx_reason="the dbx client does not build (${first_error:-see target/bench/dbx-build.log})"
    say "$dbx_reason"
fi

# Garage, private to this run. Variables from the caller's environment are not used.
unset DBX_S3_ENDPOINT DBX_S3_REGION DBX_S3_ACCESS_KEY DBX_S3_SECRET_KEY DBX_S3_BUCKET \
    DBX_BENCH_GARAGE_PID DBX_BENCH_PG_URL
s3_reason=""
if ! garage_port="$(free_port_pair 39200)"; then
    s3_reason="no free port pair for Garage in 39200-39399"
elif DBX_S3_STATE_DIR="$garage_dir" DBX_S3_PORT="$garage_port" scripts/s3-server.sh start; then
    garage_started=1
    eval "$(DBX_S3_STATE_DIR="$garage_dir" scripts/s3-server.sh env)"
    # Garage's CPU time counts as the bench's own in the "other processes" figures.
    DBX_BENCH_GARAGE_PID="$(cat "$garage_dir/garage.pid" 2>/dev/null || true)"
    [[ -z "$DBX_BENCH_GARAGE_PID" ]] || export DBX_BENCH_GARAGE_PID
else
    s3_reason="Garage did not start (scripts/s3-server.sh start failed)"
fi
[[ -z "$s3_reason" ]] || say "$s3_reason"

# A fresh Postgres database for this run.
pg_reason=""
if ! command -v psql >/dev/null 2>&1; then
    pg_reason="psql is not installed"
elif ! psql "$pg_admin" -Atqc 'select 1' >/dev/null 2>&1; then
    say "no Postgres answers at $pg_admin: starting a private throwaway cluster"
    if own_pg_port="$(free_port_pair 55500)"; then
        own_pg_dir="${TMPDIR:-/tmp}/dbx-bench-postgres-$run_id"
        if DBX_PG_STATE_DIR="$own_pg_dir" DBX_PG_PORT="$own_pg_port" \
            DBX_TEST_DATABASE_URL="$pg_admin" scripts/pg-server.sh start; then
            pg_admin="$(DBX_PG_STATE_DIR="$own_pg_dir" scripts/pg-server.sh env |
                sed 's/^export DBX_TEST_DATABASE_URL=//')"
        else
            pg_reason="no Postgres at $pg_admin, and scripts/pg-server.sh could not start one"
        fi
    else
        pg_reason="no Postgres at $pg_admin, and no free port for a private one"
    fi
fi
if [[ -z "$pg_reason" ]]; then
    candidate="dbx_bench_${run_id}_$RANDOM"
    if psql "$pg_admin" -v ON_ERROR_STOP=1 -Atqc "CREATE DATABASE $candidate" >/dev/null; then
        pg_db="$candidate"
        export DBX_BENCH_PG_URL="${pg_admin%/*}/$pg_db"
        say "made database $pg_db"
    else
        pg_reason="cannot create a database on $pg_admin"
    fi
fi
[[ -z "$pg_reason" ]] || say "$pg_reason"

args=(--server-bin target/release/dbx-server --dbx-bin "${DBX_BENCH_DBX_BIN:-target/release/dbx}")
[[ -z "$dbx_reason" ]] || args+=(--dbx-unavailable "$dbx_reason")
[[ -z "$s3_reason" ]] || args+=(--s3-unavailable "$s3_reason")
[[ -z "$pg_reason" ]] || args+=(--pg-unavailable "$pg_reason")

status=0
target/release/dbx-bench "${args[@]}" "${bench_args[@]}" || status=$?

elapsed=$(($(date +%s) - started))
say "finished in $((elapsed / 60)) min $((elapsed % 60)) s, building included"
exit "$status"
