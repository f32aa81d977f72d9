#!/usr/bin/env bash
# Runs the benchmarks recorded in docs/benchmarks.md: the engine micro-benchmark, the in-process
# workloads with --compare-sequential, and the same workloads over gRPC against a local
# infusion-server. Writes each run's table (.txt) and JSON (.json) to OUT_DIR.
#
#   [THREADS=N] [BF16_MIN_ROWS=R] scripts/bench.sh [MODEL_DIR] [OUT_DIR]
#
# MODEL_DIR defaults to models/shapes, or a random model of the same shape when that has no
# weights. BF16_MIN_ROWS (default 0: float32 only) is passed as --bf16_min_rows to every run and
# to the server. Speed claims are ratios within one run: run this on an otherwise idle machine.
set -euo pipefail
cd "$(dirname "$0")/.."
MODEL=${1:-models/shapes}
OUT=${2:-.cache/bench/$(date +%Y%m%d-%H%M%S)}
THREADS=${THREADS:-0}
BF16_MIN_ROWS=${BF16_MIN_ROWS:-0}
source scripts/lib.sh
if [ ! -f "$MODEL/model.safetensors" ]; then
  MODEL=$(random_default_model)
  echo "bench: using a random model of the default shape ($MODEL)" >&2
fi
mkdir -p "$OUT"
BENCH=build/clients/bench/infusion-bench
COMMON=(--threads "$THREADS" --bf16_min_rows "$BF16_MIN_ROWS")
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
start_local_server "$MODEL" "$OUT/server.log" "${COMMON[@]}"
run grpc-chat-mixed --server "$SERVER_ADDR" "${CHAT[@]}"
run grpc-t2i --server "$SERVER_ADDR" "${T2I[@]}"
kill -TERM $SERVER
wait $SERVER || true
echo "bench: results in $OUT" >&2
