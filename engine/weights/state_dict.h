// A named set of float32 tensors, as loaded from a checkpoint, and loading it into modules.
#ifndef INFUSION_ENGINE_WEIGHTS_STATE_DICT_H_
#define INFUSION_ENGINE_WEIGHTS_STATE_DICT_H_

#include <ATen/core/Tensor.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "engine/weights/safetensors.h"

namespace torch::nn {
class Module;
}

namespace infusion::engine {

class StateDict {
 public:
  StateDict() = default;

  // Reads every tensor of a safetensors file as float32. `source` (the file path) is kept for
  // error messages.
  static absl::StatusOr<StateDict> Load(const std::string& path);
  // All parameters and buffers of a module, under their registered names (shares storage).
  static StateDict FromModule(const torch::nn::Module& module);

  // The tensors whose names start with `prefix`, with the prefix removed ("layers.3." ->
  // "self_attn.q_proj.weight"). The source is remembered so that errors show full names.
  StateDict Select(const std::string& prefix) const;

  bool Contains(const std::string& name) const { return tensors_.count(name) > 0; }
  size_t size() const { return tensors_.size(); }
  std::vector<std::string> Names() const;
  // NotFound naming "<source>: tensor '<prefix+name>'" when absent.
  absl::StatusOr<at::Tensor> Get(const std::string& name) const;
  // As Get, and InvalidArgument naming the tensor, the expected and the actual shape when the
  // shape differs.
  absl::StatusOr<at::Tensor> Get(const std::string& name, at::IntArrayRef shape) const;
  void Insert(const std::string& name, at::Tensor tensor);

  // Saves as safetensors (F32 unless told otherwise), names sorted.
  absl::Status Save(const std::string& path,
                    const std::map<std::string, std::string>& metadata = {},
                    DType dtype = DType::kF32) const;

  const std::string& source() const { return source_; }
  const std::string& prefix() const { return prefix_; }

 private:
  std::map<std::string, at::Tensor> tensors_;
  std::string source_;  // file the tensors came from, for messages
  std::string prefix_;  // prefix removed by Select, for messages
};

// Copies `state` into the module's parameters and buffers (no autograd), in place. Every problem
// is reported, not only the first: missing tensors, unexpected extra tensors (when `strict`), and
// shape mismatches, each naming the tensor with its full name.
absl::Status LoadStateDict(torch::nn::Module& module, const StateDict& state, bool strict = true);

}  // namespace infusion::engine

#endif  // INFUSION_ENGINE_WEIGHTS_STATE_DICT_H_
