#include "trainer/ema.h"

#include <ATen/ATen.h>
#include <torch/csrc/autograd/grad_mode.h>

#include <algorithm>
#include <map>

#include "absl/strings/str_cat.h"
#include "common/logging.h"

namespace infusion::trainer {

Ema::Ema(const torch::nn::Module& model, double decay) : decay_(decay) {
  torch::NoGradGuard no_grad;
  for (const auto& item : model.named_parameters()) {
    tensors_.emplace_back(item.key(), item.value().detach().clone());
  }
}

void Ema::Update(const torch::nn::Module& model, int64_t num_updates) {
  torch::NoGradGuard no_grad;
  const double d = std::min(decay_, (1.0 + num_updates) / (10.0 + num_updates));
  const auto params = model.named_parameters();
  CHECK_EQ(params.size(), tensors_.size());
  for (size_t i = 0; i < tensors_.size(); ++i) {
    tensors_[i].second.mul_(d).add_(params[i].value().detach(), 1.0 - d);
  }
}

void Ema::CopyTo(torch::nn::Module& model) const {
  torch::NoGradGuard no_grad;
  auto params = model.named_parameters();
  CHECK_EQ(params.size(), tensors_.size());
  for (size_t i = 0; i < tensors_.size(); ++i) params[i].value().copy_(tensors_[i].second);
}

absl::Status Ema::Restore(const std::vector<std::pair<std::string, at::Tensor>>& saved) {
  std::map<std::string, at::Tensor> by_name(saved.begin(), saved.end());
  torch::NoGradGuard no_grad;
  for (auto& [name, tensor] : tensors_) {
    auto it = by_name.find(name);
    if (it == by_name.end()) {
      return absl::InvalidArgumentError(absl::StrCat("EMA weights lack '", name, "'"));
    }
    if (it->second.sizes() != tensor.sizes()) {
      return absl::InvalidArgumentError(absl::StrCat("EMA weight '", name, "' has shape ",
                                                     c10::str(it->second.sizes()), ", expected ",
                                                     c10::str(tensor.sizes())));
    }
    tensor.copy_(it->second);
  }
  return absl::OkStatus();
}

}  // namespace infusion::trainer
