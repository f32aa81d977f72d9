// The emoji benchmark on a hand-made package of six grey squares (levels 0, 40, ..., 200), with
// pixels as the "latents": a model that draws the named image retrieves every name, and one that
// always draws the darkest square ranks name k at k (distances grow with the level).
#include "clients/eval/emoji_benchmark.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "tests/eval/private_temp_dir.h"

namespace infusion::eval {

using engine::Image;
using engine::WriteImageFile;

namespace {

constexpr int kNames = 6;

Image Grey(int level) {
  return Image{8, 8, std::vector<uint8_t>(8 * 8 * 3, static_cast<uint8_t>(level))};
}

std::string PackageDir() {
  const std::string dir = PrivateTempDir("emoji_package");
  std::filesystem::create_directories(dir + "/img/google/64");
  Json entries = Json::array();
  for (int k = 0; k < kNames; ++k) {
    const std::string file = "grey" + std::to_string(k) + ".png";
    EXPECT_TRUE(WriteImageFile(dir + "/img/google/64/" + file, Grey(40 * k)).ok());
    entries.push_back(
        {{"name", "GREY " + std::to_string(k)}, {"image", file}, {"has_img_google", true}});
  }
  std::ofstream(dir + "/emoji.json") << entries.dump();
  return dir;
}

std::vector<std::vector<float>> Pixels(const std::vector<Image>& images) {
  std::vector<std::vector<float>> out;
  for (const Image& image : images) out.emplace_back(image.rgb.begin(), image.rgb.end());
  return out;
}

// Draws "grey k" as the square of level 40 k and names a square by its level; or, when
// `constant`, draws the darkest square for every name and never names anything.
class GreyGenerator : public Generator {
 public:
  explicit GreyGenerator(bool constant) : constant_(constant) {}

  absl::StatusOr<std::vector<Image>> TextToImage(const std::vector<TextToImageTask>& t) override {
    std::vector<Image> images;
    for (const TextToImageTask& task : t) {
      const int k = std::stoi(task.prompt.substr(std::string("grey ").size()));
      images.push_back(Grey(constant_ ? 0 : 40 * k));
    }
    return images;
  }
  absl::StatusOr<std::vector<std::string>> Caption(const std::vector<CaptionTask>& t) override {
    std::vector<std::string> captions;
    for (const CaptionTask& task : t) {
      captions.push_back(constant_ ? "" : " grey " + std::to_string(task.image.rgb[0] / 40) + "\n");
    }
    return captions;
  }
  absl::StatusOr<std::vector<std::string>> Chat(const std::vector<ChatTask>&) override {
    return absl::UnimplementedError("not used");
  }
  absl::StatusOr<std::vector<Image>> Edit(const std::vector<EditTask>&) override {
    return absl::UnimplementedError("not used");
  }

 private:
  bool constant_;
};

EmojiBenchmarkOptions Options() {
  EmojiBenchmarkOptions o;
  o.data_dir = PackageDir();
  o.grid_samples = 4;
  return o;
}

TEST(EmojiBenchmarkTest, DrawingTheNamedImageRetrievesEveryName) {
  GreyGenerator oracle(/*constant=*/false);
  absl::StatusOr<EmojiResults> r = RunEmojiBenchmark(Options(), oracle, Pixels);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->dataset_size, kNames);
  EXPECT_EQ(r->top1.correct, kNames);
  EXPECT_EQ(r->top1.total, kNames);
  EXPECT_EQ(r->top5.correct, kNames);
  EXPECT_EQ(r->caption_exact.correct, kNames);  // surrounding whitespace aside
  ASSERT_EQ(r->grids.size(), 1u);
  // Four of six names, spread out: positions 0, 6/4, 12/4 and 18/4.
  ASSERT_EQ(r->grids[0].cells.size(), 4u);
  EXPECT_EQ(r->grids[0].cells[0].label, "grey 0 -> grey 0");
  EXPECT_EQ(r->grids[0].cells[1].label, "grey 1 -> grey 1");
  EXPECT_EQ(r->grids[0].cells[2].label, "grey 3 -> grey 3");
  EXPECT_EQ(r->grids[0].cells[3].label, "grey 4 -> grey 4");
  EXPECT_TRUE(*r->grids[0].cells[1].correct);
}

TEST(EmojiBenchmarkTest, AGridLargerThanTheSampleShowsEveryName) {
  EmojiBenchmarkOptions options = Options();
  options.count = 3;
  options.grid_samples = 16;
  GreyGenerator oracle(/*constant=*/false);
  absl::StatusOr<EmojiResults> r = RunEmojiBenchmark(options, oracle, Pixels);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->grids[0].cells.size(), 3u);
}

TEST(EmojiBenchmarkTest, ACollapsedModelRanksNameKAtK) {
  GreyGenerator constant(/*constant=*/true);
  absl::StatusOr<EmojiResults> r = RunEmojiBenchmark(Options(), constant, Pixels);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->top1.correct, 1);  // only "grey 0"
  EXPECT_EQ(r->top5.correct, 5);  // all but "grey 5", whose rank is 5
  EXPECT_EQ(r->caption_exact.correct, 0);
  EXPECT_EQ(r->grids[0].cells[2].label, "grey 3 -> grey 0");
  EXPECT_FALSE(*r->grids[0].cells[2].correct);
  const Json j = r->ToJson();
  EXPECT_NEAR(j["retrieval"]["top5"]["accuracy"].get<double>(), 5.0 / 6, 1e-12);
  EXPECT_EQ(j["dataset_size"].get<int>(), kNames);
}

TEST(EmojiBenchmarkTest, ASampleOfNamesStillRanksAmongAllImages) {
  EmojiBenchmarkOptions options = Options();
  options.count = 3;
  GreyGenerator constant(/*constant=*/true);
  absl::StatusOr<EmojiResults> r = RunEmojiBenchmark(options, constant, Pixels);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->dataset_size, kNames);
  EXPECT_EQ(r->top5.total, 3);
  EXPECT_EQ(r->caption_exact.total, 3);
  // The same seed draws the same names.
  absl::StatusOr<EmojiResults> again = RunEmojiBenchmark(options, constant, Pixels);
  ASSERT_TRUE(again.ok());
  ASSERT_EQ(again->grids[0].cells.size(), r->grids[0].cells.size());
  for (size_t i = 0; i < r->grids[0].cells.size(); ++i) {
    EXPECT_EQ(again->grids[0].cells[i].label, r->grids[0].cells[i].label);
  }
}

TEST(EmojiBenchmarkTest, MissingPackageIsNotFound) {
  EmojiBenchmarkOptions options;
  options.data_dir = PrivateTempDir("empty") + "/no_such_package";
  GreyGenerator oracle(/*constant=*/false);
  EXPECT_EQ(RunEmojiBenchmark(options, oracle, Pixels).status().code(),
            absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace infusion::eval
