#!/usr/bin/env bash
# bfloat16 image products (--bf16_images, the default on AVX512-BF16 CPUs) against float32, and
# both against the PyTorch peer, on the bundled model: the engine steps, then text-to-image at 8
# clients and one at a time, alternated; the peer once. Run on an otherwise idle machine.
#   docs/bench/2026-12-07-bf16/ab.sh OUT_DIR
set -euo pipefail
cd "$(dirname "$0")/../../.."
OUT=$1
mkdir -p "$OUT"
B=build/clients/bench/infusion-bench
for i in 1 2; do
  for f in false true; do
    echo "== engine --bf16_images=$f (run $i)"
    $B --model models/shapes --engine --bf16_images=$f 2>&1 | grep -E "^cpu|^denoise|^decode +1 |largest|peak"
  done
done
for f in false true; do
  echo "== t2i --bf16_images=$f"
  $B --model models/shapes --workload t2i --concurrency 8 --requests 32 --compare-sequential \
     --bf16_images=$f --json "$OUT/t2i-bf16_images-$f.json" 2>&1 | grep -E "^load|^t2i|sequential"
done
echo "== peer"
OMP_WAIT_POLICY=passive /usr/bin/python3 clients/bench/peer/peer.py bench --model models/shapes \
  --workload t2i --t2i_requests 32 --json "$OUT/peer.json"
for f in false true; do
  mkdir -p "$OUT/in-$f"
  cp "$OUT/t2i-bf16_images-$f.json" "$OUT/in-$f/t2i.json"
  /usr/bin/python3 clients/bench/peer/peer.py compare --peer "$OUT/peer.json" --infusion "$OUT/in-$f" \
    --out "$OUT/ratios-bf16_images-$f.md"
  echo "== ratios, --bf16_images=$f"; cat "$OUT/ratios-bf16_images-$f.md"
done
