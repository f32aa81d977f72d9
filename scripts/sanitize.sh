#!/usr/bin/env bash
# scripts/sanitize.sh MODE [CTEST ARGS...]: builds infusion with sanitizers, in a folder of its own,
# and runs tests under them (docs/reliability.md, "Sanitizers").
#
#   asan     AddressSanitizer + UndefinedBehaviorSanitizer (+ LeakSanitizer) into build-asan/,
#            then the whole suite.
#   asan-ci  the same build folder, only what .ci/run runs: the torch-free libraries, the image
#            codec, the weights, config and tokenizer loaders, the request parsers, the scheduler
#            and the output processing, the fault tests and every fuzz corpus. Torch-heavy
#            targets (the model, the trainer, the server process) are left to `asan`: building
#            them instrumented is what would push .ci/run past its budget.
#   tsan     ThreadSanitizer into build-tsan/, then the tests of the threaded parts: the scheduler
#            with its engine thread, the server's event queue, worker pool and call gate, and the
#            metrics endpoint.
#
# Every report fails its test (-fno-sanitize-recover, halt_on_error). LibTorch, gRPC, protobuf,
# Abseil and OpenMP are Debian's, uninstrumented: tools/sanitizers/*.supp suppresses reports whose
# every frame is in them, never one in infusion's code.
set -euo pipefail
cd "$(dirname "$0")/.."
MODE=${1:?"usage: scripts/sanitize.sh asan|asan-ci|tsan [ctest args...]"}
shift
JOBS=${JOBS:-$(nproc)}
SUPP=$(pwd)/tools/sanitizers

case "$MODE" in
  asan | asan-ci)
    BUILD_DIR=${BUILD_DIR:-build-asan}
    SANITIZE=address,undefined
    ;;
  tsan)
    BUILD_DIR=${BUILD_DIR:-build-tsan}
    SANITIZE=thread
    ;;
  *)
    echo "scripts/sanitize.sh: unknown mode '$MODE' (asan, asan-ci or tsan)" >&2
    exit 2
    ;;
esac

# The ninja targets and the ctest selection of each partial mode.
CI_TARGETS=(image_test model_config_test tokenizer_test sampler_test prompt_test kv_cache_test
  scheduler_test scheduler_random_test step_fault_test http_fuzz_regressions_test weights_test
  fuzz_regressions_test request_parser_log_test server_components_test proto_converter_test
  inference_engine_test model_directory_faults_test prepare_cancel_test server_e2e_test
  infusion-server infusion-tool
  image_fuzzer_replay model_config_fuzzer_replay generation_config_fuzzer_replay
  tokenizer_fuzzer_replay safetensors_fuzzer_replay request_parser_fuzzer_replay
  http_json_fuzzer_replay http_image_edit_fuzzer_replay)
CI_TESTS='^(image_test|model_config_test|tokenizer_test|sampler_test|prompt_test|kv_cache_test|scheduler_test|scheduler_random_test|step_fault_test|http_fuzz_regressions_test|weights_test|fuzz_regressions_test|request_parser_log_test|server_tiny_model|server_components_test|proto_converter_test|serving_tiny_model|inference_engine_test|reliability_tiny_model|model_directory_faults_test|prepare_cancel_test|server_e2e_test|fuzz_.*_corpus)$'
TSAN_TARGETS=(scheduler_test scheduler_random_test step_fault_test server_threads_test)
TSAN_TESTS='^(scheduler_test|scheduler_random_test|step_fault_test|server_threads_test)$'

if [ ! -f "$BUILD_DIR/build.ninja" ]; then
  # -O1: most of the sanitizers' value at a fraction of -O2's compile time.
  cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g" -DINFUSION_SANITIZE="$SANITIZE"
fi

SELECT=()
case "$MODE" in
  asan) ninja -C "$BUILD_DIR" -j "$JOBS" ;;
  asan-ci)
    ninja -C "$BUILD_DIR" -j "$JOBS" "${CI_TARGETS[@]}"
    SELECT=(-R "$CI_TESTS")
    ;;
  tsan)
    ninja -C "$BUILD_DIR" -j "$JOBS" "${TSAN_TARGETS[@]}"
    SELECT=(-R "$TSAN_TESTS")
    ;;
esac

# Inherited by every test and every process a test starts (infusion-server, infusion-tool).
export ASAN_OPTIONS="halt_on_error=1:abort_on_error=1:detect_leaks=1:strict_string_checks=1:detect_stack_use_after_return=1:check_initialization_order=1:suppressions=$SUPP/asan.supp"
export LSAN_OPTIONS="suppressions=$SUPP/lsan.supp:print_suppressions=0"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:suppressions=$SUPP/ubsan.supp"
export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:suppressions=$SUPP/tsan.supp"
ctest --test-dir "$BUILD_DIR" --output-on-failure -j "$JOBS" "${SELECT[@]}" "$@"
