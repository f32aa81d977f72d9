#include "engine/model/attention_mask.h"

#include <ATen/ATen.h>

#include "common/logging.h"

namespace infusion::engine {

std::vector<int64_t> ImageIdsFromSegments(const std::vector<Segment>& segments) {
  std::vector<int64_t> ids;
  int64_t next_image = 0;
  for (const Segment& s : segments) {
    const int64_t id = s.kind == Segment::Kind::kImage ? next_image++ : -1;
    ids.insert(ids.end(), s.length, id);
  }
  return ids;
}

bool MaskAllows(const std::vector<int64_t>& image_ids, const std::vector<int64_t>& doc_ids,
                int64_t i, int64_t j) {
  if (doc_ids[i] != doc_ids[j]) return false;
  if (j <= i) return true;
  return image_ids[i] >= 0 && image_ids[i] == image_ids[j];
}

at::Tensor BuildAttentionMask(const at::Tensor& image_ids, const at::Tensor& doc_ids) {
  CHECK_EQ(image_ids.dim(), 2);
  CHECK(image_ids.sizes() == doc_ids.sizes());
  const int64_t length = image_ids.size(1);
  const at::Tensor pos = at::arange(length, image_ids.options());
  const at::Tensor causal = pos.unsqueeze(1) >= pos.unsqueeze(0);             // [L, L]
  const at::Tensor qi = image_ids.unsqueeze(2), kj = image_ids.unsqueeze(1);  // [B, L, 1], [B, 1, L]
  const at::Tensor same_image = (qi == kj) & (qi >= 0);                       // [B, L, L]
  const at::Tensor same_doc = doc_ids.unsqueeze(2) == doc_ids.unsqueeze(1);   // [B, L, L]
  return same_doc & (causal.unsqueeze(0) | same_image);
}

at::Tensor AttentionMaskFromSegments(const std::vector<Segment>& segments) {
  std::vector<int64_t> ids = ImageIdsFromSegments(segments);
  const int64_t length = static_cast<int64_t>(ids.size());
  at::Tensor image_ids = at::tensor(ids, at::kLong).view({1, length});
  return BuildAttentionMask(image_ids, at::zeros_like(image_ids))[0];
}

}  // namespace infusion::engine
