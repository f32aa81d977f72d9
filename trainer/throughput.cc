#include "trainer/throughput.h"

#include <ATen/ATen.h>
#include <torch/csrc/autograd/grad_mode.h>

#include <algorithm>
#include <chrono>
#include <vector>

#include "absl/strings/match.h"

namespace infusion::trainer {

using engine::ModelConfig;
using engine::TransfusionModelImpl;

ParameterCounts CountParameters(const TransfusionModelImpl& model) {
  ParameterCounts counts;
  const bool tied = model.config().tie_word_embeddings;
  for (const auto& item : model.named_parameters()) {
    const std::string& name = item.key();
    const int64_t n = item.value().numel();
    counts.total += n;
    if (absl::StartsWith(name, "model.layers.") || name == "model.norm.weight") {
      counts.backbone += n;
    } else if (absl::StartsWith(name, "image.")) {
      counts.image += n;
    } else if (name == "lm_head.weight" || (tied && name == "model.embed_tokens.weight")) {
      counts.lm_head += n;
    }
  }
  return counts;
}

double TrainingFlops(const ModelConfig& config, const ParameterCounts& params,
                     const TrainingBatch& batch) {
  const double tokens = static_cast<double>(batch.num_tokens);
  const double patches = batch.input.image_positions.defined()
                             ? static_cast<double>(batch.input.image_positions.numel())
                             : 0.0;
  const double lm_targets = static_cast<double>(batch.lm_targets.numel());
  const double weights = static_cast<double>(params.backbone) * tokens +
                         static_cast<double>(params.image) * patches +
                         static_cast<double>(params.lm_head) * lm_targets;
  const double attention = 12.0 * config.num_hidden_layers * config.hidden_size *
                           static_cast<double>(batch.attention_pairs);
  return 6.0 * weights + attention;
}

double MeasureMatmulFlops(int64_t n, int repeats) {
  torch::NoGradGuard no_grad;
  const at::Tensor a = at::randn({n, n}), b = at::randn({n, n});
  at::Tensor c = at::mm(a, b);  // warm-up: thread pool, caches
  std::vector<double> seconds;
  for (int i = 0; i < repeats; ++i) {
    const auto start = std::chrono::steady_clock::now();
    c = at::mm(a, b);
    seconds.push_back(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  std::sort(seconds.begin(), seconds.end());
  return 2.0 * static_cast<double>(n) * n * n / seconds[seconds.size() / 2];
}

}  // namespace infusion::trainer
