#!/usr/bin/env bash
# The fused U-Net patch layers against LibTorch's modules (--fused_unet=false), same binary,
# alternated; then t2i end to end (8 clients and one at a time) both ways, and the PyTorch
# peer's t2i. Run under /work/tools/quiet.sh from the repository root. OUT=$1.
set -uo pipefail
cd "$(dirname "$0")/../../.."
OUT=${1:-/tmp/unet-ab}
mkdir -p "$OUT"
B=build/clients/bench/infusion-bench
for i in 1 2 3; do
  for f in true false; do
    echo "== engine --fused_unet=$f (run $i)"
    $B --model models/shapes --engine --fused_unet=$f 2>&1 | grep -E "^denoise|^decode +1 |largest"
  done
done
echo "== engine --profile (fused)"
$B --model models/shapes --engine --profile 2>&1 | sed -n '/denoise, batch 1:/,/^$/p'
for f in true false; do
  echo "== t2i --fused_unet=$f"
  $B --model models/shapes --workload t2i --concurrency 8 --requests 16 --compare-sequential \
     --fused_unet=$f --json "$OUT/t2i-$f.json" 2>&1 | grep -E "^load|^t2i"
done
echo "== peer"
OMP_WAIT_POLICY=passive /usr/bin/python3 clients/bench/peer/peer.py bench --model models/shapes \
  --workload t2i --t2i_requests 16 --json "$OUT/peer.json" 2>&1 | tail -3
