#!/usr/bin/env bash
# fuzz/run.sh TARGET [RUNS]: fuzzes one target from its committed corpus for RUNS inputs
# (default 1000000) on one core. New inputs go to build-fuzz/corpus/TARGET (not committed),
# crashes to build-fuzz/crashes/TARGET/, libFuzzer's log (with -jobs it writes fuzz-0.log in
# its working folder) to build-fuzz/logs/TARGET/; its final statistics are printed. TIMEOUT
# (seconds, default 10) is libFuzzer's per-input limit: raise it on a machine whose processes
# may be paused (a wall-clock limit then fires on an input that runs in milliseconds).
set -euo pipefail
cd "$(dirname "$0")/.."
TARGET=$1
RUNS=${2:-1000000}
BUILD=$(realpath "${BUILD_DIR:-build-fuzz}")
# Larger inputs only slow a target down: images and tokenizer models need room, the rest little.
case "$TARGET" in
  image) MAX_LEN=32768 ;;
  tokenizer) MAX_LEN=8192 ;;
  *) MAX_LEN=4096 ;;
esac
mkdir -p "$BUILD/corpus/$TARGET" "$BUILD/crashes/$TARGET" "$BUILD/logs/$TARGET"
CORPUS=$(realpath "fuzz/corpus/$TARGET")
cd "$BUILD/logs/$TARGET"
rm -f fuzz-0.log
status=0
"$BUILD/fuzz/${TARGET}_fuzzer" -runs="$RUNS" -max_len="$MAX_LEN" -timeout="${TIMEOUT:-10}" \
  -rss_limit_mb=2048 -jobs=1 -workers=1 -print_final_stats=1 \
  -artifact_prefix="$BUILD/crashes/$TARGET/" "$BUILD/corpus/$TARGET" "$CORPUS" || status=$?
tail -n 30 fuzz-0.log
exit $status
