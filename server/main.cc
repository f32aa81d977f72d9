// infusion-server: serves a Transfusion model over gRPC (docs/api.md).
//
//   infusion-server [--model models/NAME] [--port 50051] [--metrics_port 9464] [...]
//
// Without --model it serves the bundled default model (models/shapes), found beside the
// executable: PREFIX/share/infusion/models/shapes once installed, models/shapes of the source tree
// when run from build/ (server/default_model.h).
// SIGTERM or SIGINT drains: health turns NOT_SERVING, new calls are refused, running calls get
// --drain_grace to finish, and the process exits 0.
#include <fcntl.h>
#include <malloc.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <thread>

#include "common/process_env.h"
#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/synchronization/notification.h"
#include "common/logging.h"
#include "common/version.h"
#include "server/default_model.h"
#include "server/infusion_server.h"
#include "server/server_options.h"

ABSL_FLAG(std::string, model, "",
          "model directory (docs/model-format.md); empty: the bundled models/shapes");
ABSL_FLAG(std::string, host, "0.0.0.0", "address to listen on ([::] for IPv6)");
ABSL_FLAG(int, port, 50051, "gRPC port; 0 = any free port (see --port_file)");
ABSL_FLAG(int, metrics_port, 9464, "Prometheus /metrics port; 0 = any free port");
ABSL_FLAG(int, http_port, -1,
          "OpenAI-compatible HTTP API port (docs/api.md); 0 = any free port, -1 = off");
ABSL_FLAG(int, http_threads, 64, "HTTP connections served at once (each stream holds one)");
ABSL_FLAG(std::string, port_file, "",
          "write 'grpc PORT', 'metrics PORT' (and 'http PORT') lines here once listening");
ABSL_FLAG(std::string, device, "cpu", "LibTorch device");
ABSL_FLAG(int, threads, 0, "compute threads (LibTorch and OpenBLAS pools); 0 = number of cores");
ABSL_FLAG(int, bf16_min_rows, 0,
          "matrix products of steps with at least this many positions in bfloat16 "
          "(AVX512-BF16 CPUs; 0 = float32 only; see docs/benchmarks.md)");
ABSL_FLAG(bool, bf16_images, true,
          "on CPUs with AVX512-BF16, the matrix products of images being generated in bfloat16 "
          "(float32 sums; text stays float32); false: float32 throughout");
ABSL_FLAG(int64_t, kv_cache_mb, 256, "memory for the KV cache, MiB");
ABSL_FLAG(int, block_size, 16, "positions per KV-cache block");
ABSL_FLAG(int, max_tokens_per_step, 512, "step token budget: positions computed per step");
ABSL_FLAG(int, max_running, 64, "requests the engine runs at once");
ABSL_FLAG(int, max_queued, 256, "waiting requests; more are refused with RESOURCE_EXHAUSTED");
ABSL_FLAG(bool, prefix_cache, true, "share KV blocks of identical prompt prefixes");
ABSL_FLAG(int, max_message_mb, 64, "largest request message (gRPC) or body (HTTP), MiB");
ABSL_FLAG(int64_t, max_image_bytes, 16 << 20, "largest encoded request image, bytes");
ABSL_FLAG(int64_t, max_image_pixels, 4096LL * 4096, "largest request image, width x height");
ABSL_FLAG(int, max_image_aspect_ratio, 32, "largest longer-to-shorter side ratio of a request image");
ABSL_FLAG(int, max_jpeg_scans, 100, "most scans a request JPEG may have (progressive JPEGs)");
ABSL_FLAG(std::string, api_keys_file, "",
          "file of API keys, one per line; every call must then send 'authorization: Bearer KEY'");
ABSL_FLAG(std::string, tls_cert, "", "PEM certificate chain; with --tls_key, serve TLS");
ABSL_FLAG(std::string, tls_key, "", "PEM private key");
ABSL_FLAG(absl::Duration, drain_grace, absl::Seconds(30),
          "on SIGTERM, how long running calls may take to finish");
ABSL_FLAG(int, stream_threads, 2, "threads that encode responses (PNG) off the engine thread");
ABSL_FLAG(absl::Duration, malloc_trim_every, absl::Seconds(10),
          "hand heap memory that calls have freed back to the system this often (glibc "
          "malloc_trim); 0 = never");
ABSL_FLAG(int, malloc_arena_max, 2,
          "most glibc malloc arenas the server's threads share (mallopt M_ARENA_MAX); 0 = glibc's "
          "default, 8 per core");

namespace {

// SIGTERM and SIGINT are turned into a byte on this pipe, which main() waits for. A handler is
// needed rather than sigwait: libraries start threads before main() (OpenBLAS its pool), and the
// kernel may deliver a signal to any thread that does not block it.
int signal_pipe[2] = {-1, -1};

void OnSignal(int signal) {
  const char byte = static_cast<char>(signal);
  [[maybe_unused]] const ssize_t n = write(signal_pipe[1], &byte, 1);
}

void InstallSignalHandlers() {
  if (pipe2(signal_pipe, O_CLOEXEC) != 0) {
    std::perror("infusion-server: pipe2");
    std::exit(1);
  }
  struct sigaction action = {};
  action.sa_handler = OnSignal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;
  sigaction(SIGTERM, &action, nullptr);
  sigaction(SIGINT, &action, nullptr);
}

int AwaitSignal() {
  char byte = 0;
  while (read(signal_pipe[0], &byte, 1) < 0 && errno == EINTR) {
  }
  return byte;
}

// glibc keeps what a thread frees in that thread's arena for its next allocations and gives back
// only the top of an arena: after bursts of large request buffers (bodies, images, PNGs) on many
// threads, free memory stays resident. A 13-minute chaos soak grew the idle server's RSS by 9%
// while malloc_stats' in-use bytes stayed flat, and malloc_trim gave 50 MB back at once; with
// this trim the growth was 6.6% (docs/reliability.md, "Soak under chaos"). A trim costs
// milliseconds.
class HeapTrimmer {
 public:
  explicit HeapTrimmer(absl::Duration every) {
    if (every <= absl::ZeroDuration()) return;
    thread_ = std::thread([this, every] {
      while (!stop_.WaitForNotificationWithTimeout(every)) malloc_trim(0);
    });
  }
  ~HeapTrimmer() {
    stop_.Notify();
    if (thread_.joinable()) thread_.join();
  }

 private:
  absl::Notification stop_;
  std::thread thread_;
};

// What trimming cannot give back is free memory inside glibc's per-thread arenas: pages where a
// few live small allocations sit among freed ones. By default every thread that allocates while
// the others hold their arenas gets a new one, up to 8 per core, and the server's gRPC, HTTP and
// encoder threads all do; in the soak, the idle server's RSS still grew 6.6% in 11 minutes with
// the trim, the arenas' mappings growing most. Two arenas took a 5-minute soak to +2.5%
// (docs/reliability.md). Set before the server starts its threads.
void LimitMallocArenas(int arenas) {
  if (arenas > 0 && mallopt(M_ARENA_MAX, arenas) != 1) {
    LOG(WARNING) << "mallopt(M_ARENA_MAX, " << arenas << ") failed";
  }
}

infusion::server::ServerOptions OptionsFromFlags() {
  infusion::server::ServerOptions o;
  o.engine.executor.model_dir = absl::GetFlag(FLAGS_model);
  o.engine.executor.device = absl::GetFlag(FLAGS_device);
  o.engine.executor.num_threads = absl::GetFlag(FLAGS_threads);
  o.engine.executor.bf16_min_rows = absl::GetFlag(FLAGS_bf16_min_rows);
  o.engine.executor.bf16_images = absl::GetFlag(FLAGS_bf16_images);
  o.engine.executor.kv_cache_bytes = static_cast<size_t>(absl::GetFlag(FLAGS_kv_cache_mb)) << 20;
  o.engine.executor.block_size = absl::GetFlag(FLAGS_block_size);
  o.engine.scheduler.max_tokens_per_step = absl::GetFlag(FLAGS_max_tokens_per_step);
  o.engine.scheduler.max_running = absl::GetFlag(FLAGS_max_running);
  o.engine.scheduler.max_queued = absl::GetFlag(FLAGS_max_queued);
  o.engine.scheduler.enable_prefix_cache = absl::GetFlag(FLAGS_prefix_cache);
  o.host = absl::GetFlag(FLAGS_host);
  o.port = absl::GetFlag(FLAGS_port);
  o.metrics_port = absl::GetFlag(FLAGS_metrics_port);
  o.http_port = absl::GetFlag(FLAGS_http_port);
  o.http_threads = absl::GetFlag(FLAGS_http_threads);
  o.port_file = absl::GetFlag(FLAGS_port_file);
  o.max_message_bytes = absl::GetFlag(FLAGS_max_message_mb) << 20;
  o.engine.image_limits.max_bytes = static_cast<size_t>(absl::GetFlag(FLAGS_max_image_bytes));
  o.engine.image_limits.max_pixels = absl::GetFlag(FLAGS_max_image_pixels);
  o.engine.image_limits.max_aspect_ratio = absl::GetFlag(FLAGS_max_image_aspect_ratio);
  o.engine.image_limits.max_jpeg_scans = absl::GetFlag(FLAGS_max_jpeg_scans);
  o.api_keys_file = absl::GetFlag(FLAGS_api_keys_file);
  o.tls_cert = absl::GetFlag(FLAGS_tls_cert);
  o.tls_key = absl::GetFlag(FLAGS_tls_key);
  o.drain_grace = absl::GetFlag(FLAGS_drain_grace);
  o.stream_threads = absl::GetFlag(FLAGS_stream_threads);
  return o;
}

}  // namespace

int main(int argc, char** argv) {
  infusion::PrepareComputeProcess(argv);
  infusion::SetVersionFlag("infusion-server");
  absl::SetProgramUsageMessage("infusion-server [--model DIR] [flags]; see --help");
  absl::ParseCommandLine(argc, argv);
  LimitMallocArenas(absl::GetFlag(FLAGS_malloc_arena_max));

  InstallSignalHandlers();  // a signal during start-up drains as soon as the server is up
  infusion::server::ServerOptions options = OptionsFromFlags();
  if (options.engine.executor.model_dir.empty()) {
    absl::StatusOr<std::string> model =
        infusion::server::FindDefaultModel(infusion::server::ExecutablePath(argv[0]));
    if (!model.ok()) {
      std::fprintf(stderr, "infusion-server: %s\n", std::string(model.status().message()).c_str());
      return 1;
    }
    LOG(INFO) << "no --model: serving the default model " << *model;
    options.engine.executor.model_dir = *model;
  }
  absl::StatusOr<std::unique_ptr<infusion::server::InfusionServer>> server =
      infusion::server::InfusionServer::Create(options);
  if (!server.ok()) {
    std::fprintf(stderr, "infusion-server: %s\n", server.status().ToString().c_str());
    return 1;
  }
  HeapTrimmer trimmer(absl::GetFlag(FLAGS_malloc_trim_every));
  const int signal = AwaitSignal();
  LOG(INFO) << (signal == SIGTERM ? "SIGTERM" : "SIGINT") << " received";
  (*server)->Drain(options.drain_grace);
  return 0;
}
