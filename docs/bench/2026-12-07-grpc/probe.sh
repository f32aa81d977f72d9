#!/usr/bin/env bash
# One infusion-server on models/shapes (extra server flags after LABEL), then chat over gRPC at 32
# clients and one at a time, and over HTTP at 32 clients, against it. Run from the repository root.
label=$1; shift
dir=$(mktemp -d)
build/server/infusion-server --model models/shapes --host 127.0.0.1 --port 0 --http_port 0 \
    --metrics_port 0 --port_file "$dir/ports" "$@" > "$dir/log" 2>&1 &
pid=$!
while [ ! -f "$dir/ports" ]; do sleep 0.2; done
grpc=$(awk '$1 == "grpc" {print $2}' "$dir/ports")
http=$(awk '$1 == "http" {print $2}' "$dir/ports")
echo "== $label $*"
B=build/clients/bench/infusion-bench
$B --server "127.0.0.1:$grpc" --workload chat --concurrency 32 --requests 64 | grep "^chat"
$B --server "127.0.0.1:$grpc" --workload chat --concurrency 1 --requests 4 | grep "^chat"
$B --http "http://127.0.0.1:$http" --workload chat --concurrency 32 --requests 64 | grep "^chat"
kill -TERM "$pid"; wait "$pid"
rm -rf "$dir"
