# Sourced by the scripts that test a dbx-server process of their own (webdav-test.sh,
# openapi-test.sh): `start_own_server BIN WORK [SERVE FLAGS...]` starts BIN on a free port
# of 127.0.0.1 with its data in WORK/data (log in WORK/server.log), waits until it prints
# its address, and sets `base` (http://127.0.0.1:PORT) and `server_pid`. The caller
# defines `die` and stops the server (kill "$server_pid") when done. OWN_SERVER_LISTEN
# names a fixed address instead (to restart a server where clients expect it).
start_own_server() {
    local bin="$1" work="$2"
    shift 2
    RUST_LOG=warn "$bin" serve --listen "${OWN_SERVER_LISTEN:-127.0.0.1:0}" --data-dir "$work/data" "$@" \
        >"$work/server.out" 2>"$work/server.log" &
    server_pid=$!
    for _ in $(seq 1 100); do
        grep -q "listening on" "$work/server.out" 2>/dev/null && break
        kill -0 "$server_pid" 2>/dev/null || die "the server did not start: $(cat "$work/server.log")"
        sleep 0.1
    done
    base=$(sed -n 's/^listening on //p' "$work/server.out")
    [ -n "$base" ] || die "the server did not say where it listens"
}
