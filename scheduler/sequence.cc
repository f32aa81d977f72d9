#include "scheduler/sequence.h"

#include <algorithm>

#include "engine/kv_cache/position_key.h"

namespace infusion {

void Sequence::Append(const std::vector<PromptPart>& parts) {
  for (const PromptPart& part : parts) {
    if (part.is_image()) {
      AppendImage(part.image_patches, part.image_hash);
    } else {
      AppendTokens(part.tokens);
    }
  }
}

void Sequence::AppendTokens(const std::vector<int32_t>& tokens) {
  for (int32_t t : tokens) {
    tokens_.push_back(t);
    keys_.push_back(PositionKeyForToken(t));
  }
}

void Sequence::AppendImage(std::vector<float> patches, uint64_t hash) {
  images_.push_back({size(), std::make_shared<const std::vector<float>>(std::move(patches))});
  for (int i = 0; i < n_; ++i) {
    tokens_.push_back(image_token_);
    keys_.push_back(PositionKeyForImagePatch(hash, i));
  }
}

int Sequence::ChunkEnd(int begin, int max_len) const {
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

}  // namespace infusion
