#include "engine/weights/state_dict.h"

#include <torch/nn/module.h>
#include <torch/utils.h>

#include <set>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"

namespace infusion::engine {
namespace {

std::string ShapeString(at::IntArrayRef shape) {
  return absl::StrCat("[", absl::StrJoin(shape, ", "), "]");
}

}  // namespace

absl::StatusOr<StateDict> StateDict::Load(const std::string& path) {
  ASSIGN_OR_RETURN(std::unique_ptr<SafetensorsFile> file, SafetensorsFile::Open(path));
  StateDict state;
  state.source_ = path;
  for (const std::string& name : file->names()) {
    ASSIGN_OR_RETURN(at::Tensor tensor, file->ReadF32(name));
    state.tensors_.emplace(name, std::move(tensor));
  }
  return state;
}

StateDict StateDict::FromModule(const torch::nn::Module& module) {
  StateDict state;
  state.source_ = module.name();
  for (const auto& item : module.named_parameters(/*recurse=*/true)) {
    state.tensors_.emplace(item.key(), item.value());
  }
  for (const auto& item : module.named_buffers(/*recurse=*/true)) {
    state.tensors_.emplace(item.key(), item.value());
  }
  return state;
}

StateDict StateDict::Select(const std::string& prefix) const {
  StateDict selected;
  selected.source_ = source_;
  selected.prefix_ = prefix_ + prefix;
  for (auto it = tensors_.lower_bound(prefix);
       it != tensors_.end() && absl::StartsWith(it->first, prefix); ++it) {
    selected.tensors_.emplace(it->first.substr(prefix.size()), it->second);
  }
  return selected;
}

std::vector<std::string> StateDict::Names() const {
  std::vector<std::string> names;
  names.reserve(tensors_.size());
  for (const auto& [name, tensor] : tensors_) names.push_back(name);
  return names;
}

absl::StatusOr<at::Tensor> StateDict::Get(const std::string& name) const {
  const auto it = tensors_.find(name);
  if (it == tensors_.end()) {
    return absl::NotFoundError(absl::StrCat(source_, ": tensor '", prefix_, name, "' not found"));
  }
  return it->second;
}

absl::StatusOr<at::Tensor> StateDict::Get(const std::string& name, at::IntArrayRef shape) const {
  ASSIGN_OR_RETURN(at::Tensor tensor, Get(name));
  if (tensor.sizes() != shape) {
    return absl::InvalidArgumentError(absl::StrCat(source_, ": tensor '", prefix_, name,
                                                   "' has shape ", ShapeString(tensor.sizes()),
                                                   ", expected ", ShapeString(shape)));
  }
  return tensor;
}

void StateDict::Insert(const std::string& name, at::Tensor tensor) {
  tensors_[name] = std::move(tensor);
}

absl::Status StateDict::Save(const std::string& path,
                             const std::map<std::string, std::string>& metadata,
                             DType dtype) const {
  const std::vector<std::pair<std::string, at::Tensor>> sorted(tensors_.begin(), tensors_.end());
  return WriteSafetensors(path, sorted, metadata, dtype);
}

absl::Status LoadStateDict(torch::nn::Module& module, const StateDict& state, bool strict) {
  // Plan every copy first and apply none unless all are valid, so that a failed load leaves the
  // module as it was.
  std::vector<std::string> problems;
  std::vector<std::pair<at::Tensor, at::Tensor>> copies;  // (destination, source)
  std::set<std::string> expected;
  for (const auto& targets :
       {module.named_parameters(/*recurse=*/true), module.named_buffers(/*recurse=*/true)}) {
    for (const auto& item : targets) {
      const std::string& name = item.key();
      const at::Tensor& destination = item.value();
      expected.insert(name);
      absl::StatusOr<at::Tensor> source = state.Get(name);
      if (!source.ok()) {
        problems.push_back(absl::StrCat("missing tensor '", state.prefix(), name, "'"));
      } else if (source->sizes() != destination.sizes()) {
        problems.push_back(absl::StrCat("tensor '", state.prefix(), name, "' has shape ",
                                        ShapeString(source->sizes()), ", expected ",
                                        ShapeString(destination.sizes())));
      } else {
        copies.emplace_back(destination, *std::move(source));
      }
    }
  }
  if (strict) {
    for (const std::string& name : state.Names()) {
      if (expected.count(name) == 0) {
        problems.push_back(absl::StrCat("unexpected tensor '", state.prefix(), name, "'"));
      }
    }
  }
  if (!problems.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        state.source(), ": cannot load into ", module.name(), ": ", absl::StrJoin(problems, "; ")));
  }

  torch::NoGradGuard no_grad;
  for (auto& [destination, source] : copies) destination.copy_(source);
  return absl::OkStatus();
}

}  // namespace infusion::engine
