#!/usr/bin/env bash
# The crash loop of server/tests/crash_loop.rs, for as many rounds as you like: a real
# dbx-server under concurrent writers, SIGKILLed at a random moment each round, restarted,
# and checked (acknowledged writes exact, nothing half-written listed, no missing blob, the
# change log gap-free, `check` clean after `gc`).
#
#   scripts/crash-loop.sh [--rounds N] [--backend sqlite-fs|sqlite-s3|pg-s3|all] [--seed S]
#
# Defaults: 200 rounds on sqlite-fs. The S3 backends use Garage (scripts/s3-server.sh) and
# pg-s3 PostgreSQL too (scripts/pg-server.sh); both are started when not running, and left
# running. A failing round prints its seed: run again with --seed to replay its choices.
set -euo pipefail
cd "$(dirname "$0")/.."

rounds=200
backend=sqlite-fs
seed=
while [[ $# -gt 0 ]]; do
    case "$1" in
    --rounds) rounds="$2"; shift 2 ;;
    --backend) backend="$2"; shift 2 ;;
    --seed) seed="$2"; shift 2 ;;
    -h | --help) sed -n 2,12p "$0"; exit 0 ;;
    *) echo "crash-loop.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done

case "$backend" in
all) backends=(sqlite-fs sqlite-s3 pg-s3) ;;
sqlite-fs | sqlite-s3 | pg-s3) backends=("$backend") ;;
*) echo "crash-loop.sh: --backend is sqlite-fs, sqlite-s3, pg-s3 or all" >&2; exit 2 ;;
esac

for b in "${backends[@]}"; do
    case "$b" in
    *-s3)
        scripts/s3-server.sh start >/dev/null
        eval "$(scripts/s3-server.sh env)"
        ;;
    esac
    if [[ $b == pg-* ]]; then
        scripts/pg-server.sh start >/dev/null
        eval "$(scripts/pg-server.sh env)"
    fi
done
# The test starts its servers with the backend it is told, nothing from the environment.
unset DBX_BLOB_STORE DBX_DATABASE_URL

cargo build -p dbx-server --tests --quiet
for b in "${backends[@]}"; do
    echo "== crash loop: $rounds rounds on $b"
    start=$SECONDS
    env DBX_CRASH_ROUNDS="$rounds" DBX_CRASH_BACKEND="$b" ${seed:+DBX_CRASH_SEED="$seed"} \
        cargo test -p dbx-server --quiet --test crash_loop -- --nocapture
    echo "== $b: $rounds rounds in $((SECONDS - start)) s"
done
