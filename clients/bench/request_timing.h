// What one benchmark request measured, and percentiles over many.
#ifndef INFUSION_CLIENTS_BENCH_REQUEST_TIMING_H_
#define INFUSION_CLIENTS_BENCH_REQUEST_TIMING_H_

#include <optional>
#include <string>
#include <vector>

namespace infusion::bench {

enum class WorkKind { kChat, kTextToImage };

struct RequestTiming {
  WorkKind kind = WorkKind::kChat;
  bool ok = false;
  std::string error;
  double start = 0;                 // seconds on the run's clock
  std::optional<double> first_token;  // first text event
  std::vector<double> token_times;  // every text event
  std::optional<double> image;      // the generated image
  double end = 0;                   // finish event
  int output_tokens = 0;
};

// The p-th percentile (0..100) by linear interpolation; nullopt for no samples.
std::optional<double> Percentile(std::vector<double> values, double p);

}  // namespace infusion::bench

#endif  // INFUSION_CLIENTS_BENCH_REQUEST_TIMING_H_
