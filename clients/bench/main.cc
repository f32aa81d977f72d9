// infusion-bench: load generator and engine micro-benchmark.
//
//   infusion-bench --model DIR --workload chat,t2i,mixed --concurrency 32 --requests 64
//   infusion-bench --model DIR --workload t2i --concurrency 8 --compare-sequential --json t2i.json
//   infusion-bench --model DIR --engine
//   infusion-bench --chaos --duration_s 600     (a soak of a real server: clients/bench/chaos.h)
//
// In-process mode runs the scheduler and executor in this process (no network); every workload
// runs with continuous batching and, with --compare-sequential, again one request at a time
// (the scheduler admits one request at a time under the same offered load).
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "common/process_env.h"
#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_split.h"
#include "clients/bench/chaos.h"
#include "clients/bench/engine_bench.h"
#include "clients/bench/grpc_driver.h"
#include "clients/bench/http_driver.h"
#include "clients/bench/in_process_driver.h"
#include "clients/bench/report.h"
#include "common/version.h"

ABSL_FLAG(std::string, model, "", "model directory (in-process and engine modes)");
ABSL_FLAG(std::string, server, "",
          "host:port of an infusion-server: run the workloads over gRPC instead of in-process");
ABSL_FLAG(std::string, api_key, "", "gRPC and HTTP modes: API key, sent as a bearer token");
ABSL_FLAG(std::string, http, "",
          "HTTP mode: base URL of a running infusion-server's OpenAI-compatible API "
          "(e.g. http://localhost:8000)");
ABSL_FLAG(bool, engine, false, "engine-only micro-benchmark (decode and denoise step times)");
ABSL_FLAG(bool, profile, false,
          "engine mode: also break each step's time down by operator (LibTorch profiler)");
ABSL_FLAG(std::string, workload, "chat", "comma-separated list of chat, t2i, mixed");
ABSL_FLAG(int, concurrency, 8, "closed loop: concurrent clients (mixed: text clients)");
ABSL_FLAG(int, image_concurrency, 2, "mixed, closed loop: image clients beside the text clients");
ABSL_FLAG(double, rate, 0, "open loop: Poisson arrivals per second (0 = closed loop)");
ABSL_FLAG(int, requests, 64, "requests per workload (mixed: text requests)");
ABSL_FLAG(bool, compare_sequential, false,
          "also run each workload one request at a time (also spelled --compare-sequential)");
ABSL_FLAG(std::string, json, "", "write the results as JSON to this file");
ABSL_FLAG(int, chat_max_tokens, 64, "new tokens per chat request (end tokens ignored)");
ABSL_FLAG(int, image_steps, 25, "DDIM steps per image");
ABSL_FLAG(bool, decode_images, true,
          "in-process t2i: each image's timing includes its decode to pixels, as "
          "infusion-server's does (false: stop at the final latents)");
ABSL_FLAG(double, guidance, 3.0, "classifier-free guidance scale");
ABSL_FLAG(int, threads, 0, "compute threads (LibTorch and OpenBLAS pools); 0 = number of cores");
ABSL_FLAG(int, bf16_min_rows, 0,
          "matrix products of steps with at least this many positions in bfloat16 "
          "(AVX512-BF16 CPUs; 0 = float32 only; see docs/benchmarks.md)");
ABSL_FLAG(bool, fused_decoder, true,
          "decoder layers of float32 steps through the fused CPU stack (false: LibTorch's "
          "modules, the reference path)");
ABSL_FLAG(bool, fused_unet, true,
          "U-Net patch layers of float32 steps fused (one packed product per convolution; "
          "false: LibTorch's modules, the reference path)");
ABSL_FLAG(bool, bf16_images, true,
          "on AVX512-BF16 CPUs, the fused decoder's products of images being denoised in "
          "bfloat16 (false: float32 throughout)");
ABSL_FLAG(int, fused_max_rows, 0,
          "steps of at least this many positions take the LibTorch path (0 = none)");
ABSL_FLAG(int, kv_cache_mb, 256, "KV-cache memory budget");
ABSL_FLAG(int, max_tokens_per_step, 512, "scheduler: positions per step");
ABSL_FLAG(double, max_image_share, 0.75, "scheduler: image share of a step while text waits");

ABSL_FLAG(bool, chaos, false,
          "soak a real infusion-server under hostile mixed traffic over gRPC and HTTP and check "
          "that it holds (clients/bench/chaos.h); exits 1 when a check fails");
ABSL_FLAG(std::string, chaos_server_bin, INFUSION_SERVER_BIN,
          "chaos: the infusion-server to start (on --model, default models/shapes)");
ABSL_FLAG(std::string, chaos_server_log, "", "chaos: the started server's log file");
ABSL_FLAG(std::string, chaos_metrics, "",
          "chaos, attaching: the running server's metrics URL (e.g. http://localhost:9464); "
          "with --server, --http and --chaos_pid");
ABSL_FLAG(int, chaos_pid, 0, "chaos, attaching: the running server's PID");
ABSL_FLAG(double, duration_s, 60, "chaos: seconds of the main phase");
ABSL_FLAG(double, chaos_warmup_s, 20, "chaos: seconds of the warm-up phase");
ABSL_FLAG(int, chaos_clients, 6, "chaos: client threads, one call at a time each");
ABSL_FLAG(double, chaos_burst_every_s, 15, "chaos: seconds between bursts");
ABSL_FLAG(int, chaos_burst_size, 48, "chaos: calls sent at once in a burst");
ABSL_FLAG(double, chaos_call_timeout_s, 300, "chaos: a call running longer counts as hung");
ABSL_FLAG(bool, chaos_sigterm, true, "chaos: end with SIGTERM under load");
ABSL_FLAG(double, chaos_drain_grace_s, 120, "chaos: the started server's --drain_grace");
ABSL_FLAG(int64_t, chaos_seed, 1, "chaos: random seed of the traffic");
ABSL_FLAG(double, chaos_rss_growth_limit, 0.05,
          "chaos: largest growth of the idle server's RSS from the warm-up to the end (0.05 = 5%)");

namespace infusion::bench {

using engine::ModelExecutorOptions;
using scheduler::SchedulerOptions;

namespace {

int RunChaosFromFlags() {
  ChaosOptions o;
  o.server_binary = absl::GetFlag(FLAGS_chaos_server_bin);
  o.model_dir = absl::GetFlag(FLAGS_model).empty() ? INFUSION_DEFAULT_MODEL_DIR
                                                   : absl::GetFlag(FLAGS_model);
  o.server_threads = absl::GetFlag(FLAGS_threads);
  o.server_log = absl::GetFlag(FLAGS_chaos_server_log);
  o.attach_grpc = absl::GetFlag(FLAGS_server);
  o.attach_http = absl::GetFlag(FLAGS_http);
  o.attach_metrics = absl::GetFlag(FLAGS_chaos_metrics);
  o.attach_pid = absl::GetFlag(FLAGS_chaos_pid);
  o.api_key = absl::GetFlag(FLAGS_api_key);
  o.duration_s = absl::GetFlag(FLAGS_duration_s);
  o.warmup_s = absl::GetFlag(FLAGS_chaos_warmup_s);
  o.clients = absl::GetFlag(FLAGS_chaos_clients);
  o.burst_every_s = absl::GetFlag(FLAGS_chaos_burst_every_s);
  o.burst_size = absl::GetFlag(FLAGS_chaos_burst_size);
  o.call_timeout_s = absl::GetFlag(FLAGS_chaos_call_timeout_s);
  o.sigterm = absl::GetFlag(FLAGS_chaos_sigterm);
  o.drain_grace_s = absl::GetFlag(FLAGS_chaos_drain_grace_s);
  o.seed = static_cast<uint64_t>(absl::GetFlag(FLAGS_chaos_seed));
  o.rss_growth_limit = absl::GetFlag(FLAGS_chaos_rss_growth_limit);
  if (o.attach_pid == 0 && (!o.attach_grpc.empty() || !o.attach_http.empty())) {
    std::fprintf(stderr, "infusion-bench --chaos: attaching needs --server, --http, "
                         "--chaos_metrics and --chaos_pid\n");
    return 2;
  }
  if (o.clients < 1 || o.duration_s < 0 || o.warmup_s < 0 || o.call_timeout_s <= 0) {
    std::fprintf(stderr, "infusion-bench --chaos: --chaos_clients must be >= 1 and the times "
                         "positive\n");
    return 2;
  }
  return RunChaos(o);
}

int RunEngine(const ModelExecutorOptions& executor_options) {
  EngineBenchOptions options;
  options.profile = absl::GetFlag(FLAGS_profile);
  auto result = RunEngineBench(executor_options, options);
  if (!result.ok()) {
    std::fprintf(stderr, "infusion-bench: %s\n", result.status().ToString().c_str());
    return 1;
  }
  std::fputs(FormatEngineTable(*result).c_str(), stdout);
  if (const std::string path = absl::GetFlag(FLAGS_json); !path.empty()) {
    std::ofstream(path) << EngineToJson(*result);
  }
  return 0;
}

WorkloadParams Workload() {
  WorkloadParams workload;
  workload.chat_max_tokens = absl::GetFlag(FLAGS_chat_max_tokens);
  workload.image_steps = absl::GetFlag(FLAGS_image_steps);
  workload.decode_images = absl::GetFlag(FLAGS_decode_images);
  workload.guidance_scale = static_cast<float>(absl::GetFlag(FLAGS_guidance));
  return workload;
}

// Runs each workload of --workload on `driver`, appending one summary per workload.
bool RunEach(Driver& driver, const std::string& mode, std::vector<LoadSummary>* rows) {
  const std::vector<std::string> names =
      absl::StrSplit(absl::GetFlag(FLAGS_workload), ',', absl::SkipEmpty());
  for (const std::string& name : names) {
    if (name != "chat" && name != "t2i" && name != "mixed") {
      std::fprintf(stderr, "infusion-bench: unknown workload '%s'\n", name.c_str());
      return false;
    }
    LoadSpec spec;
    spec.workload = name;
    spec.concurrency = absl::GetFlag(FLAGS_concurrency);
    spec.image_concurrency = absl::GetFlag(FLAGS_image_concurrency);
    spec.rate = absl::GetFlag(FLAGS_rate);
    spec.requests = absl::GetFlag(FLAGS_requests);
    std::fprintf(stderr, "running %s (%s)...\n", name.c_str(), mode.c_str());
    const std::optional<Driver::EngineCounters> before = driver.Counters();
    rows->push_back(Summarize(spec, mode, RunLoad(driver, spec)));
    rows->back().images_decoded = driver.DecodesImages();
    const std::optional<Driver::EngineCounters> after = driver.Counters();
    if (before && after && after->steps > before->steps) {
      const double steps = static_cast<double>(after->steps - before->steps);
      const double forward = after->forward_seconds - before->forward_seconds;
      rows->back().forward_per_step_s = forward / steps;
      rows->back().outside_forward_per_step_s =
          (after->step_seconds - before->step_seconds - forward) / steps;
    }
  }
  return true;
}

int Report(const std::vector<LoadSummary>& rows) {
  std::fputs(FormatTable(rows).c_str(), stdout);
  if (const std::string path = absl::GetFlag(FLAGS_json); !path.empty()) {
    std::ofstream(path) << ToJson(rows);
  }
  return 0;
}

int RunOverGrpc() {
  client::ClientOptions options;
  options.server = absl::GetFlag(FLAGS_server);
  options.api_key = absl::GetFlag(FLAGS_api_key);
  auto driver = GrpcDriver::Create(options, Workload());
  if (!driver.ok()) {
    std::fprintf(stderr, "infusion-bench: %s\n", driver.status().ToString().c_str());
    return 1;
  }
  if (absl::GetFlag(FLAGS_compare_sequential)) {
    std::fprintf(stderr, "infusion-bench: --compare-sequential needs in-process mode (--model); "
                         "the server's scheduler is configured by the server\n");
  }
  std::vector<LoadSummary> rows;
  if (!RunEach(**driver, "grpc", &rows)) return 2;
  return Report(rows);
}

int RunOverHttp() {
  auto driver = HttpDriver::Create(absl::GetFlag(FLAGS_http), absl::GetFlag(FLAGS_api_key),
                                   Workload());
  if (!driver.ok()) {
    std::fprintf(stderr, "infusion-bench: %s\n", driver.status().ToString().c_str());
    return 1;
  }
  std::vector<LoadSummary> rows;
  if (!RunEach(**driver, "http", &rows)) return 2;
  return Report(rows);
}

int RunWorkloads(const ModelExecutorOptions& executor_options) {
  const WorkloadParams workload = Workload();
  SchedulerOptions continuous;
  continuous.max_tokens_per_step = absl::GetFlag(FLAGS_max_tokens_per_step);
  continuous.max_image_share = absl::GetFlag(FLAGS_max_image_share);
  continuous.max_queued = 4096;
  std::vector<std::pair<std::string, SchedulerOptions>> modes = {{"continuous", continuous}};
  if (absl::GetFlag(FLAGS_compare_sequential)) {
    SchedulerOptions sequential = continuous;
    sequential.max_running = 1;
    modes.emplace_back("sequential", sequential);
  }
  std::vector<LoadSummary> rows;
  for (const auto& [mode, options] : modes) {
    auto driver = InProcessDriver::Create(executor_options, options, workload);
    if (!driver.ok()) {
      std::fprintf(stderr, "infusion-bench: %s\n", driver.status().ToString().c_str());
      return 1;
    }
    if (!RunEach(**driver, mode, &rows)) return 2;
  }
  return Report(rows);
}

}  // namespace
}  // namespace infusion::bench

int main(int argc, char** argv) {
  infusion::PrepareComputeProcess(argv);
  // Accept the dashed spelling of --compare-sequential as well.
  std::vector<std::string> storage(argv, argv + argc);
  for (std::string& a : storage) {
    if (a == "--compare-sequential") a = "--compare_sequential";
  }
  std::vector<char*> args;
  for (std::string& a : storage) args.push_back(a.data());
  infusion::SetVersionFlag("infusion-bench");
  absl::SetProgramUsageMessage("infusion-bench --model DIR [--engine | --workload ...]");
  absl::ParseCommandLine(static_cast<int>(args.size()), args.data());
  infusion::engine::ModelExecutorOptions executor_options;
  executor_options.model_dir = absl::GetFlag(FLAGS_model);
  executor_options.num_threads = absl::GetFlag(FLAGS_threads);
  executor_options.bf16_min_rows = absl::GetFlag(FLAGS_bf16_min_rows);
  executor_options.fused_decoder = absl::GetFlag(FLAGS_fused_decoder);
  executor_options.fused_max_rows = absl::GetFlag(FLAGS_fused_max_rows);
  executor_options.fused_unet = absl::GetFlag(FLAGS_fused_unet);
  executor_options.bf16_images = absl::GetFlag(FLAGS_bf16_images);
  executor_options.kv_cache_bytes = static_cast<size_t>(absl::GetFlag(FLAGS_kv_cache_mb)) << 20;
  if (absl::GetFlag(FLAGS_chaos)) return infusion::bench::RunChaosFromFlags();
  if (!absl::GetFlag(FLAGS_server).empty()) return infusion::bench::RunOverGrpc();
  if (!absl::GetFlag(FLAGS_http).empty()) return infusion::bench::RunOverHttp();
  if (executor_options.model_dir.empty()) {
    std::fprintf(stderr, "infusion-bench: --model, --server or --http is required\n");
    return 2;
  }
  return absl::GetFlag(FLAGS_engine) ? infusion::bench::RunEngine(executor_options)
                                     : infusion::bench::RunWorkloads(executor_options);
}
