// The Transfusion attention mask: causal over the whole sequence, bidirectional inside each image,
// and (for packed training rows) no attention across documents.
//
//   allowed(i, j) = doc(i) == doc(j) && (j <= i || (image(i) >= 0 && image(i) == image(j)))
//
// where image(i) is the index of the image that position i belongs to (-1 for text) and doc(i) the
// index of the document. Text sees everything before it; a patch sees every patch of its own image
// and everything before the image; an earlier image never sees a later one.
#ifndef INFUSION_ENGINE_MODEL_ATTENTION_MASK_H_
#define INFUSION_ENGINE_MODEL_ATTENTION_MASK_H_

#include <cstdint>
#include <vector>

#include <ATen/core/Tensor.h>

namespace infusion::engine {

// One run of a sequence: `length` text tokens, or the `length` patches of one image.
struct Segment {
  enum class Kind { kText, kImage };
  Kind kind = Kind::kText;
  int64_t length = 0;
};

// Per-position image index (-1 for text), numbering images 0, 1, ... in sequence order.
std::vector<int64_t> ImageIdsFromSegments(const std::vector<Segment>& segments);

// The predicate above, one pair at a time: the reference that the tensor builders are tested against.
bool MaskAllows(const std::vector<int64_t>& image_ids, const std::vector<int64_t>& doc_ids,
                int64_t i, int64_t j);

// Dense boolean mask from per-position ids.
// image_ids, doc_ids: [B, L] int64 (image ids unique within a row; -1 for text).
// Returns [B, L, L] bool, true where query i may attend to key j.
at::Tensor BuildAttentionMask(const at::Tensor& image_ids, const at::Tensor& doc_ids);

// [L, L] mask of a single document given by its segments.
at::Tensor AttentionMaskFromSegments(const std::vector<Segment>& segments);

}  // namespace infusion::engine

#endif  // INFUSION_ENGINE_MODEL_ATTENTION_MASK_H_
