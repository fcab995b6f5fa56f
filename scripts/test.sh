#!/usr/bin/env bash
# Runs every test of the workspace, with the real services they need: Garage (S3) from
# scripts/s3-server.sh and PostgreSQL from scripts/pg-server.sh, both installed and
# started here when missing. The HTTP suite runs once per backend combination.
#
# Under CI=true a backend that cannot be reached fails the run: no test skips silently.
set -euo pipefail
cd "$(dirname "$0")/.."

export CI="${CI:-false}"
# The seeded sync simulation replays the same 1,000 seeds on every run here, so that a run
# fails for a change, not for the seeds it drew; `cargo test` alone explores new ones.
export DBX_SYNC_REAL_START="${DBX_SYNC_REAL_START:-0}"
cleanup() {
    scripts/s3-server.sh stop >/dev/null 2>&1 || true
    scripts/pg-server.sh stop >/dev/null 2>&1 || true
}
trap cleanup EXIT

scripts/s3-server.sh start
eval "$(scripts/s3-server.sh env)"
# Each test picks its blob store itself (DBX_TEST_BLOBS); servers that tests start as child
# processes keep their embedded default unless a test says otherwise.
unset DBX_BLOB_STORE
scripts/pg-server.sh start
eval "$(scripts/pg-server.sh env)"

# Redis for the shared rate-limit test (server/tests/shared_limits.rs).
if ! (exec 3<>/dev/tcp/127.0.0.1/6379) 2>/dev/null; then
    if ! command -v redis-server >/dev/null 2>&1 && [[ $(id -u) == 0 ]]; then
        apt-get update -qq >/dev/null
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null
    fi
    if command -v redis-server >/dev/null 2>&1; then
        redis-server --port 6379 --bind 127.0.0.1 --save '' --daemonize yes >/dev/null
    fi
fi

cargo build --workspace --all-targets --quiet

echo "== every test: SQLite + filesystem store (the embedded default), S3 contract on Garage"
cargo test --workspace --quiet

echo "== the share page in headless Chromium"
scripts/share-page-test.sh

echo "== the OpenAPI document: validated, and schemathesis against a dbx-server process"
scripts/openapi-test.sh

# The HTTP suites again on the real alternatives of DESIGN.md.
http_suites=()
for f in server/tests/*.rs; do
    name=$(basename "$f" .rs)
    case "$name" in
    blob_store | repository | migrations | crash | pg_processes | upgrade_sessions | outage) ;; # backend-specific on their own
    crash_loop | failpoints) ;; # below, on each backend
    process_hardening | connections | shared_limits | openapi) ;; # about the process, its sockets, Redis or the document, not the backends
    tus_process) ;; # its own process on Garage: run once, in the first run above
    *) http_suites+=(--test "$name") ;;
    esac
done

echo "== HTTP suites: SQLite + S3 (Garage)"
DBX_TEST_BLOBS=s3 cargo test -p dbx-server --quiet "${http_suites[@]}"

echo "== HTTP suites: PostgreSQL + S3 (Garage)"
DBX_TEST_DATABASE=postgres DBX_TEST_BLOBS=s3 cargo test -p dbx-server --quiet "${http_suites[@]}"

echo "== crash loop: 20 rounds of SIGKILL under concurrent writers on each backend combination"
for backend in sqlite-fs sqlite-s3 pg-s3; do
    DBX_CRASH_ROUNDS=20 DBX_CRASH_BACKEND=$backend cargo test -p dbx-server --quiet --test crash_loop
done

echo "== failpoints: each database and blob call of the write paths fails in turn"
cargo test -p dbx-server --features failpoints --quiet --test failpoints
DBX_TEST_DATABASE=postgres DBX_TEST_BLOBS=s3 \
    cargo test -p dbx-server --features failpoints --quiet --test failpoints

echo "== WebDAV with stock clients (litmus, rclone) against a dbx-server process: SQLite + files"
env -u DBX_DATABASE_URL -u DBX_BLOB_STORE scripts/webdav-test.sh

echo "== resumable uploads with a stock tus client (tuspy), interrupted and resumed: SQLite + files"
env -u DBX_DATABASE_URL -u DBX_BLOB_STORE scripts/tus-test.sh
