#include "clients/eval/perplexity.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>

#include "common/logging.h"

namespace infusion::eval {

std::vector<std::vector<int>> SplitIntoWindows(const std::vector<int>& tokens, int bos,
                                               int max_length) {
  CHECK_GE(max_length, 2);
  const size_t per_window = static_cast<size_t>(max_length) - 1;
  std::vector<std::vector<int>> windows;
  for (size_t begin = 0; begin < tokens.size(); begin += per_window) {
    const size_t end = std::min(tokens.size(), begin + per_window);
    std::vector<int> window = {bos};
    window.insert(window.end(), tokens.begin() + begin, tokens.begin() + end);
    windows.push_back(std::move(window));
  }
  return windows;
}

void PerplexityMeter::AddWindow(const at::Tensor& logits, const std::vector<int>& window) {
  const int64_t length = static_cast<int64_t>(window.size());
  CHECK(logits.dim() == 2 && logits.size(0) == length) << "logits must be [window length, vocab]";
  if (length < 2) return;
  const at::Tensor log_probs = at::log_softmax(logits.slice(0, 0, length - 1).to(at::kDouble), -1);
  const at::Tensor targets =
      at::tensor(std::vector<int64_t>(window.begin() + 1, window.end()), at::kLong).unsqueeze(1);
  nll_sum_ -= log_probs.gather(1, targets).sum().item<double>();
  tokens_ += length - 1;
}

double PerplexityMeter::perplexity() const { return std::exp(mean_nll()); }

}  // namespace infusion::eval
