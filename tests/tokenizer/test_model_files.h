// Files for the tokenizer tests: sentencepiece models built by hand (so that a test can state a
// vocabulary and its scores and check the segmentation that follows), and the directory they go
// to, private to this test process so that concurrent runs from several build trees never meet.
#ifndef INFUSION_TESTS_TOKENIZER_TEST_MODEL_FILES_H_
#define INFUSION_TESTS_TOKENIZER_TEST_MODEL_FILES_H_

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

namespace infusion::engine {

// Protobuf wire-format writer for the few field kinds a ModelProto uses.
class ProtoWriter {
 public:
  ProtoWriter& Varint(int field, uint64_t value) {
    Tag(field, 0);
    PutVarint(value);
    return *this;
  }
  ProtoWriter& Bytes(int field, std::string_view bytes) {
    Tag(field, 2);
    PutVarint(bytes.size());
    out_.append(bytes);
    return *this;
  }
  ProtoWriter& Float(int field, float value) {
    Tag(field, 5);
    uint32_t bits;
    std::memcpy(&bits, &value, sizeof(bits));
    for (int i = 0; i < 4; ++i) out_.push_back(static_cast<char>(bits >> (8 * i)));
    return *this;
  }
  const std::string& str() const { return out_; }

 private:
  void Tag(int field, int wire_type) { PutVarint(static_cast<uint64_t>(field) << 3 | wire_type); }
  void PutVarint(uint64_t v) {
    for (; v >= 0x80; v >>= 7) out_.push_back(static_cast<char>((v & 0x7F) | 0x80));
    out_.push_back(static_cast<char>(v));
  }
  std::string out_;
};

// A ModelProto under construction: pieces get ids in the order they are added.
class ModelBuilder {
 public:
  enum Type { kNormal = 1, kUnknown = 2, kControl = 3, kUserDefined = 4, kUnused = 5, kByte = 6 };

  ModelBuilder& Piece(std::string_view piece, float score, Type type = kNormal) {
    model_.Bytes(1, ProtoWriter().Bytes(1, piece).Float(2, score).Varint(3, type).str());
    return *this;
  }
  // The 256 byte pieces <0x00>..<0xFF>, and byte_fallback in the trainer spec.
  ModelBuilder& BytePieces() {
    for (int b = 0; b < 256; ++b) {
      char piece[8];
      std::snprintf(piece, sizeof(piece), "<0x%02X>", b);
      Piece(piece, 0.0f, kByte);
    }
    trainer_.Varint(35, 1);
    return *this;
  }
  ModelBuilder& Bpe() {
    trainer_.Varint(3, 2);
    return *this;
  }
  ModelBuilder& TrainerField(int field, uint64_t value) {
    trainer_.Varint(field, value);
    return *this;
  }
  ModelBuilder& NormalizerField(int field, uint64_t value) {
    normalizer_.Varint(field, value);
    return *this;
  }
  std::string Serialize() const {
    ProtoWriter out = model_;
    out.Bytes(2, trainer_.str());
    out.Bytes(3, ProtoWriter(normalizer_).Bytes(1, "identity").str());
    return out.str();
  }

 private:
  ProtoWriter model_;
  ProtoWriter trainer_;
  ProtoWriter normalizer_;
};

// This process's scratch directory, created on first use; tokenizer_test.cc removes it at exit.
inline const std::string& TestDir() {
  static const std::string* dir = [] {
    auto* path =
        new std::string(::testing::TempDir() + "/tokenizer_test." + std::to_string(getpid()));
    std::filesystem::create_directories(*path);
    return path;
  }();
  return *dir;
}

// Writes `bytes` to `name` under TestDir() and returns the path.
inline std::string WriteTestFile(const std::string& name, const std::string& bytes) {
  const std::string path = TestDir() + "/" + name;
  std::ofstream(path, std::ios::binary) << bytes;
  return path;
}

}  // namespace infusion::engine

#endif  // INFUSION_TESTS_TOKENIZER_TEST_MODEL_FILES_H_
