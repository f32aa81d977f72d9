#include "engine/kv_cache/position_key.h"

namespace infusion::engine {
namespace {

// SplitMix64's finalizer: every input bit flips about half of the output bits.
uint64_t Mix64(uint64_t x) {
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

constexpr uint64_t kGoldenRatio = 0x9e3779b97f4a7c15ULL;
constexpr uint64_t kFnvOffsetBasis = 0xcbf29ce484222325ULL;
constexpr uint64_t kFnvPrime = 0x100000001b3ULL;
constexpr uint64_t kImagePatchBit = uint64_t{1} << 63;

}  // namespace

uint64_t PositionKeyForImagePatch(uint64_t image_hash, int patch_index) {
  return HashCombine(image_hash, static_cast<uint64_t>(patch_index)) | kImagePatchBit;
}

uint64_t HashBytes(const void* data, size_t num_bytes) {
  const auto* bytes = static_cast<const unsigned char*>(data);
  uint64_t hash = kFnvOffsetBasis;
  for (size_t i = 0; i < num_bytes; ++i) {
    hash ^= bytes[i];
    hash *= kFnvPrime;
  }
  return hash;
}

uint64_t HashCombine(uint64_t seed, uint64_t value) {
  // Mixing the seed before the xor keeps (seed, value) and (value, seed) apart; adding the golden
  // ratio keeps a zero seed from being a fixed point of Mix64.
  return Mix64(Mix64(seed + kGoldenRatio) ^ value);
}

}  // namespace infusion::engine
