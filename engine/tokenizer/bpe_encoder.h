// sentencepiece's BPE segmentation: start from characters (user-defined pieces kept whole) and
// repeatedly merge the adjacent pair whose merged piece scores highest, the leftmost on ties.
#ifndef INFUSION_ENGINE_TOKENIZER_BPE_ENCODER_H_
#define INFUSION_ENGINE_TOKENIZER_BPE_ENCODER_H_

#include <string_view>
#include <vector>

#include "engine/tokenizer/vocabulary.h"

namespace infusion::engine {

// Characters that are not pieces come out with vocab.unk_id(). The pieces view `normalized`.
std::vector<EncodedPiece> BpeEncode(const Vocabulary& vocab, std::string_view normalized);

}  // namespace infusion::engine

#endif  // INFUSION_ENGINE_TOKENIZER_BPE_ENCODER_H_
