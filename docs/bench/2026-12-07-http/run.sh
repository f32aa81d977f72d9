#!/usr/bin/env bash
# 32 streamed chat clients over the OpenAI-compatible HTTP API vs the in-process engine, in
# alternating rounds, one server process for all HTTP rounds (each round is a new bench process,
# so its 32 clients connect at once, as in issue #20's measurement). With OLD_SERVER=BINARY, each
# round also drives that server binary (another build) the same way. After each HTTP run, the
# kernel's count of connections dropped because a listen queue was full (nstat
# TcpExtListenOverflows, machine-wide) is printed.
#   [OLD_SERVER=...] /work/tools/quiet.sh "$PWD" bash docs/bench/2026-12-07-http/run.sh ROUNDS > OUT
set -euo pipefail
cd "$(dirname "$0")/../../.."
rounds=${1:-4}
dir=$(mktemp -d)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null; wait 2>/dev/null; rm -rf "$dir"' EXIT

start() {  # start NAME BINARY: a server; its HTTP URL in $dir/NAME.url
  "$2" --model models/shapes --host 127.0.0.1 --port 0 --metrics_port 0 --http_port 0 \
    --port_file "$dir/$1.ports" > "$dir/$1.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 600); do
    if [ -f "$dir/$1.ports" ]; then
      url="http://127.0.0.1:$(awk '/^http/{print $2}' "$dir/$1.ports")"
      curl -sf "$url/ready" > /dev/null && { echo "$url" > "$dir/$1.url"; return; }
    fi
    sleep 0.1
  done
  echo "$1 did not start" >&2; exit 1
}

overflows() { nstat -az TcpExtListenOverflows | awk '/TcpExtListenOverflows/{print $2}'; }

start new build/server/infusion-server
modes=(http)
if [ -n "${OLD_SERVER:-}" ]; then start old "$OLD_SERVER"; modes=(http-old http); fi
modes+=(inprocess)
for round in $(seq "$rounds"); do
  for mode in "${modes[@]}"; do
    case $mode in
      http) args=(--http "$(cat "$dir/new.url")") ;;
      http-old) args=(--http "$(cat "$dir/old.url")") ;;
      inprocess) args=(--model models/shapes) ;;
    esac
    echo "# round $round, $mode: infusion-bench ${args[*]} --workload chat --concurrency 32 --requests 128"
    before=$(overflows)
    build/clients/bench/infusion-bench "${args[@]}" --workload chat --concurrency 32 --requests 128 \
      2>/dev/null
    [ "$mode" = inprocess ] || echo "# listen queue overflows during the run: $(( $(overflows) - before ))"
  done
done
