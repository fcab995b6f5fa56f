#!/usr/bin/env bash
# The OpenAPI document against a real dbx-server process (run by scripts/test.sh):
#   - docs/openapi.json and the document the server serves are valid OpenAPI 3.1
#     (openapi-spec-validator) and the same;
#   - schemathesis calls every operation with generated requests, valid and not, signed
#     in as a user of its own, and fails on any 5xx, any status, content type, header or
#     body that the document does not describe (scripts/schemathesis_hooks.py teaches it the
#     tus body type).
# openapi-spec-validator and schemathesis (4.x) come from PyPI, installed with pip when
# missing. The server runs on SQLite and files in a temp dir; binaries come from
# CARGO_TARGET_DIR (built here when missing).
#
#   scripts/openapi-test.sh [MAX_EXAMPLES]   (test cases per operation, default 60: about
#                                             two minutes on two cores)
#
# DBX_SCHEMATHESIS_SEED (default 1) picks other generated cases, for a deeper run by hand.
set -euo pipefail
cd "$(dirname "$0")/.."

MAX_EXAMPLES="${1:-60}"

say() { echo "openapi-test.sh: $*" >&2; }
die() {
    say "$*"
    exit 1
}

if ! python3 -c 'import openapi_spec_validator' 2>/dev/null ||
    ! command -v schemathesis >/dev/null ||
    [[ "$(schemathesis --version 2>/dev/null)" != *"version 4."* ]]; then
    say "installing openapi-spec-validator and schemathesis 4 with pip"
    python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore \
        openapi-spec-validator "schemathesis>=4,<5"
fi

target="${CARGO_TARGET_DIR:-target}"
server_bin="${DBX_SERVER_BIN:-$target/debug/dbx-server}"
[[ -x "$server_bin" ]] || cargo build --quiet -p dbx-server

work=$(mktemp -d)
server_pid=""
cleanup() {
    [[ -n "$server_pid" ]] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT

# A server of our own on a free port, on SQLite and files. Tokens outlive the run; a small
# quota lets uploads meet 507 too.
source scripts/lib/own-server.sh
unset DBX_DATABASE_URL DBX_BLOB_STORE
start_own_server "$server_bin" "$work" \
    --access-token-ttl 7200 --quota-bytes 1000000

say "validating docs/openapi.json and the served document"
curl -fsS "$base/api/v1/openapi.json" -o "$work/served.json"
python3 -m openapi_spec_validator docs/openapi.json "$work/served.json"
cmp -s docs/openapi.json "$work/served.json" ||
    die "docs/openapi.json is not what the server serves (DBX_UPDATE_OPENAPI=1 cargo test -p dbx-server --test openapi)"

json() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }
creds='{"email": "schemathesis@example.com", "password": "correct horse battery"}'
curl -fsS -H 'content-type: application/json' -d "$creds" "$base/api/v1/auth/register" >/dev/null
token=$(curl -fsS -H 'content-type: application/json' -d "$creds" "$base/api/v1/auth/login" |
    json '["access_token"]')
# Something to find: a folder with a file, so that not every call is about nothing.
curl -fsS -X PUT -H "authorization: Bearer $token" --data-binary 'hello' \
    "$base/api/v1/files/content?path=/docs/hello.txt" >/dev/null

say "schemathesis against $base ($MAX_EXAMPLES examples per operation)"
checks=not_a_server_error,status_code_conformance,content_type_conformance
checks+=,response_headers_conformance,response_schema_conformance
(cd "$work" && SCHEMATHESIS_HOOKS="$OLDPWD/scripts/schemathesis_hooks.py" schemathesis --config-file "$OLDPWD/scripts/schemathesis.toml" run \
    "$work/served.json" --url "$base" \
    --header "Authorization: Bearer $token" \
    --checks "$checks" \
    --phases examples,coverage,fuzzing,stateful \
    --max-examples "$MAX_EXAMPLES" \
    --seed "${DBX_SCHEMATHESIS_SEED:-1}" \
    --workers 1 \
    --request-timeout 20 \
    --no-color) || die "schemathesis found failures (above); the server's log: $(tail -20 "$work/server.log")"
if grep -q "internal error" "$work/server.log"; then
    die "the server logged internal errors: $(grep -m5 "internal error" "$work/server.log")"
fi
say "ok: the document is valid, served as committed, and the server keeps to it"
