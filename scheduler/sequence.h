// The content of one KV-cache sequence: a token id and a prefix-cache key per position, and the
// images (patches) that occupy some of the positions. Plus how far its K/V has been computed.
#ifndef INFUSION_SCHEDULER_SEQUENCE_H_
#define INFUSION_SCHEDULER_SEQUENCE_H_

#include <cstdint>
#include <memory>
#include <vector>

#include "engine/prompt/prompt_part.h"

namespace infusion {

class Sequence {
 public:
  struct ImageRun {
    int start = 0;  // first position
    std::shared_ptr<const std::vector<float>> patches;  // [n * patch_dim]
  };

  Sequence(int num_patches, int32_t image_token) : n_(num_patches), image_token_(image_token) {}

  void Append(const std::vector<PromptPart>& parts);
  void AppendTokens(const std::vector<int32_t>& tokens);
  void AppendImage(std::vector<float> patches, uint64_t hash);

  int size() const { return static_cast<int>(tokens_.size()); }
  const std::vector<int32_t>& tokens() const { return tokens_; }
  const std::vector<uint64_t>& keys() const { return keys_; }
  const std::vector<ImageRun>& images() const { return images_; }
  int num_patches() const { return n_; }

  // The end of a chunk that starts at `begin` and has at most `max_len` positions, without
  // splitting an image: an image that starts inside the chunk ends inside it too; a chunk that
  // starts inside an image (its head cached) runs at least to the image's end. Returns `begin`
  // when no non-empty chunk fits.
  int ChunkEnd(int begin, int max_len) const;

  // K/V computed for positions [0, num_computed).
  int num_computed = 0;
  bool allocated = false;  // has a KV-cache sequence

 private:
  int n_;
  int32_t image_token_;  // token id stored at image positions (ignored by the model)
  std::vector<int32_t> tokens_;
  std::vector<uint64_t> keys_;
  std::vector<ImageRun> images_;
};

}  // namespace infusion

#endif  // INFUSION_SCHEDULER_SEQUENCE_H_
