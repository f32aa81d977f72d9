#include "engine/tokenizer/sentencepiece_model_proto.h"

#include <cstdint>
#include <cstring>

#include "absl/functional/function_ref.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace infusion::engine {
namespace {

// Protobuf wire types (https://protobuf.dev/programming-guides/encoding/).
enum WireType : int { kVarint = 0, kFixed64 = 1, kLengthDelimited = 2, kFixed32 = 5 };

struct Field {
  int number = 0;
  int wire_type = 0;
  uint64_t varint = 0;     // kVarint
  uint32_t fixed32 = 0;    // kFixed32
  std::string_view bytes;  // kLengthDelimited
};

class WireReader {
 public:
  explicit WireReader(std::string_view data) : data_(data) {}

  bool done() const { return data_.empty(); }

  // False when the input ends inside the field or the field is not well-formed.
  bool Read(Field* field) {
    uint64_t tag;
    if (!ReadVarint(&tag) || (tag >> 3) == 0 || (tag >> 3) > 0x1FFFFFFF) return false;
    field->number = static_cast<int>(tag >> 3);
    field->wire_type = static_cast<int>(tag & 7);
    switch (field->wire_type) {
      case kVarint:
        return ReadVarint(&field->varint);
      case kFixed64:
        return Skip(8);
      case kLengthDelimited: {
        uint64_t length;
        if (!ReadVarint(&length) || length > data_.size()) return false;
        field->bytes = data_.substr(0, length);
        return Skip(length);
      }
      case kFixed32: {
        if (data_.size() < 4) return false;
        const auto* p = reinterpret_cast<const uint8_t*>(data_.data());
        field->fixed32 = static_cast<uint32_t>(p[0]) | static_cast<uint32_t>(p[1]) << 8 |
                         static_cast<uint32_t>(p[2]) << 16 | static_cast<uint32_t>(p[3]) << 24;
        return Skip(4);
      }
      default:  // groups (3, 4) are not used by sentencepiece; 6 and 7 do not exist
        return false;
    }
  }

 private:
  bool ReadVarint(uint64_t* value) {
    *value = 0;
    for (int shift = 0; shift < 64 && !data_.empty(); shift += 7) {
      const uint8_t byte = static_cast<uint8_t>(data_[0]);
      data_.remove_prefix(1);
      *value |= static_cast<uint64_t>(byte & 0x7F) << shift;
      if ((byte & 0x80) == 0) return true;
    }
    return false;
  }

  bool Skip(uint64_t n) {
    if (n > data_.size()) return false;
    data_.remove_prefix(n);
    return true;
  }

  std::string_view data_;
};

// Calls visit for each field of `message`, in order; `name` labels errors.
absl::Status ForEachField(std::string_view message, const char* name,
                          absl::FunctionRef<absl::Status(const Field&)> visit) {
  WireReader reader(message);
  while (!reader.done()) {
    Field field;
    if (!reader.Read(&field)) {
      return absl::InvalidArgumentError(absl::StrCat("malformed protobuf in ", name));
    }
    RETURN_IF_ERROR(visit(field));
  }
  return absl::OkStatus();
}

absl::Status ExpectWireType(const Field& field, int wire_type, const char* name) {
  if (field.wire_type == wire_type) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat(name, " (field ", field.number, ") has wire type ", field.wire_type));
}

absl::Status ParsePiece(std::string_view message, SentencePieceModelProto::Piece* piece) {
  return ForEachField(message, "ModelProto.pieces", [piece](const Field& f) -> absl::Status {
    switch (f.number) {
      case 1:
        RETURN_IF_ERROR(ExpectWireType(f, kLengthDelimited, "SentencePiece.piece"));
        piece->piece = std::string(f.bytes);
        break;
      case 2:
        RETURN_IF_ERROR(ExpectWireType(f, kFixed32, "SentencePiece.score"));
        std::memcpy(&piece->score, &f.fixed32, sizeof(float));
        break;
      case 3:
        RETURN_IF_ERROR(ExpectWireType(f, kVarint, "SentencePiece.type"));
        if (f.varint < 1 || f.varint > 6) {
          return absl::InvalidArgumentError(
              absl::StrCat("SentencePiece.type has unknown value ", f.varint));
        }
        piece->type = static_cast<SentencePieceModelProto::PieceType>(f.varint);
        break;
    }
    return absl::OkStatus();
  });
}

absl::Status ParseTrainerSpec(std::string_view message, SentencePieceModelProto* model) {
  return ForEachField(message, "ModelProto.trainer_spec", [model](const Field& f) -> absl::Status {
    switch (f.number) {
      case 3:
        RETURN_IF_ERROR(ExpectWireType(f, kVarint, "TrainerSpec.model_type"));
        if (f.varint < 1 || f.varint > 4) {
          return absl::InvalidArgumentError(
              absl::StrCat("TrainerSpec.model_type has unknown value ", f.varint));
        }
        model->model_type = static_cast<SentencePieceModelProto::ModelType>(f.varint);
        break;
      case 24:
        RETURN_IF_ERROR(ExpectWireType(f, kVarint, "TrainerSpec.treat_whitespace_as_suffix"));
        model->treat_whitespace_as_suffix = f.varint != 0;
        break;
      case 35:
        RETURN_IF_ERROR(ExpectWireType(f, kVarint, "TrainerSpec.byte_fallback"));
        model->byte_fallback = f.varint != 0;
        break;
      case 44:
        RETURN_IF_ERROR(ExpectWireType(f, kLengthDelimited, "TrainerSpec.unk_surface"));
        model->unk_surface = std::string(f.bytes);
        break;
    }
    return absl::OkStatus();
  });
}

absl::Status ParseNormalizerSpec(std::string_view message,
                                 SentencePieceModelProto::NormalizerSpec* spec) {
  return ForEachField(message, "NormalizerSpec", [spec](const Field& f) -> absl::Status {
    switch (f.number) {
      case 1:
        RETURN_IF_ERROR(ExpectWireType(f, kLengthDelimited, "NormalizerSpec.name"));
        spec->name = std::string(f.bytes);
        break;
      case 2:
        RETURN_IF_ERROR(ExpectWireType(f, kLengthDelimited, "NormalizerSpec.precompiled_charsmap"));
        spec->precompiled_charsmap = std::string(f.bytes);
        break;
      case 3:
        RETURN_IF_ERROR(ExpectWireType(f, kVarint, "NormalizerSpec.add_dummy_prefix"));
        spec->add_dummy_prefix = f.varint != 0;
        break;
      case 4:
        RETURN_IF_ERROR(ExpectWireType(f, kVarint, "NormalizerSpec.remove_extra_whitespaces"));
        spec->remove_extra_whitespaces = f.varint != 0;
        break;
      case 5:
        RETURN_IF_ERROR(ExpectWireType(f, kVarint, "NormalizerSpec.escape_whitespaces"));
        spec->escape_whitespaces = f.varint != 0;
        break;
    }
    return absl::OkStatus();
  });
}

}  // namespace

absl::StatusOr<SentencePieceModelProto> SentencePieceModelProto::Parse(
    std::string_view serialized) {
  SentencePieceModelProto model;
  // A message field that occurs twice is merged, as protobuf does; hence parsing into place.
  RETURN_IF_ERROR(ForEachField(serialized, "ModelProto", [&model](const Field& f) -> absl::Status {
    switch (f.number) {
      case 1:
        RETURN_IF_ERROR(ExpectWireType(f, kLengthDelimited, "ModelProto.pieces"));
        return ParsePiece(f.bytes, &model.pieces.emplace_back());
      case 2:
        RETURN_IF_ERROR(ExpectWireType(f, kLengthDelimited, "ModelProto.trainer_spec"));
        return ParseTrainerSpec(f.bytes, &model);
      case 3:
        RETURN_IF_ERROR(ExpectWireType(f, kLengthDelimited, "ModelProto.normalizer_spec"));
        return ParseNormalizerSpec(f.bytes, &model.normalizer);
      case 5:
        RETURN_IF_ERROR(ExpectWireType(f, kLengthDelimited, "ModelProto.denormalizer_spec"));
        // Not emplace(): clang (the fuzz build) cannot default-construct an optional's nested
        // struct that has default member initializers.
        if (!model.denormalizer) model.denormalizer = SentencePieceModelProto::NormalizerSpec();
        return ParseNormalizerSpec(f.bytes, &*model.denormalizer);
    }
    return absl::OkStatus();
  }));
  return model;
}

}  // namespace infusion::engine
