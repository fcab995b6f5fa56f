#!/usr/bin/env bash
# The share page in a real browser: starts dbx-server on a fresh data dir, shares a file,
# and lets headless Chromium (Debian's `chromium`, driven by playwright-core from npm) open
# the link, check the page, click the download button and compare the bytes.
# Installs chromium and playwright-core when missing.
#
#   scripts/share-page-test.sh [SCREENSHOT.png]
#
# DBX_SERVER_BIN overrides the server binary (default: the workspace's debug build).
set -euo pipefail
cd "$(dirname "$0")/.."

say() { echo "share-page-test: $*" >&2; }
die() {
    say "$*"
    exit 1
}

if ! command -v chromium >/dev/null 2>&1; then
    say "installing Debian's chromium"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
if [[ ! -d scripts/browser/node_modules/playwright-core ]]; then
    (cd scripts/browser && npm ci --silent --no-audit --no-fund)
fi

target="${CARGO_TARGET_DIR:-target}"
server="${DBX_SERVER_BIN:-$target/debug/dbx-server}"
[[ -x "$server" ]] || cargo build -p dbx-server --quiet
work="$(mktemp -d)"
pid=""
cleanup() {
    [[ -n "$pid" ]] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT

port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
base="http://127.0.0.1:$port"
env -u DBX_BLOB_STORE -u DBX_DATABASE_URL "$server" serve --listen "127.0.0.1:$port" \
    --data-dir "$work/data" >"$work/server.log" 2>&1 &
pid=$!
for _ in $(seq 100); do
    curl -fs "$base/healthz" >/dev/null 2>&1 && break
    sleep 0.1
done
curl -fs "$base/healthz" >/dev/null || die "dbx-server did not start: $(tail -5 "$work/server.log")"

json() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }
creds='{"email": "page@example.com", "password": "correct horse battery"}'
curl -fs -H 'content-type: application/json' -d "$creds" "$base/api/v1/auth/register" >/dev/null
token="$(curl -fs -H 'content-type: application/json' -d "$creds" "$base/api/v1/auth/login" | json '["access_token"]')"
name="Holiday plan (v2).pdf"
head -c 300000 /dev/urandom >"$work/expected"
file_id="$(curl -fs -X PUT -H "authorization: Bearer $token" --data-binary "@$work/expected" \
    "$base/api/v1/files/content?path=/Trips/Holiday%20plan%20(v2).pdf" | json '["id"]')"
url="$(curl -fs -H "authorization: Bearer $token" -H 'content-type: application/json' \
    -d "{\"file_id\": \"$file_id\", \"max_downloads\": 5, \"expires_at\": \"2099-06-30T12:00:00Z\"}" \
    "$base/api/v1/shares" | json '["url"]')"

node scripts/browser/share-page.mjs "$url" "$work/expected" "$name" ${1:+"$1"}

count="$(curl -fs -H "authorization: Bearer $token" "$base/api/v1/shares" | json '["shares"][0]["download_count"]')"
[[ "$count" == 1 ]] || die "the page and one click should use one download, the link counts $count"
say "ok: the page used no download, the button one"
