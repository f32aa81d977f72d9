#include "data/emoji/emoji_dataset.h"

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "data/seeds/seeds.h"
#include "nlohmann/json.hpp"

namespace infusion::data {

using engine::Image;
using engine::ReadImageFile;
using engine::Rng;

using Json = nlohmann::json;
namespace fs = std::filesystem;

absl::Status EmojiDataOptions::Validate() const {
  if (dir.empty()) return absl::InvalidArgumentError("dir must name the emoji package folder");
  if (!(image_first >= 0 && image_first <= 1)) {
    return absl::InvalidArgumentError(
        absl::StrCat("image_first must be in [0, 1], got ", image_first));
  }
  return absl::OkStatus();
}

// "1F3FB-1F3FD" -> "light skin tone, medium skin tone" (CLDR's names of the Fitzpatrick
// modifiers); a tone repeated for both people of a pair is named once.
static std::string SkinToneName(const std::string& key) {
  static const std::map<std::string, std::string> kTones = {{"1F3FB", "light skin tone"},
                                                            {"1F3FC", "medium-light skin tone"},
                                                            {"1F3FD", "medium skin tone"},
                                                            {"1F3FE", "medium-dark skin tone"},
                                                            {"1F3FF", "dark skin tone"}};
  std::vector<std::string> names;
  for (absl::string_view code : absl::StrSplit(key, '-')) {
    auto it = kTones.find(std::string(code));
    std::string name = it == kTones.end() ? absl::AsciiStrToLower(code) : it->second;
    if (names.empty() || names.back() != name) names.push_back(std::move(name));
  }
  return absl::StrJoin(names, ", ");
}

absl::StatusOr<std::unique_ptr<EmojiDataset>> EmojiDataset::Create(
    const EmojiDataOptions& options) {
  if (absl::Status s = options.Validate(); !s.ok()) return s;
  const std::string json_path = options.dir + "/emoji.json";
  const std::string image_dir = options.dir + "/img/google/64";
  std::ifstream in(json_path);
  if (!in) {
    return absl::NotFoundError(absl::StrCat("emoji data: cannot read ", json_path,
                                            " (run scripts/fetch_emoji.sh to fetch it)"));
  }
  std::stringstream text;
  text << in.rdbuf();
  const Json entries = Json::parse(text.str(), nullptr, /*allow_exceptions=*/false);
  if (entries.is_discarded() || !entries.is_array()) {
    return absl::InvalidArgumentError(absl::StrCat(json_path, ": not a JSON array of emoji"));
  }
  std::vector<Emoji> emoji;
  std::string fingerprint;
  auto add = [&](const std::string& name, const Json& entry) {
    if (!entry.value("has_img_google", false) || !entry.contains("image") ||
        !entry["image"].is_string()) {
      return;
    }
    std::string path = image_dir + "/" + entry["image"].get<std::string>();
    if (!fs::exists(path)) return;
    absl::StrAppend(&fingerprint, name, "=", entry["image"].get<std::string>(), "\n");
    emoji.push_back({name, std::move(path)});
  };
  for (const Json& entry : entries) {
    if (!entry.is_object()) continue;
    std::string name;
    if (entry.contains("name") && entry["name"].is_string()) {
      name = absl::AsciiStrToLower(entry["name"].get<std::string>());
    } else if (entry.contains("short_name") && entry["short_name"].is_string()) {
      name = absl::StrReplaceAll(entry["short_name"].get<std::string>(), {{"_", " "}});
    } else {
      continue;
    }
    add(name, entry);
    if (options.skin_tones && entry.contains("skin_variations") &&
        entry["skin_variations"].is_object()) {
      for (const auto& [key, variant] : entry["skin_variations"].items()) {
        if (variant.is_object()) add(absl::StrCat(name, ": ", SkinToneName(key)), variant);
      }
    }
  }
  if (emoji.empty()) {
    return absl::NotFoundError(
        absl::StrCat("emoji data: no entry of ", json_path, " has an image in ", image_dir));
  }
  std::string key = absl::StrCat("emoji-", emoji.size(), "-", absl::Hex(StableHash(fingerprint)));
  return std::unique_ptr<EmojiDataset>(
      new EmojiDataset(options.image_first, std::move(emoji), std::move(key)));
}

Example EmojiDataset::Get(int64_t index, Rng& rng) const {
  Example e;
  e.kind = rng.Uniform() < image_first_ ? ExampleKind::kImageFirst : ExampleKind::kCaptionFirst;
  e.text = emoji_[index].name;
  e.images = {index};
  return e;
}

std::vector<std::string> EmojiDataset::Texts() const {
  std::vector<std::string> texts;
  texts.reserve(emoji_.size());
  for (const Emoji& e : emoji_) texts.push_back(e.name);
  return texts;
}

absl::StatusOr<Image> EmojiDataset::LoadImage(int64_t index) const {
  return ReadImageFile(emoji_[index].image);
}

}  // namespace infusion::data
