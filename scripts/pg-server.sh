#!/usr/bin/env bash
# A PostgreSQL server for the tests.
#
#   scripts/pg-server.sh start   use the server at DBX_TEST_DATABASE_URL if one answers;
#                                else start a throwaway cluster (initdb/pg_ctl) in a temp
#                                folder, installing Debian's postgresql first when it is
#                                missing and we run as root
#   scripts/pg-server.sh env     print `export DBX_TEST_DATABASE_URL=…`
#   scripts/pg-server.sh stop    stop the throwaway cluster, if this script started one
set -euo pipefail

DEFAULT_URL="postgres://postgres@127.0.0.1:5432/test"
STATE_DIR="${DBX_PG_STATE_DIR:-${TMPDIR:-/tmp}/dbx-postgres}"
PORT="${DBX_PG_PORT:-55432}"
OWN_URL="postgres://postgres@127.0.0.1:$PORT/test"

say() { echo "pg-server.sh: $*" >&2; }
die() { say "$*"; exit 1; }

answers() {
    psql "$1" -Atqc 'select 1' >/dev/null 2>&1
}

pg_bin() {
    local d
    for d in /usr/lib/postgresql/*/bin; do
        [[ -x "$d/initdb" ]] && { echo "$d"; return 0; }
    done
    command -v initdb >/dev/null 2>&1 && { dirname "$(command -v initdb)"; return 0; }
    return 1
}

ensure_installed() {
    pg_bin >/dev/null && command -v psql >/dev/null && return 0
    [[ $(id -u) -eq 0 ]] || die "PostgreSQL is not installed and we are not root to install it"
    say "installing Debian's postgresql"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
}

start_own() {
    ensure_installed
    local bin runas=()
    bin="$(pg_bin)" || die "initdb not found"
    mkdir -p "$STATE_DIR"
    # initdb refuses to run as root: use the postgres system user when we are root.
    if [[ $(id -u) -eq 0 ]]; then
        id postgres >/dev/null 2>&1 || useradd --system --no-create-home postgres
        chown -R postgres "$STATE_DIR"
        runas=(runuser -u postgres --)
    fi
    if [[ ! -f "$STATE_DIR/data/PG_VERSION" ]]; then
        "${runas[@]}" "$bin/initdb" -D "$STATE_DIR/data" -U postgres --auth=trust >/dev/null
    fi
    "${runas[@]}" "$bin/pg_ctl" -D "$STATE_DIR/data" -l "$STATE_DIR/log" -w \
        -o "-p $PORT -k $STATE_DIR -c listen_addresses=127.0.0.1" start >/dev/null
    psql "postgres://postgres@127.0.0.1:$PORT/postgres" -Atqc 'create database test' >/dev/null 2>&1 || true
    answers "$OWN_URL" || die "the throwaway cluster did not come up (log: $STATE_DIR/log)"
    echo "$OWN_URL" >"$STATE_DIR/url"
    say "started a throwaway cluster at $OWN_URL"
}

url() {
    if [[ -f "$STATE_DIR/url" ]]; then cat "$STATE_DIR/url"; else echo "${DBX_TEST_DATABASE_URL:-$DEFAULT_URL}"; fi
}

case "${1:-}" in
start)
    if answers "$(url)"; then
        say "using $(url)"
    else
        start_own
    fi
    ;;
env)
    echo "export DBX_TEST_DATABASE_URL=$(url)"
    ;;
stop)
    if [[ -f "$STATE_DIR/url" ]]; then
        bin="$(pg_bin)"
        runas=()
        [[ $(id -u) -eq 0 ]] && runas=(runuser -u postgres --)
        "${runas[@]}" "$bin/pg_ctl" -D "$STATE_DIR/data" -m fast stop >/dev/null || true
        rm -rf "$STATE_DIR"
    fi
    ;;
*)
    echo "usage: $0 start|env|stop" >&2
    exit 2
    ;;
esac
