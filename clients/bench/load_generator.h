// Closed-loop (N concurrent clients) and open-loop (Poisson arrivals) load over a Driver, and
// the summary statistics that infusion-bench reports.
#ifndef INFUSION_CLIENTS_BENCH_LOAD_GENERATOR_H_
#define INFUSION_CLIENTS_BENCH_LOAD_GENERATOR_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "clients/bench/driver.h"

namespace infusion::bench {

struct LoadSpec {
  std::string workload = "chat";  // chat | t2i | mixed
  int concurrency = 8;            // closed loop: clients (mixed: text clients)
  int image_concurrency = 2;      // mixed, closed loop: image clients beside the text clients
  double rate = 0;                // > 0: open loop, requests per second (Poisson)
  double image_fraction = 0.25;   // mixed, open loop: share of arrivals that are images
  int requests = 64;              // requests of the workload (mixed: text requests)
  uint64_t seed = 1;
};

struct LoadSummary {
  std::string workload, mode;
  int concurrency = 0;
  double rate = 0;
  int completed = 0, failed = 0;
  double duration_s = 0;
  double requests_per_s = 0, output_tokens_per_s = 0, images_per_min = 0;
  bool images_decoded = true;  // image timings include the decode to pixels
  std::optional<double> ttft_p50_s, ttft_p90_s, ttft_p99_s;
  std::optional<double> itl_p50_s, itl_p90_s, itl_p99_s;
  std::optional<double> time_to_image_p50_s, time_to_image_p90_s, time_to_image_p99_s;
  std::optional<double> e2e_p50_s, e2e_p90_s, e2e_p99_s;
  // In-process runs: the engine thread's time per step, in the forward pass and outside it
  // (scheduling, sampling, detokenization, solver, events).
  std::optional<double> forward_per_step_s, outside_forward_per_step_s;
};

std::vector<RequestTiming> RunLoad(Driver& driver, const LoadSpec& spec);
LoadSummary Summarize(const LoadSpec& spec, const std::string& mode,
                      const std::vector<RequestTiming>& timings);

}  // namespace infusion::bench

#endif  // INFUSION_CLIENTS_BENCH_LOAD_GENERATOR_H_
