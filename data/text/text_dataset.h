// Plain text for language modelling: the lines of one or more UTF-8 files, grouped into examples
// of at most chunk_chars characters (a line is never split; a longer line is an example of its
// own and the packer cuts it to the row). Without files it reads the King James Bible of
// Debian's bible-kjv, written once into the cache folder by its `bible` program.
#ifndef INFUSION_DATA_TEXT_TEXT_DATASET_H_
#define INFUSION_DATA_TEXT_TEXT_DATASET_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "data/dataset/dataset.h"

namespace infusion::data {

struct TextDataOptions {
  std::vector<std::string> files;  // empty: the King James Bible (see above)
  int chunk_chars = 1000;          // > 0
  // The last held_out_lines non-empty lines of the text (the files in order) are never trained
  // on, nor shown to the tokenizer: `infusion-eval text` scores the perplexity of exactly those
  // (its --text_lines, same default).
  int held_out_lines = 1000;  // >= 0

  absl::Status Validate() const;  // InvalidArgument naming the field
};

class TextDataset : public Dataset {
 public:
  // NotFound naming a file that cannot be read; `cache_dir` receives the Bible when no files
  // are given (FailedPrecondition when the `bible` program is not installed).
  static absl::StatusOr<std::unique_ptr<TextDataset>> Create(const TextDataOptions& options,
                                                             const std::string& cache_dir);

  std::string name() const override { return "text"; }
  int64_t size() const override { return static_cast<int64_t>(chunks_.size()); }
  Example Get(int64_t index, engine::Rng& rng) const override;
  std::vector<std::string> Texts() const override { return lines_; }

 private:
  TextDataset(std::vector<std::string> lines, int chunk_chars);

  std::vector<std::string> lines_;   // non-empty lines of every file, in order
  std::vector<std::string> chunks_;  // consecutive lines joined by '\n'
};

// The path of the Bible text in `cache_dir`, written by `bible -f` with the verse references
// ("Ge1:1 ") removed, one verse per line. Does nothing when the file exists.
absl::StatusOr<std::string> EnsureKingJamesBible(const std::string& cache_dir);

}  // namespace infusion::data

#endif  // INFUSION_DATA_TEXT_TEXT_DATASET_H_
