#!/usr/bin/env bash
# A/B of infusion-server --malloc_arena_max 2 (the default) against 0 (glibc's 8 per core), over
# gRPC: chat at 32 clients and t2i at 8 clients (PNG encoding included), alternately. OUT=$1.
set -euo pipefail
cd "$(dirname "$0")/../../.."  # the repository root
OUT=$1; ROUNDS=${ROUNDS:-3}
mkdir -p "$OUT"
B=build/clients/bench/infusion-bench
for round in $(seq "$ROUNDS"); do
  for arenas in 2 0; do
    dir=$(mktemp -d)
    build/server/infusion-server --model models/shapes --host 127.0.0.1 --port 0 --http_port 0 \
        --metrics_port 0 --port_file "$dir/ports" --malloc_arena_max "$arenas" > "$dir/log" 2>&1 &
    pid=$!
    while [ ! -f "$dir/ports" ]; do sleep 0.2; done
    port=$(awk '$1 == "grpc" {print $2}' "$dir/ports")
    for w in "chat --concurrency 32 --requests 64" "t2i --concurrency 8 --requests 16"; do
      echo "round $round arenas $arenas: $B --server 127.0.0.1:$port --workload $w" | tee -a "$OUT/ab.txt"
      # shellcheck disable=SC2086
      $B --server "127.0.0.1:$port" --workload $w | tee -a "$OUT/ab.txt"
    done
    kill -TERM "$pid"; wait "$pid" || true
    rm -rf "$dir"
  done
done
