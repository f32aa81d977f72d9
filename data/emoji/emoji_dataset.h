// Named emoji as caption pairs: the images of the npm package emoji-datasource-google
// (img/google/64/*.png, Noto, Apache-2.0) and their Unicode names from its emoji.json (MIT),
// lower-cased: "garlic", "waving hand: medium skin tone". scripts/fetch_emoji.sh fetches it.
// Each draw goes caption -> image or, with probability image_first, image -> caption.
#ifndef INFUSION_DATA_EMOJI_EMOJI_DATASET_H_
#define INFUSION_DATA_EMOJI_EMOJI_DATASET_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "data/dataset/dataset.h"

namespace infusion::data {

struct EmojiDataOptions {
  std::string dir = ".cache/emoji/package";  // holds emoji.json and img/google/64/
  bool skin_tones = true;                    // also the skin-tone variants, named after their tones
  double image_first = 0.2;                  // share of draws that go image -> caption

  absl::Status Validate() const;  // InvalidArgument naming the field
};

class EmojiDataset : public Dataset {
 public:
  // NotFound naming the file when emoji.json is missing, InvalidArgument when it is malformed.
  // Entries without a Google image, or whose PNG is absent, are skipped.
  static absl::StatusOr<std::unique_ptr<EmojiDataset>> Create(const EmojiDataOptions& options);

  std::string name() const override { return "emoji"; }
  int64_t size() const override { return static_cast<int64_t>(emoji_.size()); }
  Example Get(int64_t index, engine::Rng& rng) const override;
  std::vector<std::string> Texts() const override;
  int64_t num_images() const override { return size(); }
  absl::StatusOr<engine::Image> LoadImage(int64_t index) const override;
  std::string ImagesKey() const override { return images_key_; }

 private:
  struct Emoji {
    std::string name;   // lower-case Unicode name
    std::string image;  // path of the PNG
  };
  EmojiDataset(double image_first, std::vector<Emoji> emoji, std::string images_key)
      : image_first_(image_first), emoji_(std::move(emoji)), images_key_(std::move(images_key)) {}

  double image_first_;
  std::vector<Emoji> emoji_;
  std::string images_key_;
};

}  // namespace infusion::data

#endif  // INFUSION_DATA_EMOJI_EMOJI_DATASET_H_
