#!/usr/bin/env bash
# Runs the benchmarks recorded in docs/benchmarks.md: the engine micro-benchmark, the in-process
# workloads with --compare-sequential, the PyTorch peer (clients/bench/peer) on the same loads,
# and the same workloads over gRPC against a local infusion-server. Writes each run's table (.txt)
# and JSON (.json) to OUT_DIR, and ratios.md: infusion against the peer, workload by workload.
#
#   [THREADS=N] [BF16_MIN_ROWS=R] [BF16_IMAGES=false] [PEER=0] [PYTHON=python3] scripts/bench.sh
#       [MODEL_DIR] [OUT_DIR]
#
# MODEL_DIR defaults to models/shapes, or a random model of the same shape when that has no
# weights. BF16_MIN_ROWS (default 0: float32 only) is passed as --bf16_min_rows to every run and
# to the server; BF16_IMAGES (default true) as --bf16_images. PEER=0 skips the peer; PYTHON (default /usr/bin/python3, Debian's, which has
# python3-torch) runs it. Speed claims are ratios within one run: run this on an otherwise idle
# machine.
set -euo pipefail
cd "$(dirname "$0")/.."
MODEL=${1:-models/shapes}
OUT=${2:-.cache/bench/$(date +%Y%m%d-%H%M%S)}
THREADS=${THREADS:-0}
BF16_MIN_ROWS=${BF16_MIN_ROWS:-0}
BF16_IMAGES=${BF16_IMAGES:-true}
PEER=${PEER:-1}
PYTHON=${PYTHON:-/usr/bin/python3}
source scripts/lib.sh
if [ ! -f "$MODEL/model.safetensors" ]; then
  MODEL=$(random_default_model)
  echo "bench: using a random model of the default shape ($MODEL)" >&2
fi
mkdir -p "$OUT"
BENCH=build/clients/bench/infusion-bench
COMMON=(--threads "$THREADS" --bf16_min_rows "$BF16_MIN_ROWS" --bf16_images="$BF16_IMAGES")
CHAT_REQUESTS=128
T2I_REQUESTS=32
CHAT=(--workload chat,mixed --concurrency 32 --image_concurrency 2 --requests $CHAT_REQUESTS)
T2I=(--workload t2i --concurrency 8 --requests $T2I_REQUESTS)

peer_ratios() {  # OUT/ratios.md: infusion / peer for every load both have run so far
  "$PYTHON" clients/bench/peer/peer.py compare --peer "$OUT/peer.json" --infusion "$OUT" \
    --out "$OUT/ratios.md"
}

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

# The PyTorch peer: the same prompts, request counts and new tokens, static batches of 32 and 1
# (chat) and 8 and 1 (t2i, TAEF2 decode included) in place of that many clients.
if [ "$PEER" != 0 ]; then
  if "$PYTHON" -c 'import torch, sentencepiece' 2> /dev/null; then
    # Each load under the libgomp setting that is best for the peer there (docs/benchmarks.md,
    # session 16): chat with the passive wait policy (under the default, spinning for
    # milliseconds, its OpenMP threads starve OpenBLAS's on 2 cores and it ran 2-9x slower; a
    # short spin cost it 6-12%), text-to-image with the short spin infusion runs with
    # (GOMP_SPINCOUNT=1000: 20% faster than passive). Anything less would flatter infusion.
    PEER_ARGS=(bench --model "$MODEL" --threads "$THREADS" --chat_requests $CHAT_REQUESTS
               --t2i_requests $T2I_REQUESTS)
    : > "$OUT/peer.txt"
    for load in "chat OMP_WAIT_POLICY=passive" "t2i GOMP_SPINCOUNT=1000"; do
      read -r workload setting <<< "$load"
      echo "bench: peer: $setting clients/bench/peer/peer.py ${PEER_ARGS[*]} --workload $workload" >&2
      echo "$setting $PYTHON clients/bench/peer/peer.py ${PEER_ARGS[*]} --workload $workload" \
        >> "$OUT/peer.txt"
      env "$setting" "$PYTHON" clients/bench/peer/peer.py "${PEER_ARGS[@]}" --workload "$workload" \
        --json "$OUT/peer-$workload.json" >> "$OUT/peer.txt"
    done
    "$PYTHON" clients/bench/peer/peer.py merge --out "$OUT/peer.json" \
      "$OUT/peer-chat.json" "$OUT/peer-t2i.json"
    cat "$OUT/peer.txt"
    peer_ratios  # the in-process rows now, the gRPC rows added at the end
  else
    echo "bench: skipping the peer: $PYTHON lacks torch or sentencepiece (scripts/setup.sh)" >&2
  fi
fi

# The same loads over gRPC (loopback), against a server with the same scheduler defaults.
start_local_server "$MODEL" "$OUT/server.log" "${COMMON[@]}"
run grpc-chat-mixed --server "$SERVER_ADDR" "${CHAT[@]}"
run grpc-t2i --server "$SERVER_ADDR" "${T2I[@]}"
kill -TERM $SERVER
wait $SERVER || true
if [ -f "$OUT/peer.json" ]; then
  echo "bench: infusion / peer" >&2
  peer_ratios
fi
echo "bench: results in $OUT" >&2
