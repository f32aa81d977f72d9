#!/usr/bin/env bash
# The whole test suite on a fresh machine: install dependencies, build, run every test with ctest,
# then the AddressSanitizer + UndefinedBehaviorSanitizer part (scripts/sanitize.sh asan-ci: the
# torch-free libraries, the codecs, the loaders, the request parsers, the scheduler, the server and
# the fuzz corpora, in build-asan/; docs/reliability.md, "Sanitizers"). Arguments go to the first
# ctest. INFUSION_SANITIZE_CI=0 leaves the sanitizer part out (a quicker local run).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh
status=0
ctest --test-dir "${BUILD_DIR:-build}" --output-on-failure -j "$(nproc)" "$@" || status=$?
if [ "${INFUSION_SANITIZE_CI:-1}" != 0 ]; then
  bash scripts/sanitize.sh asan-ci --output-on-failure -j "$(nproc)" || status=$?
fi
exit "$status"
