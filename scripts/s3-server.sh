#!/usr/bin/env bash
# A real S3 server for the tests: Garage 2.5.0, single node, on 127.0.0.1.
#
#   scripts/s3-server.sh start    install Garage if missing, start it (idempotent), wait until ready
#   scripts/s3-server.sh env      print the DBX_S3_* exports and DBX_BLOB_STORE=s3://<bucket>, so that
#                                 eval "$(scripts/s3-server.sh env)"; dbx-server serve   runs on Garage
#   scripts/s3-server.sh stop     stop it and remove its state
#   scripts/s3-server.sh status   say whether it runs
#
# Settings (environment):
#   DBX_S3_STATE_DIR   where config, data, metadata, log, pid and key live
#                      (default ${TMPDIR:-/tmp}/dbx-garage)
#   DBX_S3_PORT        S3 API port on 127.0.0.1 (default 3900)
#   DBX_S3_RPC_PORT    Garage's internal RPC port on 127.0.0.1 (default DBX_S3_PORT + 1)
#   GARAGE_BIN         the garage binary to use (default: garage on PATH, then ~/.cargo/bin/garage,
#                      else `cargo install garage --version 2.5.0 --locked`, which takes ~10 minutes)
set -euo pipefail

GARAGE_VERSION="2.5.0"
BUCKET="dbx-test"
REGION="us-east-1" # dbx-server's default --s3-region; Garage rejects signatures for another one
STATE_DIR="${DBX_S3_STATE_DIR:-${TMPDIR:-/tmp}/dbx-garage}"
S3_PORT="${DBX_S3_PORT:-3900}"
RPC_PORT="${DBX_S3_RPC_PORT:-$((S3_PORT + 1))}"
START_TIMEOUT=60

CONFIG="$STATE_DIR/garage.toml"
PID_FILE="$STATE_DIR/garage.pid"
LOG_FILE="$STATE_DIR/garage.log"
CREDS_FILE="$STATE_DIR/credentials.env"

die() {
    echo "s3-server.sh: $*" >&2
    exit 1
}

say() {
    echo "s3-server.sh: $*" >&2
}

# 64 hex characters of randomness (N bytes -> 2N hex characters).
random_hex() {
    od -An -tx1 -N"$1" /dev/urandom | tr -d ' \n'
}

find_garage() {
    if [[ -n "${GARAGE_BIN:-}" ]]; then
        [[ -x "$GARAGE_BIN" ]] || die "GARAGE_BIN=$GARAGE_BIN is not an executable"
        echo "$GARAGE_BIN"
    elif command -v garage >/dev/null 2>&1; then
        command -v garage
    elif [[ -x "$HOME/.cargo/bin/garage" ]]; then
        echo "$HOME/.cargo/bin/garage"
    else
        return 1
    fi
}

ensure_garage() {
    local bin
    if ! bin="$(find_garage)"; then
        command -v cargo >/dev/null 2>&1 || die "garage is not installed and cargo is not on PATH to install it"
        say "installing garage $GARAGE_VERSION with cargo (this takes about 10 minutes)..."
        cargo install garage --version "$GARAGE_VERSION" --locked >&2
        bin="$(find_garage)" || die "cargo install garage finished but no garage binary was found"
    fi
    if ! "$bin" --version 2>/dev/null | grep -q "$GARAGE_VERSION"; then
        say "warning: $bin is not Garage $GARAGE_VERSION ($("$bin" --version 2>/dev/null | head -n1))"
    fi
    echo "$bin"
}

# The pid of our running Garage, or nothing.
running_pid() {
    [[ -f "$PID_FILE" ]] || return 1
    local pid
    pid="$(cat "$PID_FILE")"
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    kill -0 "$pid" 2>/dev/null || return 1
    # Make sure the pid was not recycled by something else.
    if [[ -r "/proc/$pid/cmdline" ]] && ! tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q garage; then
        return 1
    fi
    echo "$pid"
}

port_open() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

write_config() {
    local rpc_secret
    rpc_secret="$(random_hex 32)"
    cat >"$CONFIG" <<EOF
# Written by scripts/s3-server.sh: a throw-away single-node Garage for dbx's tests.
metadata_dir = "$STATE_DIR/meta"
data_dir = "$STATE_DIR/data"
# LMDB, Garage's recommended engine: its SQLite one answered 503 "database is locked"
# under a 1 GiB upload in the benchmark.
db_engine = "lmdb"
replication_factor = 1

rpc_bind_addr = "127.0.0.1:$RPC_PORT"
rpc_public_addr = "127.0.0.1:$RPC_PORT"
rpc_secret = "$rpc_secret"

[s3_api]
s3_region = "$REGION"
api_bind_addr = "127.0.0.1:$S3_PORT"
EOF
    chmod 600 "$CONFIG"
}

write_credentials() {
    # Garage's own key format: GK + 24 hex digits, and a 64-hex-digit secret.
    local key_id secret
    key_id="GK$(random_hex 12)"
    secret="$(random_hex 32)"
    umask 077
    cat >"$CREDS_FILE" <<EOF
DBX_S3_ENDPOINT=http://127.0.0.1:$S3_PORT
DBX_S3_REGION=$REGION
DBX_S3_ACCESS_KEY=$key_id
DBX_S3_SECRET_KEY=$secret
DBX_S3_BUCKET=$BUCKET
EOF
}

cmd_start() {
    local pid
    if pid="$(running_pid)"; then
        say "garage already running (pid $pid, state in $STATE_DIR)"
        return 0
    fi
    local bin
    bin="$(ensure_garage)"

    # A state dir without its key cannot be reused (the key lives in Garage's metadata).
    if [[ -d "$STATE_DIR" && ! -f "$CREDS_FILE" ]]; then
        rm -rf "$STATE_DIR"
    fi
    mkdir -p "$STATE_DIR/meta" "$STATE_DIR/data"
    [[ -f "$CONFIG" ]] || write_config
    [[ -f "$CREDS_FILE" ]] || write_credentials

    if port_open "$S3_PORT"; then
        die "127.0.0.1:$S3_PORT is already taken by another process; set DBX_S3_PORT"
    fi
    if port_open "$RPC_PORT"; then
        die "127.0.0.1:$RPC_PORT is already taken by another process; set DBX_S3_RPC_PORT"
    fi

    # shellcheck disable=SC1090
    source "$CREDS_FILE"
    GARAGE_DEFAULT_ACCESS_KEY="$DBX_S3_ACCESS_KEY" \
        GARAGE_DEFAULT_SECRET_KEY="$DBX_S3_SECRET_KEY" \
        GARAGE_DEFAULT_BUCKET="$BUCKET" \
        RUST_LOG="${GARAGE_LOG:-warn,garage=info}" \
        nohup "$bin" -c "$CONFIG" server --single-node --default-bucket \
        </dev/null >>"$LOG_FILE" 2>&1 &
    pid=$!
    echo "$pid" >"$PID_FILE"

    # The default key and bucket are created before the S3 API starts listening, so an open
    # port means the bucket is usable.
    local waited=0
    until port_open "$S3_PORT"; do
        if ! kill -0 "$pid" 2>/dev/null; then
            rm -f "$PID_FILE"
            tail -n 20 "$LOG_FILE" >&2 || true
            die "garage exited during start-up (log: $LOG_FILE)"
        fi
        if ((waited >= START_TIMEOUT * 10)); then
            tail -n 20 "$LOG_FILE" >&2 || true
            die "garage did not open 127.0.0.1:$S3_PORT within ${START_TIMEOUT}s (pid $pid, log: $LOG_FILE)"
        fi
        sleep 0.1
        waited=$((waited + 1))
    done
    say "garage running (pid $pid): S3 at http://127.0.0.1:$S3_PORT, bucket $BUCKET, state in $STATE_DIR"
}

cmd_env() {
    [[ -f "$CREDS_FILE" ]] || die "no Garage state in $STATE_DIR: run '$0 start' first"
    local line
    while IFS= read -r line; do
        [[ -n "$line" ]] && echo "export $line"
    done <"$CREDS_FILE"
    echo "export DBX_BLOB_STORE=s3://$BUCKET"
}

cmd_stop() {
    local pid
    if pid="$(running_pid)"; then
        kill "$pid" 2>/dev/null || true
        local waited=0
        while kill -0 "$pid" 2>/dev/null; do
            if ((waited >= 100)); then
                say "garage (pid $pid) did not stop within 10s: killing it"
                kill -9 "$pid" 2>/dev/null || true
                break
            fi
            sleep 0.1
            waited=$((waited + 1))
        done
        say "garage stopped (pid $pid)"
    else
        say "garage was not running"
    fi
    rm -rf "$STATE_DIR"
}

cmd_status() {
    local pid
    if pid="$(running_pid)"; then
        echo "running (pid $pid, state in $STATE_DIR)"
    else
        echo "not running"
        return 1
    fi
}

case "${1:-}" in
start) cmd_start ;;
stop) cmd_stop ;;
env) cmd_env ;;
status) cmd_status ;;
*)
    echo "usage: $0 start|stop|env|status" >&2
    exit 2
    ;;
esac
