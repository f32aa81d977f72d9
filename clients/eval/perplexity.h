// Perplexity of a language model over text: exp of the mean negative log-likelihood of every
// token given the tokens before it. Text longer than the model's context is cut into windows of
// at most max_position_embeddings positions, each opened by <s> (no overlap, so each token is
// scored once, with the context its window gives it).
#ifndef INFUSION_CLIENTS_EVAL_PERPLEXITY_H_
#define INFUSION_CLIENTS_EVAL_PERPLEXITY_H_

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <vector>

namespace infusion::eval {

// `tokens` cut into windows of `bos` then at most max_length - 1 tokens (max_length >= 2).
std::vector<std::vector<int>> SplitIntoWindows(const std::vector<int>& tokens, int bos,
                                               int max_length);

class PerplexityMeter {
 public:
  // logits: [L, vocab], row i predicting window[i + 1]; window: [L] token ids. Adds the NLL of
  // window[1..L-1] (the opening <s> is given, never predicted).
  void AddWindow(const at::Tensor& logits, const std::vector<int>& window);

  int64_t tokens() const { return tokens_; }
  double mean_nll() const { return tokens_ == 0 ? 0.0 : nll_sum_ / tokens_; }  // nats per token
  double perplexity() const;

 private:
  double nll_sum_ = 0;
  int64_t tokens_ = 0;
};

}  // namespace infusion::eval

#endif  // INFUSION_CLIENTS_EVAL_PERPLEXITY_H_
