// A thin wrapper over sentencepiece with no Abseil in sight. sentencepiece's headers declare their
// own `absl::string_view`, which collides with the real Abseil's; this wrapper is the only
// translation unit that includes them, and it includes no Abseil header.
#ifndef INFUSION_ENGINE_TOKENIZER_SENTENCEPIECE_MODEL_H_
#define INFUSION_ENGINE_TOKENIZER_SENTENCEPIECE_MODEL_H_

#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace sentencepiece {
class SentencePieceProcessor;
}

namespace infusion {

class SentencePieceModel {
 public:
  SentencePieceModel();
  ~SentencePieceModel();

  // False with *error set when the file cannot be read or parsed.
  bool Load(const std::string& path, std::string* error);
  std::vector<int> Encode(std::string_view text) const;
  std::string Decode(const std::vector<int>& ids) const;
  int PieceSize() const;
  int PieceToId(std::string_view piece) const;  // unk id for unknown pieces
  std::string IdToPiece(int id) const;
  int UnkId() const;

  // Trains on `sentences` with sentencepiece's own flags; the model proto goes to *serialized.
  static bool Train(const std::unordered_map<std::string, std::string>& args,
                    const std::vector<std::string>& sentences, std::string* serialized,
                    std::string* error);

 private:
  std::unique_ptr<sentencepiece::SentencePieceProcessor> processor_;
};

}  // namespace infusion

#endif  // INFUSION_ENGINE_TOKENIZER_SENTENCEPIECE_MODEL_H_
