// Seeds derived from a run's seed and a position in the run (a step, a batch row, a pool entry),
// so that every random choice of the trainer is a pure function of where it happens: a resumed run
// and a run over more processes draw exactly what an uninterrupted single process draws.
#ifndef INFUSION_DATA_SEEDS_SEEDS_H_
#define INFUSION_DATA_SEEDS_SEEDS_H_

#include <cstdint>
#include <initializer_list>
#include <string_view>

namespace infusion::data {

// SplitMix64's finaliser (Steele et al. 2014): a bijection that scatters nearby inputs.
inline uint64_t MixBits(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// A seed for the tuple (seed, parts...): different tuples give unrelated streams.
inline uint64_t DeriveSeed(uint64_t seed, std::initializer_list<uint64_t> parts) {
  uint64_t h = MixBits(seed);
  for (uint64_t part : parts) h = MixBits(h ^ MixBits(part));
  return h;
}

// 64-bit FNV-1a of the bytes of `text`: fixed by its definition (unlike std::hash), so it can name
// files that outlive the process, such as the latent cache.
inline uint64_t StableHash(std::string_view text) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char c : text) h = (h ^ c) * 0x100000001b3ULL;
  return h;
}

}  // namespace infusion::data

#endif  // INFUSION_DATA_SEEDS_SEEDS_H_
