#include "clients/bench/report.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "nlohmann/json.hpp"

namespace infusion::bench {
namespace {

std::string Ms(const std::optional<double>& seconds) {
  return seconds ? absl::StrFormat("%.1f", *seconds * 1e3) : "-";
}

std::string Ms3(const std::optional<double>& seconds) {
  return seconds ? absl::StrFormat("%.3f", *seconds * 1e3) : "-";
}

nlohmann::json OrNull(const std::optional<double>& v) {
  return v ? nlohmann::json(*v) : nlohmann::json(nullptr);
}

}  // namespace

std::string FormatTable(const std::vector<LoadSummary>& rows) {
  std::string out = absl::StrFormat(
      "%-7s %-11s %5s %5s %8s %8s %8s %17s %17s %17s %17s %15s\n", "load", "mode", "conc",
      "done", "req/s", "tok/s", "img/min", "TTFT p50/p99 ms", "ITL p50/p99 ms",
      "image p50/p99 ms", "e2e p50/p99 ms", "step fwd/rest ms");
  for (const LoadSummary& s : rows) {
    out += absl::StrFormat("%-7s %-11s %5d %5d %8.2f %8.1f %8.1f %17s %17s %17s %17s %15s\n",
                           s.workload, s.mode, s.concurrency, s.completed, s.requests_per_s,
                           s.output_tokens_per_s, s.images_per_min,
                           Ms(s.ttft_p50_s) + "/" + Ms(s.ttft_p99_s),
                           Ms(s.itl_p50_s) + "/" + Ms(s.itl_p99_s),
                           Ms(s.time_to_image_p50_s) + "/" + Ms(s.time_to_image_p99_s),
                           Ms(s.e2e_p50_s) + "/" + Ms(s.e2e_p99_s),
                           Ms(s.forward_per_step_s) + "/" + Ms3(s.outside_forward_per_step_s));
  }
  return out;
}

std::string ToJson(const std::vector<LoadSummary>& rows) {
  nlohmann::json list = nlohmann::json::array();
  for (const LoadSummary& s : rows) {
    list.push_back({{"workload", s.workload},
                    {"mode", s.mode},
                    {"concurrency", s.concurrency},
                    {"rate", s.rate > 0 ? nlohmann::json(s.rate) : nlohmann::json(nullptr)},
                    {"completed", s.completed},
                    {"failed", s.failed},
                    {"duration_s", s.duration_s},
                    {"requests_per_s", s.requests_per_s},
                    {"output_tokens_per_s", s.output_tokens_per_s},
                    {"images_per_min", s.images_per_min},
                    {"images_decoded", s.images_decoded},
                    {"ttft_p50_s", OrNull(s.ttft_p50_s)},
                    {"ttft_p90_s", OrNull(s.ttft_p90_s)},
                    {"ttft_p99_s", OrNull(s.ttft_p99_s)},
                    {"itl_p50_s", OrNull(s.itl_p50_s)},
                    {"itl_p90_s", OrNull(s.itl_p90_s)},
                    {"itl_p99_s", OrNull(s.itl_p99_s)},
                    {"time_to_image_p50_s", OrNull(s.time_to_image_p50_s)},
                    {"time_to_image_p90_s", OrNull(s.time_to_image_p90_s)},
                    {"time_to_image_p99_s", OrNull(s.time_to_image_p99_s)},
                    {"forward_per_step_s", OrNull(s.forward_per_step_s)},
                    {"outside_forward_per_step_s", OrNull(s.outside_forward_per_step_s)},
                    {"e2e_p50_s", OrNull(s.e2e_p50_s)},
                    {"e2e_p90_s", OrNull(s.e2e_p90_s)},
                    {"e2e_p99_s", OrNull(s.e2e_p99_s)}});
  }
  return list.dump(2) + "\n";
}

std::string FormatEngineTable(const EngineBenchResult& r) {
  std::string out = absl::StrFormat("cpu: %s\nmatmul peak (%s): %.1f GFLOP/s\n",
                                    r.cpu_features, r.matmul_shape, r.matmul_peak_gflops);
  out += absl::StrFormat("%-8s %6s %10s %10s %10s %10s\n", "kind", "batch", "positions",
                         "step ms", "GFLOP/s", "of peak");
  for (const EngineBenchRow& row : r.rows) {
    out += absl::StrFormat("%-8s %6d %10d %10.2f %10.2f %9.1f%%\n", row.kind, row.batch,
                           row.positions, row.step_ms, row.gflops,
                           100.0 * row.gflops / r.matmul_peak_gflops);
  }
  for (const EngineBenchRow& row : r.rows) {
    if (row.kind != "decode" || row.batch != 1 || r.read_bandwidth_gbps <= 0) continue;
    const double read_ms = r.decode_weight_bytes / (r.read_bandwidth_gbps * 1e9) * 1e3;
    out += absl::StrFormat(
        "\ndecode of 1 sequence: %.3f ms per step; reading its %.1f MB of weights once at the "
        "read bandwidth measured here (%.1f GB/s, all threads): %.3f ms; step / read = %.2fx\n",
        row.step_ms, r.decode_weight_bytes / 1e6, r.read_bandwidth_gbps, read_ms,
        row.step_ms / read_ms);
  }
  if (r.image_shares.batch > 0) {
    const auto& s = r.image_shares;
    out += absl::StrFormat(
        "largest image step (denoise, %d images): %.2f ms per step under the profiler; matrix "
        "products %.1f%%, convolutions %.1f%%, everything else %.1f%%\n",
        s.batch, s.step_ms, 100 * s.product_share, 100 * s.convolution_share,
        100 * (1 - s.product_share - s.convolution_share));
  }
  if (!r.dtypes.empty()) {
    out += "\none layer's matrix products (q k v o gate up down), float32 vs bfloat16\n";
    out += absl::StrFormat("%6s %12s %12s %9s\n", "rows", "float32 us", "bfloat16 us", "speedup");
    for (const DtypeRow& d : r.dtypes) {
      out += absl::StrFormat("%6d %12.1f %12.1f %8.2fx\n", d.rows, d.float32_us, d.bfloat16_us,
                             d.float32_us / d.bfloat16_us);
    }
  }
  for (const EngineBenchRow& row : r.rows) {
    if (row.ops.empty()) continue;
    out += absl::StrFormat("\n%s, batch %d: %.2f ms per step; self time by operator\n", row.kind,
                           row.batch, row.step_ms);
    for (const EngineBenchRow::Op& op : row.ops) {
      out += absl::StrFormat("  %-36s %8.3f ms %8.1f calls\n", op.name, op.self_ms, op.calls);
    }
  }
  return out;
}

std::string EngineToJson(const EngineBenchResult& r) {
  nlohmann::json rows = nlohmann::json::array();
  for (const EngineBenchRow& row : r.rows) {
    rows.push_back({{"kind", row.kind},
                    {"batch", row.batch},
                    {"positions", row.positions},
                    {"step_ms", row.step_ms},
                    {"gflops", row.gflops},
                    {"fraction_of_peak", row.gflops / r.matmul_peak_gflops}});
    if (!row.ops.empty()) {
      nlohmann::json ops = nlohmann::json::array();
      for (const EngineBenchRow::Op& op : row.ops) {
        ops.push_back({{"name", op.name}, {"self_ms", op.self_ms}, {"calls", op.calls}});
      }
      rows.back()["ops"] = std::move(ops);
    }
  }
  nlohmann::json dtypes = nlohmann::json::array();
  for (const DtypeRow& d : r.dtypes) {
    dtypes.push_back(
        {{"rows", d.rows}, {"float32_us", d.float32_us}, {"bfloat16_us", d.bfloat16_us}});
  }
  return nlohmann::json{{"cpu_features", r.cpu_features},
                        {"matmul_peak_gflops", r.matmul_peak_gflops},
                        {"matmul_shape", r.matmul_shape},
                        {"read_bandwidth_gbps", r.read_bandwidth_gbps},
                        {"decode_weight_bytes", r.decode_weight_bytes},
                        {"largest_image_step",
                         {{"batch", r.image_shares.batch},
                          {"step_ms", r.image_shares.step_ms},
                          {"product_share", r.image_shares.product_share},
                          {"convolution_share", r.image_shares.convolution_share}}},
                        {"rows", rows},
                        {"layer_products_by_dtype", dtypes}}
             .dump(2) +
         "\n";
}

}  // namespace infusion::bench
