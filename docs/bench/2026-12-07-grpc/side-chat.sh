#!/usr/bin/env bash
# Chat side by side in one run: the PyTorch peer (static batches of 32 and 1), infusion in-process
# (32 clients and one at a time), and one infusion-server over gRPC and HTTP (32 clients and one
# at a time). OUT=$1. Run from the repository root, on a paused machine.
set -euo pipefail
OUT=$1; mkdir -p "$OUT"
B=build/clients/bench/infusion-bench
run() { echo "$*" | tee -a "$OUT/side-chat.txt"; "$@" 2>&1 | grep -E "^(chat|peer: chat)" | tee -a "$OUT/side-chat.txt"; }
export OMP_WAIT_POLICY=passive
run /usr/bin/python3 clients/bench/peer/peer.py bench --model models/shapes --workload chat --chat_requests 64
run $B --model models/shapes --workload chat --concurrency 32 --requests 64 --compare-sequential
dir=$(mktemp -d)
build/server/infusion-server --model models/shapes --host 127.0.0.1 --port 0 --http_port 0 \
    --metrics_port 0 --port_file "$dir/ports" > "$dir/log" 2>&1 &
pid=$!
while [ ! -f "$dir/ports" ]; do sleep 0.2; done
grpc=$(awk '$1 == "grpc" {print $2}' "$dir/ports"); http=$(awk '$1 == "http" {print $2}' "$dir/ports")
run $B --server "127.0.0.1:$grpc" --workload chat --concurrency 32 --requests 64
run $B --server "127.0.0.1:$grpc" --workload chat --concurrency 1 --requests 16
run $B --http "http://127.0.0.1:$http" --workload chat --concurrency 32 --requests 64
run $B --http "http://127.0.0.1:$http" --workload chat --concurrency 1 --requests 16
kill -TERM "$pid"; wait "$pid" || true
rm -rf "$dir"
