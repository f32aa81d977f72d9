// Held-out data: every sample belongs to the train or the eval split by a stable hash of its key
// text, so a key never appears in both and eval prompts are never trained on. The keys:
//   text-to-image and captioning   the caption (the same text in both directions);
//   questions                      the canonical caption of the scene: the image is held out,
//                                  since the five question forms are too few to hold out;
//   edits                          "<source's canonical caption> | <instruction>".
// Generators draw until the key falls in the split asked for.
#ifndef INFUSION_DATA_SHAPES_SPLIT_H_
#define INFUSION_DATA_SHAPES_SPLIT_H_

#include <cstdint>
#include <string_view>

namespace infusion::data::shapes {

enum class Split { kTrain, kEval };

// Share of keys in the eval split, in percent.
inline constexpr int kEvalPercent = 10;

// 64-bit FNV-1a of the bytes of `text`: fixed by its definition, unlike std::hash.
uint64_t StableHash(std::string_view text);

Split SplitOf(std::string_view key);

}  // namespace infusion::data::shapes

#endif  // INFUSION_DATA_SHAPES_SPLIT_H_
