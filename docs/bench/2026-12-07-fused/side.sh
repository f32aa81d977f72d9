#!/usr/bin/env bash
# Side-by-side: infusion-bench in-process (chat 32 + one at a time, t2i 8 + one at a time) and the
# PyTorch peer on the same loads, then the ratio table. OUT=$1, extra infusion-bench flags after.
set -euo pipefail
cd "$(dirname "$0")/../../.."  # the repository root
OUT=$1; shift
mkdir -p "$OUT"
B=build/clients/bench/infusion-bench
CHAT_REQ=${CHAT_REQ:-64}; T2I_REQ=${T2I_REQ:-16}
echo "$B --model models/shapes --engine $*" > "$OUT/engine.txt"
$B --model models/shapes --engine "$@" --json "$OUT/engine.json" >> "$OUT/engine.txt"
echo "$B --model models/shapes --workload chat --concurrency 32 --requests $CHAT_REQ --compare-sequential $*" > "$OUT/chat-mixed.txt"
$B --model models/shapes --workload chat --concurrency 32 --requests $CHAT_REQ --compare-sequential "$@" --json "$OUT/chat-mixed.json" >> "$OUT/chat-mixed.txt"
echo "$B --model models/shapes --workload t2i --concurrency 8 --requests $T2I_REQ --compare-sequential $*" > "$OUT/t2i.txt"
$B --model models/shapes --workload t2i --concurrency 8 --requests $T2I_REQ --compare-sequential "$@" --json "$OUT/t2i.json" >> "$OUT/t2i.txt"
echo "OMP_WAIT_POLICY=passive /usr/bin/python3 clients/bench/peer/peer.py bench --model models/shapes --chat_requests $CHAT_REQ --t2i_requests $T2I_REQ" > "$OUT/peer.txt"
OMP_WAIT_POLICY=passive /usr/bin/python3 clients/bench/peer/peer.py bench --model models/shapes --chat_requests $CHAT_REQ --t2i_requests $T2I_REQ --json "$OUT/peer.json" >> "$OUT/peer.txt" 2>&1
/usr/bin/python3 clients/bench/peer/peer.py compare --peer "$OUT/peer.json" --infusion "$OUT" --out "$OUT/ratios.md"
