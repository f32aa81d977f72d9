// The datasets beside data/shapes: named emoji (data/emoji) and plain text (data/text).
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "data/emoji/emoji_dataset.h"
#include "data/text/text_dataset.h"
#include "engine/codec/image.h"
#include "gtest/gtest.h"

namespace infusion::data {

using engine::Image;
using engine::Rng;
using engine::WriteImageFile;

namespace {

// An empty folder of the build tree for one test, `name` unique among the tests.
std::string FreshDir(const std::string& name) {
  const std::string dir = std::string(INFUSION_BINARY_DIR) + "/tests/datasets/work/" + name;
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

void WriteText(const std::string& path, const std::string& text) { std::ofstream(path) << text; }

// A fake emoji-datasource-google: emoji.json and two of the three PNGs it names.
class EmojiDatasetTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = FreshDir("emoji");
    std::filesystem::create_directories(dir_ + "/img/google/64");
    WriteText(dir_ + "/emoji.json", R"([
      {"name": "GRINNING FACE", "image": "1f600.png", "has_img_google": true},
      {"name": "WAVING HAND SIGN", "image": "1f44b.png", "has_img_google": true,
       "skin_variations": {"1F3FD": {"image": "1f44b-1f3fd.png", "has_img_google": true},
                           "1F3FF": {"image": "1f44b-1f3ff.png", "has_img_google": true}}},
      {"name": "NO GOOGLE IMAGE", "image": "1f601.png", "has_img_google": false}
    ])");
    for (const char* name : {"1f600.png", "1f44b.png", "1f44b-1f3fd.png"}) {
      Image image{64, 64, std::vector<uint8_t>(64 * 64 * 3, 200)};
      ASSERT_TRUE(WriteImageFile(dir_ + "/img/google/64/" + name, image).ok());
    }
  }
  std::string dir_;
};

TEST_F(EmojiDatasetTest, NamesAndImagesOfTheEntriesWithAPicture) {
  EmojiDataOptions options;
  options.dir = dir_;
  options.image_first = 0.5;
  auto dataset = EmojiDataset::Create(options);
  ASSERT_TRUE(dataset.ok()) << dataset.status();
  // The dark variant's PNG and the entry without a Google image are skipped.
  EXPECT_EQ((*dataset)->Texts(), (std::vector<std::string>{"grinning face", "waving hand sign",
                                                           "waving hand sign: medium skin tone"}));
  ASSERT_EQ((*dataset)->num_images(), 3);
  const absl::StatusOr<Image> image = (*dataset)->LoadImage(2);
  ASSERT_TRUE(image.ok()) << image.status();
  EXPECT_EQ(image->width, 64);
  EXPECT_EQ(image->rgb[0], 200);
  Rng rng(3);
  int image_first = 0;
  for (int i = 0; i < 400; ++i) {
    const Example e = (*dataset)->Get(1, rng);
    EXPECT_EQ(e.text, "waving hand sign");
    EXPECT_EQ(e.images, (std::vector<int64_t>{1}));
    image_first += e.kind == ExampleKind::kImageFirst;
  }
  EXPECT_NEAR(image_first, 200, 40);
  options.skin_tones = false;
  EXPECT_EQ((*EmojiDataset::Create(options))->size(), 2);
}

TEST_F(EmojiDatasetTest, AMissingPackageSaysHowToFetchIt) {
  EmojiDataOptions options;
  options.dir = dir_ + "/nowhere";
  const absl::Status status = EmojiDataset::Create(options).status();
  EXPECT_TRUE(absl::IsNotFound(status));
  EXPECT_NE(status.message().find(dir_ + "/nowhere/emoji.json"), std::string::npos);
  EXPECT_NE(status.message().find("fetch_emoji.sh"), std::string::npos);
}

TEST(TextDatasetTest, LinesGroupedIntoChunks) {
  const std::string dir = FreshDir("text");
  WriteText(dir + "/a.txt",
            "In the beginning\n\nGod created\r\nthe heaven and the earth.\nAnd the earth\n");
  TextDataOptions options;
  options.files = {dir + "/a.txt"};
  options.chunk_chars = 30;
  options.held_out_lines = 1;  // "And the earth" is left for evaluation
  auto dataset = TextDataset::Create(options, dir);
  ASSERT_TRUE(dataset.ok()) << dataset.status();
  EXPECT_EQ((*dataset)->Texts(), (std::vector<std::string>{"In the beginning", "God created",
                                                           "the heaven and the earth."}));
  ASSERT_EQ((*dataset)->size(), 2);
  Rng rng(0);
  EXPECT_EQ((*dataset)->Get(0, rng).text, "In the beginning\nGod created");  // 28 chars
  EXPECT_EQ((*dataset)->Get(1, rng).text, "the heaven and the earth.");
  EXPECT_EQ((*dataset)->Get(1, rng).kind, ExampleKind::kText);
  options.files = {dir + "/missing.txt"};
  const absl::Status missing = TextDataset::Create(options, dir).status();
  EXPECT_NE(missing.message().find(dir + "/missing.txt"), std::string::npos);
  // Nothing left to train on once the held-out lines are taken: refused, saying so.
  options.files = {dir + "/a.txt"};
  options.held_out_lines = 4;
  const absl::Status all_held_out = TextDataset::Create(options, dir).status();
  EXPECT_NE(all_held_out.message().find("held_out_lines = 4"), std::string::npos) << all_held_out;
}

TEST(TextDatasetTest, TheDefaultIsTheKingJamesBible) {
  const std::string dir = FreshDir("bible");
  auto dataset = TextDataset::Create(TextDataOptions(), dir);
  ASSERT_TRUE(dataset.ok()) << dataset.status();  // needs Debian's bible-kjv (scripts/setup.sh)
  const std::vector<std::string> verses = (*dataset)->Texts();
  ASSERT_EQ(verses.size(), 31102u - 1000u);  // the last 1,000 verses are held out
  EXPECT_EQ(verses.front(), "In the beginning God created the heaven and the earth.");
  std::ifstream file(dir + "/bible-kjv.txt");
  std::vector<std::string> all;
  for (std::string line; std::getline(file, line);) {
    if (!line.empty()) all.push_back(line);
  }
  ASSERT_EQ(all.size(), 31102u);
  EXPECT_EQ(all.back(), "The grace of our Lord Jesus Christ be with you all. Amen.");
  EXPECT_TRUE(std::equal(verses.begin(), verses.end(), all.begin()));
  EXPECT_TRUE(std::filesystem::exists(dir + "/bible-kjv.txt"));
}

}  // namespace
}  // namespace infusion::data
