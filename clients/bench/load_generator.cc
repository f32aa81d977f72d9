#include "clients/bench/load_generator.h"

#include <algorithm>
#include <atomic>
#include <mutex>
#include <random>
#include <thread>

namespace infusion::bench {

std::vector<RequestTiming> RunLoad(Driver& driver, const LoadSpec& spec) {
  std::mutex mu;
  std::vector<RequestTiming> timings;
  auto record = [&](RequestTiming t) {
    std::lock_guard<std::mutex> lock(mu);
    timings.push_back(std::move(t));
  };
  const bool text = spec.workload != "t2i";
  const WorkKind main_kind = text ? WorkKind::kChat : WorkKind::kTextToImage;
  std::vector<std::thread> threads;
  if (spec.rate <= 0) {
    // Closed loop: each client sends its next request when the previous one finishes.
    std::atomic<int> next{0}, next_image{0};
    std::atomic<int> main_clients_left{spec.concurrency};
    for (int c = 0; c < spec.concurrency; ++c) {
      threads.emplace_back([&] {
        for (int i; (i = next++) < spec.requests;) record(driver.Run(main_kind, i));
        --main_clients_left;
      });
    }
    if (spec.workload == "mixed") {
      // Image clients run as long as the text clients do: the text load is that of `chat`.
      for (int c = 0; c < spec.image_concurrency; ++c) {
        threads.emplace_back([&] {
          while (main_clients_left > 0) record(driver.Run(WorkKind::kTextToImage, next_image++));
        });
      }
    }
  } else {
    // Open loop: Poisson arrivals, each request on its own thread.
    std::mt19937_64 rng(spec.seed);
    std::exponential_distribution<double> gap(spec.rate);
    std::uniform_real_distribution<double> coin(0, 1);
    const double start = driver.clock().Now();
    double at = start;
    for (int i = 0; i < spec.requests; ++i) {
      at += gap(rng);
      while (driver.clock().Now() < at) std::this_thread::sleep_for(std::chrono::microseconds(200));
      WorkKind kind = main_kind;
      if (spec.workload == "mixed" && coin(rng) < spec.image_fraction) kind = WorkKind::kTextToImage;
      threads.emplace_back([&, kind, i] { record(driver.Run(kind, i)); });
    }
  }
  for (std::thread& t : threads) t.join();
  return timings;
}

LoadSummary Summarize(const LoadSpec& spec, const std::string& mode,
                      const std::vector<RequestTiming>& timings) {
  LoadSummary s;
  s.workload = spec.workload;
  s.mode = mode;
  s.concurrency = spec.rate > 0 ? 0 : spec.concurrency;
  s.rate = spec.rate;
  double first = 1e300, last = 0;
  int tokens = 0, images = 0;
  std::vector<double> ttft, itl, tti, e2e;
  for (const RequestTiming& t : timings) {
    if (!t.ok) {
      ++s.failed;
      continue;
    }
    ++s.completed;
    first = std::min(first, t.start);
    last = std::max(last, t.end);
    e2e.push_back(t.end - t.start);
    if (t.kind == WorkKind::kChat) {
      tokens += t.output_tokens;
      if (t.first_token) ttft.push_back(*t.first_token - t.start);
      for (size_t k = 1; k < t.token_times.size(); ++k) {
        itl.push_back(t.token_times[k] - t.token_times[k - 1]);
      }
    } else if (t.image) {
      ++images;
      tti.push_back(*t.image - t.start);
    }
  }
  s.duration_s = s.completed > 0 ? last - first : 0;
  if (s.duration_s > 0) {
    s.requests_per_s = s.completed / s.duration_s;
    s.output_tokens_per_s = tokens / s.duration_s;
    s.images_per_min = images * 60.0 / s.duration_s;
  }
  s.ttft_p50_s = Percentile(ttft, 50), s.ttft_p90_s = Percentile(ttft, 90);
  s.ttft_p99_s = Percentile(ttft, 99);
  s.itl_p50_s = Percentile(itl, 50), s.itl_p90_s = Percentile(itl, 90);
  s.itl_p99_s = Percentile(itl, 99);
  s.time_to_image_p50_s = Percentile(tti, 50), s.time_to_image_p90_s = Percentile(tti, 90);
  s.time_to_image_p99_s = Percentile(tti, 99);
  s.e2e_p50_s = Percentile(e2e, 50), s.e2e_p90_s = Percentile(e2e, 90);
  s.e2e_p99_s = Percentile(e2e, 99);
  return s;
}

}  // namespace infusion::bench
