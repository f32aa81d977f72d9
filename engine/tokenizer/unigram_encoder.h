// sentencepiece's unigram segmentation: the Viterbi path through the lattice of all vocabulary
// pieces that match the normalized text, scored by the pieces' log-probabilities.
#ifndef INFUSION_ENGINE_TOKENIZER_UNIGRAM_ENCODER_H_
#define INFUSION_ENGINE_TOKENIZER_UNIGRAM_ENCODER_H_

#include <string_view>
#include <vector>

#include "engine/tokenizer/vocabulary.h"

namespace infusion::engine {

// Characters that no piece covers come out as single-character pieces with vocab.unk_id().
// The pieces view `normalized`.
std::vector<EncodedPiece> UnigramEncode(const Vocabulary& vocab, std::string_view normalized);

}  // namespace infusion::engine

#endif  // INFUSION_ENGINE_TOKENIZER_UNIGRAM_ENCODER_H_
