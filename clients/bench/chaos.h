// `infusion-bench --chaos`: a soak of a real infusion-server under hostile, mixed traffic over
// both front ends (gRPC and the OpenAI-compatible HTTP API), with checks (docs/reliability.md,
// "Soak under chaos"):
//   - every call ends with exactly one outcome, and that outcome is one its plan allows (0 lost,
//     0 hung: a call past --chaos_call_timeout_s counts as hung); malformed inputs get their
//     error class, never INTERNAL or a 5xx; streams are well-formed;
//   - after the load drains, requests running and waiting and KV blocks held by requests
//     (infusion_kv_cache_usage_ratio, which leaves out prefix-cache blocks no request holds)
//     return to 0;
//   - resident memory (VmRSS), measured idle after the warm-up and idle at the end, grows <= 5%;
//   - the server process is the same one throughout (PID and start time), never down;
//   - bursts beyond the queue are refused with RESOURCE_EXHAUSTED / 429;
//   - SIGTERM under load: calls the server had accepted end as their plan says (drained), and
//     the server exits 0.
// The run: warm-up (the chaos mix, plus every malformed input of the catalogue once), quiesce,
// the main phase, quiesce, then the SIGTERM phase.
#ifndef INFUSION_CLIENTS_BENCH_CHAOS_H_
#define INFUSION_CLIENTS_BENCH_CHAOS_H_

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "clients/bench/chaos_calls.h"

namespace infusion::bench {

struct ChaosOptions {
  // Start this server (when `attach_pid` is 0) on `model_dir`.
  std::string server_binary;
  std::string model_dir;
  int server_threads = 0;      // --threads of the server; 0 = the server's default
  std::string server_log;      // where the server's output goes; "" = a file in /tmp
  std::vector<std::string> extra_server_flags;
  // Or attach to a running server: all four are needed.
  std::string attach_grpc, attach_http, attach_metrics;
  pid_t attach_pid = 0;
  std::string api_key;

  double warmup_s = 20;    // the warm-up phase
  double duration_s = 60;  // the main phase
  int clients = 6;         // client threads, each one call at a time
  double burst_every_s = 15;
  int burst_size = 48;     // calls fired at once in a burst (the started server queues 8 + 8)
  double call_timeout_s = 300;  // a call running longer is hung
  double quiesce_timeout_s = 120;
  double rss_growth_limit = 0.05;
  bool sigterm = true;
  double drain_grace_s = 120;  // the started server's --drain_grace
  uint64_t seed = 1;
  ChaosMix mix;
};

// Runs the soak, prints the report to stdout (progress to stderr), and returns the process exit
// code: 0 when every check passed, 1 when one failed, 2 when the run could not be made.
int RunChaos(const ChaosOptions& options);

}  // namespace infusion::bench

#endif  // INFUSION_CLIENTS_BENCH_CHAOS_H_
