#!/usr/bin/env bash
# Resumable uploads with a stock tus client (run by scripts/test.sh): tuspy, from PyPI
# (pip-installed when missing), against a dbx-server process of its own (temp dir, free
# port). A 40 MiB file goes up in 5 MiB chunks with sha1 checksums; the client process is
# killed (SIGKILL) after three chunks and the server restarted; a new client resumes from
# the URL tuspy stored, from the server's offset; the file then has the local file's
# content hash and bytes.
#
# The server uses the backends of the environment (DBX_DATABASE_URL, DBX_BLOB_STORE, ...),
# by default SQLite and files in a temp dir. Binaries come from CARGO_TARGET_DIR (built
# here when missing).
set -euo pipefail
cd "$(dirname "$0")/.."

say() { echo "tus-test.sh: $*" >&2; }
die() {
    say "$*"
    exit 1
}

if ! python3 -c "import tusclient" 2>/dev/null; then
    say "installing tuspy"
    python3 -m pip install --quiet tuspy || die "cannot install tuspy"
fi

target="${CARGO_TARGET_DIR:-target}"
if [ ! -x "$target/debug/dbx-server" ]; then
    cargo build --quiet -p dbx-server
fi
server_bin="$target/debug/dbx-server"

work=$(mktemp -d)
server_pid=""
stop_server() {
    if [ -n "$server_pid" ]; then
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
        server_pid=""
    fi
}
cleanup() {
    stop_server
    rm -rf "$work"
}
trap cleanup EXIT

# A fixed port, so that the restarted server is where tuspy's stored URL points.
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
export OWN_SERVER_LISTEN="127.0.0.1:$port"
source scripts/lib/own-server.sh
start_server() { start_own_server "$server_bin" "$work"; }

start_server
head -c $((40 * 1024 * 1024 + 12345)) /dev/urandom >"$work/big.bin"

cat >"$work/client.py" <<'PY'
import hashlib, json, os, signal, sys
import requests
from tusclient import client
from tusclient.storage.filestorage import FileStorage

base, work, phase = sys.argv[1], sys.argv[2], sys.argv[3]
auth_file = os.path.join(work, "auth.json")
if phase == "first":
    cred = {"email": "tus@example.com", "password": "correct horse battery"}
    r = requests.post(base + "/api/v1/auth/register", json=cred)
    assert r.status_code == 201, r.text
    r = requests.post(base + "/api/v1/auth/login", json=cred)
    assert r.status_code == 200, r.text
    json.dump(r.json(), open(auth_file, "w"))
token = json.load(open(auth_file))["access_token"]

tus = client.TusClient(base + "/api/v1/uploads", headers={"Authorization": "Bearer " + token})
uploader = tus.uploader(
    os.path.join(work, "big.bin"),
    chunk_size=5 * 1024 * 1024,
    metadata={"path": "/tus/big.bin"},
    store_url=True,
    url_storage=FileStorage(os.path.join(work, "urls.json")),
    upload_checksum=True,
)
if phase == "first":
    for _ in range(3):
        uploader.upload_chunk()
    print("sent", uploader.offset, "bytes; the client dies now", flush=True)
    os.kill(os.getpid(), signal.SIGKILL)

# A new client: tuspy finds the URL it stored and asks the server for the offset.
resumed_at = uploader.offset
assert resumed_at >= 15 * 1024 * 1024, "resumed at %d" % resumed_at
uploader.upload()
print("resumed at", resumed_at, "and finished at", uploader.offset, flush=True)

data = open(os.path.join(work, "big.bin"), "rb").read()
blocks = b"".join(hashlib.sha256(data[i:i + (4 << 20)]).digest() for i in range(0, len(data), 4 << 20))
expected = hashlib.sha256(blocks).hexdigest()
h = {"Authorization": "Bearer " + token}
entry = requests.get(base + "/api/v1/entries", params={"path": "/tus/big.bin"}, headers=h).json()
assert entry["size"] == len(data), entry
assert entry["content_hash"] == expected, (entry, expected)
got = requests.get(base + "/api/v1/files/%s/content" % entry["id"], headers=h).content
assert got == data, "the bytes read back differ"
print("content hash", expected, "matches", flush=True)
PY

say "tuspy uploads 40 MiB and is killed after three chunks"
set +e
python3 "$work/client.py" "$base" "$work" first
status=$?
set -e
[ "$status" -eq 137 ] || [ "$status" -eq $((128 + 9)) ] || [ "$status" -eq -9 ] ||
    die "the first client should have been killed (exit $status)"

say "the server restarts; a new tuspy client resumes"
stop_server
start_server
python3 "$work/client.py" "$base" "$work" resume || die "the resumed upload failed"
say "ok"
