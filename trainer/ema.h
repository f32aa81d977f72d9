// An exponential moving average of a model's parameters (Polyak averaging), the weights that
// diffusion models are usually sampled from. The decay is warmed up as in TensorFlow's
// ExponentialMovingAverage with num_updates, min(decay, (1 + n) / (10 + n)) at update n, so
// that a short run's average is not dominated by the random initialisation.
#ifndef INFUSION_TRAINER_EMA_H_
#define INFUSION_TRAINER_EMA_H_

#include <ATen/core/Tensor.h>
#include <torch/nn/module.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"

namespace infusion::trainer {

class Ema {
 public:
  // Starts from a copy of `model`'s parameters; decay in (0, 1).
  Ema(const torch::nn::Module& model, double decay);

  // ema = d * ema + (1 - d) * param, d the warmed-up decay of update `num_updates` (0-based).
  void Update(const torch::nn::Module& model, int64_t num_updates);
  // Writes the averaged parameters into `model` (a module of the same architecture).
  void CopyTo(torch::nn::Module& model) const;

  // The averages under the model's parameter names, for checkpoints.
  const std::vector<std::pair<std::string, at::Tensor>>& tensors() const { return tensors_; }
  // Restores averages saved from tensors(); InvalidArgument naming a missing or misshaped one.
  absl::Status Restore(const std::vector<std::pair<std::string, at::Tensor>>& saved);

 private:
  double decay_;
  std::vector<std::pair<std::string, at::Tensor>> tensors_;  // in named_parameters() order
};

}  // namespace infusion::trainer

#endif  // INFUSION_TRAINER_EMA_H_
