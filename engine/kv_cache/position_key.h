// Position keys: one uint64 per sequence position that identifies what the position holds, so
// that equal keys mean equal K/V given equal prefixes. The prefix cache hashes them per block.
#ifndef INFUSION_ENGINE_KV_CACHE_POSITION_KEY_H_
#define INFUSION_ENGINE_KV_CACHE_POSITION_KEY_H_

#include <cstddef>
#include <cstdint>

namespace infusion::engine {

// A text position is keyed by its token id (non-negative, so below 2^63).
constexpr uint64_t PositionKeyForToken(int32_t token_id) { return static_cast<uint64_t>(token_id); }

// An image patch is keyed by its image's content and its index in the image. The top bit is set so
// that no patch key equals a token id.
uint64_t PositionKeyForImagePatch(uint64_t image_hash, int patch_index);

// 64-bit FNV-1a of raw bytes, for image latents: `HashBytes(latents.data(), latents.size() *
// sizeof(float))`. Not cryptographic; a collision would make two images share K/V.
uint64_t HashBytes(const void* data, size_t num_bytes);

// Mixes `value` into `seed`; order-sensitive, so chaining it over a list hashes the list.
uint64_t HashCombine(uint64_t seed, uint64_t value);

}  // namespace infusion::engine

#endif  // INFUSION_ENGINE_KV_CACHE_POSITION_KEY_H_
