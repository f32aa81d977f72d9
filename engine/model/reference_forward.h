// The reference path: one full forward pass (no KV cache, dense Transfusion mask) over a single
// interleaved sequence. It is what `infusion-tool forward` runs and the oracle every fast path of
// the engine is tested against.
#ifndef INFUSION_ENGINE_MODEL_REFERENCE_FORWARD_H_
#define INFUSION_ENGINE_MODEL_REFERENCE_FORWARD_H_

#include <vector>

#include "engine/model/transfusion_model.h"

namespace infusion::engine {

// A run of text tokens, or one image given as normalised latent patches noised to `timestep`.
struct SequencePart {
  std::vector<int> tokens;  // text part when `patches` is undefined
  at::Tensor patches;       // [n, patch_dim] image part
  float timestep = 0.0f;

  static SequencePart Text(std::vector<int> tokens) { return {std::move(tokens), {}, 0.0f}; }
  static SequencePart Image(at::Tensor patches, float timestep) {
    return {{}, std::move(patches), timestep};
  }
  bool is_image() const { return patches.defined(); }
};

struct ReferenceOutput {
  at::Tensor logits;  // [num_text_positions, vocab], every text position in sequence order
  at::Tensor eps;     // [num_image_patches, patch_dim], every image position in sequence order
};

// The packed model input and dense mask of one sequence; positions are 0..L-1.
struct ReferenceInput {
  ModelInput input;
  at::Tensor mask;                     // [1, L, L] bool
  std::vector<int64_t> text_positions;  // indices of text positions
};
ReferenceInput BuildReferenceInput(const std::vector<SequencePart>& parts, int pad_token_id);

ReferenceOutput ReferenceForward(TransfusionModelImpl& model, const std::vector<SequencePart>& parts);

}  // namespace infusion::engine

#endif  // INFUSION_ENGINE_MODEL_REFERENCE_FORWARD_H_
