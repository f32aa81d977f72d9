#include "engine/model/reference_forward.h"

#include <ATen/ATen.h>
#include <torch/csrc/autograd/grad_mode.h>

#include "engine/model/attention_mask.h"

namespace infusion::engine {

ReferenceInput BuildReferenceInput(const std::vector<SequencePart>& parts, int pad_token_id) {
  ReferenceInput ref;
  std::vector<int64_t> tokens;
  std::vector<Segment> segments;
  std::vector<at::Tensor> patches;
  std::vector<float> timesteps;
  std::vector<int64_t> image_positions;
  for (const SequencePart& part : parts) {
    const int64_t start = static_cast<int64_t>(tokens.size());
    if (part.is_image()) {
      const int64_t n = part.patches.size(0);
      tokens.insert(tokens.end(), n, pad_token_id);
      segments.push_back({Segment::Kind::kImage, n});
      patches.push_back(part.patches.to(at::kFloat));
      timesteps.push_back(part.timestep);
      for (int64_t i = 0; i < n; ++i) image_positions.push_back(start + i);
    } else {
      tokens.insert(tokens.end(), part.tokens.begin(), part.tokens.end());
      segments.push_back({Segment::Kind::kText, static_cast<int64_t>(part.tokens.size())});
      for (size_t i = 0; i < part.tokens.size(); ++i) ref.text_positions.push_back(start + i);
    }
  }
  const int64_t length = static_cast<int64_t>(tokens.size());
  ModelInput& in = ref.input;
  in.token_ids = at::tensor(tokens, at::kLong);
  in.positions = at::arange(length, at::kLong);
  if (!patches.empty()) {
    const int64_t images = static_cast<int64_t>(patches.size());
    in.image_patches = at::stack(patches);
    in.image_timesteps = at::tensor(timesteps, at::kFloat);
    in.image_positions = at::tensor(image_positions, at::kLong).view({images, -1});
    in.noise_images = at::arange(images, at::kLong);
  }
  ref.mask = AttentionMaskFromSegments(segments).unsqueeze(0);
  return ref;
}

ReferenceOutput ReferenceForward(TransfusionModelImpl& model,
                                 const std::vector<SequencePart>& parts) {
  torch::NoGradGuard no_grad;
  ReferenceInput ref = BuildReferenceInput(parts, model.config().tokens.pad);
  DenseAttention attention(ref.mask);
  ModelOutput out = model.Forward(ref.input, attention);
  ReferenceOutput result;
  const at::Tensor rows = at::tensor(ref.text_positions, at::kLong);
  result.logits = model.Logits(out.hidden.index_select(0, rows));
  if (out.eps.defined()) result.eps = out.eps.reshape({-1, out.eps.size(-1)});
  return result;
}

}  // namespace infusion::engine
