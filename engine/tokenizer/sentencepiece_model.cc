#include "engine/tokenizer/sentencepiece_model.h"

#include <sentencepiece_processor.h>
#include <sentencepiece_trainer.h>

namespace infusion {

SentencePieceModel::SentencePieceModel()
    : processor_(std::make_unique<sentencepiece::SentencePieceProcessor>()) {}
SentencePieceModel::~SentencePieceModel() = default;

bool SentencePieceModel::Load(const std::string& path, std::string* error) {
  const auto status = processor_->Load(path);
  if (!status.ok()) *error = status.ToString();
  return status.ok();
}

std::vector<int> SentencePieceModel::Encode(std::string_view text) const {
  std::vector<int> ids;
  processor_->Encode(text, &ids).IgnoreError();  // fails only when no model is loaded
  return ids;
}

std::string SentencePieceModel::Decode(const std::vector<int>& ids) const {
  std::string text;
  processor_->Decode(ids, &text).IgnoreError();
  return text;
}

int SentencePieceModel::PieceSize() const { return processor_->GetPieceSize(); }
int SentencePieceModel::PieceToId(std::string_view piece) const {
  return processor_->PieceToId(piece);
}
std::string SentencePieceModel::IdToPiece(int id) const { return processor_->IdToPiece(id); }
int SentencePieceModel::UnkId() const { return processor_->unk_id(); }

namespace {

class VectorIterator : public sentencepiece::SentenceIterator {
 public:
  explicit VectorIterator(const std::vector<std::string>& sentences) : sentences_(sentences) {}
  bool done() const override { return index_ >= sentences_.size(); }
  void Next() override { ++index_; }
  const std::string& value() const override { return sentences_[index_]; }
  sentencepiece::util::Status status() const override { return {}; }

 private:
  const std::vector<std::string>& sentences_;
  size_t index_ = 0;
};

}  // namespace

bool SentencePieceModel::Train(const std::unordered_map<std::string, std::string>& args,
                               const std::vector<std::string>& sentences, std::string* serialized,
                               std::string* error) {
  VectorIterator it(sentences);
  const auto status = sentencepiece::SentencePieceTrainer::Train(args, &it, serialized);
  if (!status.ok()) *error = status.ToString();
  return status.ok();
}

}  // namespace infusion
