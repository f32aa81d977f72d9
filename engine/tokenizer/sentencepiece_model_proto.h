// The parts of sentencepiece's `ModelProto` (its sentencepiece_model.proto, the format of a
// tokenizer.model file) that encoding and decoding need. Parsed from the protobuf wire format by
// hand: linking libprotobuf or libsentencepiece into a process that also loads LibTorch or gRPC
// breaks it (two protobuf copies with one set of symbols).
#ifndef INFUSION_ENGINE_TOKENIZER_SENTENCEPIECE_MODEL_PROTO_H_
#define INFUSION_ENGINE_TOKENIZER_SENTENCEPIECE_MODEL_PROTO_H_

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace infusion::engine {

struct SentencePieceModelProto {
  // ModelProto.SentencePiece.Type.
  enum class PieceType {
    kNormal = 1,
    kUnknown = 2,
    kControl = 3,
    kUserDefined = 4,
    kUnused = 5,
    kByte = 6,
  };
  // TrainerSpec.ModelType.
  enum class ModelType { kUnigram = 1, kBpe = 2, kWord = 3, kChar = 4 };

  struct Piece {  // ModelProto.SentencePiece
    std::string piece;
    float score = 0.0f;
    PieceType type = PieceType::kNormal;
  };

  struct NormalizerSpec {  // defaults as in the .proto (proto2: absent fields read as these)
    std::string name;
    std::string precompiled_charsmap;  // empty for the "identity" rule
    bool add_dummy_prefix = true;
    bool remove_extra_whitespaces = true;
    bool escape_whitespaces = true;
  };

  // Field numbers: ModelProto.pieces = 1, trainer_spec = 2, normalizer_spec = 3,
  // denormalizer_spec = 5; TrainerSpec.model_type = 3, treat_whitespace_as_suffix = 24,
  // byte_fallback = 35, unk_surface = 44.
  std::vector<Piece> pieces;
  ModelType model_type = ModelType::kUnigram;
  bool treat_whitespace_as_suffix = false;
  bool byte_fallback = false;
  std::string unk_surface = " \xE2\x81\x87 ";  // " ⁇ ", what <unk> decodes to
  NormalizerSpec normalizer;
  std::optional<NormalizerSpec> denormalizer;

  // InvalidArgument naming the field when `serialized` is not a well-formed ModelProto. Fields
  // this struct does not hold are skipped, as protobuf would.
  static absl::StatusOr<SentencePieceModelProto> Parse(std::string_view serialized);
};

}  // namespace infusion::engine

#endif  // INFUSION_ENGINE_TOKENIZER_SENTENCEPIECE_MODEL_PROTO_H_
