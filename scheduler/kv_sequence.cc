#include "scheduler/kv_sequence.h"

#include <algorithm>

#include "common/status_macros.h"
#include "engine/kv_cache/position_key.h"

namespace infusion::scheduler {

using engine::AppendResult;
using engine::KvCacheManager;
using engine::PositionKeyForImagePatch;
using engine::PositionKeyForToken;
using engine::PromptPart;
using engine::Span;
using engine::SpanImage;
using engine::SpanKind;

void KvSequence::Append(const std::vector<PromptPart>& parts) {
  for (const PromptPart& part : parts) {
    if (part.is_image()) {
      AppendImage(part.image_patches, part.image_hash);
    } else {
      AppendTokens(part.tokens);
    }
  }
}

void KvSequence::AppendTokens(const std::vector<int32_t>& tokens) {
  for (int32_t t : tokens) {
    tokens_.push_back(t);
    keys_.push_back(PositionKeyForToken(t));
  }
}

void KvSequence::AppendImage(std::vector<float> patches, uint64_t hash) {
  images_.push_back({size(), std::make_shared<const std::vector<float>>(std::move(patches))});
  for (int i = 0; i < n_; ++i) {
    tokens_.push_back(image_token_);
    keys_.push_back(PositionKeyForImagePatch(hash, i));
  }
}

void KvSequence::Clear() {
  tokens_.clear();
  keys_.clear();
  images_.clear();
  num_computed_ = 0;
}

int KvSequence::ChunkEnd(int begin, int max_len) const {
  int end = std::min(size(), begin + max_len);
  for (const ImageRun& image : images_) {
    const int image_end = image.start + n_;
    if (image.start < begin && image_end > begin) {
      // Starts inside an image whose head is cached: finish the image in this chunk.
      if (image_end > begin + max_len) return begin;
      end = std::max(end, image_end);
    } else if (image.start >= begin && image.start < end && image_end > end) {
      end = image.start;  // would split this image: stop before it
    }
  }
  return end;
}

int KvSequence::FirstToCompute(const KvCacheManager& kv) const {
  return allocated_ ? num_computed_ : kv.CostToAllocate(keys_).num_cached_positions;
}

std::pair<int, int> KvSequence::NextChunk(const KvCacheManager& kv, int max_len) const {
  const int begin = FirstToCompute(kv);
  if (begin >= size()) return {begin, begin};
  return {begin, std::max(begin, ChunkEnd(begin, max_len))};
}

int KvSequence::BlocksToReserve(const KvCacheManager& kv, int end) const {
  if (!allocated_) {
    return kv.CostToAllocate(absl::MakeConstSpan(keys_.data(), end)).num_free_blocks_needed;
  }
  return kv.FreeBlocksNeededToAppend(kv_id_, end - num_computed_).value_or(0);
}

absl::StatusOr<int> KvSequence::Reserve(KvCacheManager* kv, int end,
                                        std::vector<std::pair<int32_t, int32_t>>* block_copies) {
  if (!allocated_) {
    ASSIGN_OR_RETURN(const int hits, kv->Allocate(kv_id_, absl::MakeConstSpan(keys_.data(), end)));
    allocated_ = true;
    num_computed_ = hits;
    return hits;
  }
  ASSIGN_OR_RETURN(AppendResult appended,
                   kv->Append(kv_id_, absl::MakeConstSpan(keys_.data() + num_computed_,
                                                          end - num_computed_)));
  if (appended.copy) block_copies->emplace_back(appended.copy->src, appended.copy->dst);
  return num_computed_;
}

Span KvSequence::MakeSpan(const KvCacheManager& kv, SpanKind kind, int64_t request_id, int begin,
                          int end) const {
  Span span;
  span.kind = kind;
  span.seq_id = request_id;
  span.start_position = begin;
  span.tokens.assign(tokens_.begin() + begin, tokens_.begin() + end);
  for (const ImageRun& image : images_) {
    if (image.start + n_ <= begin || image.start >= end) continue;
    SpanImage si;
    si.first_patch = std::max(0, begin - image.start);
    si.offset = image.start + si.first_patch - begin;
    si.patches = image.patches->data();
    span.images.push_back(si);
  }
  const auto table = kv.BlockTable(kv_id_);
  span.block_table.assign(table->begin(), table->end());
  span.slots = *kv.SlotMapping(kv_id_, begin, end);
  return span;
}

Span KvSequence::MakeDenoiseSpan(const KvCacheManager& kv, int64_t request_id,
                                 bool guidance_row) const {
  Span span;
  span.kind = SpanKind::kDenoise;
  span.seq_id = request_id;
  span.guidance_row = guidance_row;
  span.start_position = size();
  span.tokens.assign(n_, image_token_);
  span.images.push_back({0, 0, nullptr, 0.0f, /*predict_noise=*/true});
  const auto table = kv.BlockTable(kv_id_);
  span.block_table.assign(table->begin(), table->end());
  return span;
}

void KvSequence::Release(KvCacheManager* kv) {
  if (allocated_) kv->Free(kv_id_).IgnoreError();
  allocated_ = false;
  num_computed_ = 0;
}

}  // namespace infusion::scheduler
