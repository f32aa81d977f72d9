#!/usr/bin/env bash
# Runs the benchmarks recorded in docs/benchmarks.md: the engine micro-benchmark, the in-process
# workloads with --compare-sequential, and the same workloads over gRPC against a local
# infusion-server. Writes each run's table (.txt) and JSON (.json) to OUT_DIR.
#
#   scripts/bench.sh [MODEL_DIR] [OUT_DIR]
#
# MODEL_DIR defaults to models/shapes, or a random model of the same shape when that has no
# weights. Speed claims are ratios within one run: run this on an otherwise idle machine.
set -euo pipefail
cd "$(dirname "$0")/.."
MODEL=${1:-models/shapes}
OUT=${2:-.cache/bench/$(date +%Y%m%d-%H%M%S)}
THREADS=${THREADS:-0}
if [ ! -f "$MODEL/model.safetensors" ]; then
  MODEL=.cache/models/random-shapes
  if [ ! -f "$MODEL/model.safetensors" ]; then
    build/tools/infusion_tool/infusion-tool init --config configs/models/shapes.json \
      --out "$MODEL" --seed 1 --tokenizer_corpus tests/data/corpus.txt
  fi
  echo "bench: using a random model of the default shape ($MODEL)" >&2
fi
mkdir -p "$OUT"
BENCH=build/clients/bench/infusion-bench
COMMON=(--threads "$THREADS")
CHAT=(--workload chat,mixed --concurrency 32 --image_concurrency 2 --requests 128)
T2I=(--workload t2i --concurrency 8 --requests 32)

run() {  # name, then the infusion-bench arguments
  local name=$1; shift
  echo "bench: $name: infusion-bench $*" >&2
  echo "infusion-bench $*" > "$OUT/$name.txt"
  "$BENCH" "$@" --json "$OUT/$name.json" >> "$OUT/$name.txt"
  cat "$OUT/$name.txt"
}

run engine --model "$MODEL" --engine "${COMMON[@]}"
run chat-mixed --model "$MODEL" "${CHAT[@]}" --compare-sequential "${COMMON[@]}"
run t2i --model "$MODEL" "${T2I[@]}" --compare-sequential "${COMMON[@]}"

# The same loads over gRPC (loopback), against a server with the same scheduler defaults.
PORT_FILE=$(mktemp)
build/server/infusion-server --model "$MODEL" --port 0 --port_file "$PORT_FILE" \
  --metrics_port 0 --threads "$THREADS" > "$OUT/server.log" 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true; rm -f "$PORT_FILE"' EXIT
for _ in $(seq 600); do
  [ -s "$PORT_FILE" ] && build/clients/cli/infusion health --server \
    "localhost:$(awk '$1 == "grpc" {print $2}' "$PORT_FILE")" \
    > /dev/null 2>&1 && break
  kill -0 $SERVER 2> /dev/null || { cat "$OUT/server.log" >&2; exit 1; }
  sleep 0.2
done
ADDR="localhost:$(awk '$1 == "grpc" {print $2}' "$PORT_FILE")"
run grpc-chat-mixed --server "$ADDR" "${CHAT[@]}"
run grpc-t2i --server "$ADDR" "${T2I[@]}"
kill -TERM $SERVER
wait $SERVER || true
echo "bench: results in $OUT" >&2
