// infusion-eval on a random tiny model (infusion-tool init): the in-process backend returns what
// the Generator interface promises, and the binary writes a results.json with every category and
// task, scores in [0, 1], a report and the sample grids. A random model scores about 0; only the
// plumbing is tested here, the scoring is tested with oracles in shapes_benchmark_test.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "clients/eval/in_process_generator.h"
#include "clients/eval/shapes_benchmark.h"
#include "tests/eval/tiny_model.h"

namespace infusion::eval {

using engine::Image;
using engine::WriteImageFile;
namespace shapes = data::shapes;

namespace {

TEST(EndToEndTest, InProcessGeneratorKeepsTaskOrderAndSeeds) {
  InProcessOptions options;
  options.model_dir = TinyModelDir();
  options.num_threads = 2;
  options.kv_cache_bytes = 16 << 20;
  options.params.image_steps = 2;
  options.params.max_text_tokens = 5;
  absl::StatusOr<std::unique_ptr<InProcessGenerator>> g = InProcessGenerator::Create(options);
  ASSERT_TRUE(g.ok()) << g.status();

  absl::StatusOr<std::vector<Image>> images =
      (*g)->TextToImage({{"a red circle", 1}, {"two blue squares", 2}, {"a red circle", 1}});
  ASSERT_TRUE(images.ok()) << images.status();
  ASSERT_EQ(images->size(), 3u);
  EXPECT_EQ((*images)[0].width, 32);  // the model's image size
  EXPECT_EQ((*images)[0].height, 32);
  EXPECT_EQ((*images)[0].rgb, (*images)[2].rgb);  // same prompt and seed, same image
  EXPECT_NE((*images)[0].rgb, (*images)[1].rgb);

  shapes::Scene two;
  two.objects.push_back({shapes::Shape::kCircle, shapes::Color::kRed, {0, 0}, 14, 0, 0});
  two.objects.push_back({shapes::Shape::kSquare, shapes::Color::kBlue, {2, 2}, 16, 0, 0});
  const Image scene = RenderScene(two);
  absl::StatusOr<std::vector<std::string>> captions = (*g)->Caption({{scene}, {scene}});
  ASSERT_TRUE(captions.ok()) << captions.status();
  ASSERT_EQ(captions->size(), 2u);
  EXPECT_EQ((*captions)[0], (*captions)[1]);  // greedy

  absl::StatusOr<std::vector<std::string>> replies =
      (*g)->Chat({{scene, "how many objects are there?"}});
  ASSERT_TRUE(replies.ok()) << replies.status();
  EXPECT_EQ(replies->size(), 1u);

  absl::StatusOr<std::vector<Image>> edited = (*g)->Edit({{scene, "remove the red circle", 3}});
  ASSERT_TRUE(edited.ok()) << edited.status();
  ASSERT_EQ(edited->size(), 1u);
  EXPECT_EQ((*edited)[0].width, 32);
}

TEST(EndToEndTest, ShapesAndTextWriteResultsAndReport) {
  const std::string out = PrivateTempDir("shapes_and_text");
  const std::string eval = absl::StrCat(INFUSION_EVAL_BINARY, " --model ", TinyModelDir(),
                                        " --out_dir ", out, " --threads 2 --kv_cache_mb 16");
  ASSERT_EQ(
      RunCommand(absl::StrCat(eval,
                              " shapes --prompts_per_category 2 --captions 3 --questions 3"
                              " --edits 3 --image_steps 2 --max_text_tokens 6 --grid_samples 2")),
      0);
  ASSERT_EQ(RunCommand(absl::StrCat(eval, " text --text_file ", INFUSION_SOURCE_DIR,
                                    "/tests/data/corpus.txt --text_lines 5")),
            0);

  const Json results = ReadJson(out + "/results.json");
  const Json& shapes = results["shapes"];
  auto in_unit_interval = [](const Json& v) {
    const double x = v.get<double>();
    return x >= 0.0 && x <= 1.0;
  };
  const Json& categories = shapes["text_to_image"]["categories"];
  ASSERT_EQ(categories.size(), 6u);
  for (const char* name :
       {"single_object", "position", "two_objects", "relation", "counting", "color_attribution"}) {
    ASSERT_TRUE(categories.contains(name)) << name;
    EXPECT_TRUE(in_unit_interval(categories[name]["accuracy"])) << name;
    EXPECT_EQ(categories[name]["total"].get<int>(), 2) << name;
    EXPECT_TRUE(std::filesystem::exists(absl::StrCat(out, "/shapes_", name, ".png"))) << name;
  }
  EXPECT_TRUE(in_unit_interval(shapes["text_to_image"]["overall"]));
  for (const char* metric : {"exact_match", "parsed", "count", "shape", "color", "position"}) {
    EXPECT_TRUE(in_unit_interval(shapes["captioning"][metric])) << metric;
  }
  EXPECT_EQ(shapes["captioning"]["images"].get<int>(), 3);
  EXPECT_TRUE(in_unit_interval(shapes["chat"]["accuracy"]));
  EXPECT_EQ(shapes["chat"]["total"].get<int>(), 3);
  EXPECT_TRUE(in_unit_interval(shapes["edits"]["accuracy"]));
  EXPECT_EQ(shapes["edits"]["total"].get<int>(), 3);
  EXPECT_EQ(shapes["run"]["image_steps"].get<int>(), 2);
  EXPECT_TRUE(std::filesystem::exists(out + "/shapes_edits.png"));

  const Json& text = results["text"];
  EXPECT_GT(text["tokens"].get<int>(), 0);
  EXPECT_EQ(text["lines"].get<int>(), 5);
  const double perplexity = text["perplexity"].get<double>();
  EXPECT_TRUE(std::isfinite(perplexity));
  EXPECT_GT(perplexity, 1.0);

  std::ifstream report(out + "/report.md");
  std::stringstream md;
  md << report.rdbuf();
  EXPECT_NE(md.str().find("## Targets (issue 7)"), std::string::npos);
  EXPECT_NE(md.str().find("\n## Text\n"), std::string::npos);
}

// Three emoji, so that every name is among the five nearest of any image: top-5 is exactly 1
// whatever the model draws.
TEST(EndToEndTest, EmojiRanksAmongTheDatasetImages) {
  const std::string package = PrivateTempDir("emoji_package");
  std::filesystem::create_directories(package + "/img/google/64");
  Json entries = Json::array();
  for (int k = 0; k < 3; ++k) {
    const std::string file = absl::StrCat("e", k, ".png");
    Image image{64, 64, std::vector<uint8_t>(64 * 64 * 3, static_cast<uint8_t>(90 * k))};
    ASSERT_TRUE(WriteImageFile(absl::StrCat(package, "/img/google/64/", file), image).ok());
    entries.push_back(
        {{"name", absl::StrCat("EMOJI ", k)}, {"image", file}, {"has_img_google", true}});
  }
  std::ofstream(package + "/emoji.json") << entries.dump();

  const std::string out = PrivateTempDir("emoji");
  ASSERT_EQ(RunCommand(absl::StrCat(INFUSION_EVAL_BINARY, " emoji --model ", TinyModelDir(),
                                    " --out_dir ", out, " --emoji_dir ", package,
                                    " --threads 2 --image_steps 2 --max_text_tokens 6")),
            0);
  const Json emoji = ReadJson(out + "/results.json")["emoji"];
  EXPECT_EQ(emoji["dataset_size"].get<int>(), 3);
  EXPECT_EQ(emoji["retrieval"]["top5"]["total"].get<int>(), 3);
  EXPECT_DOUBLE_EQ(emoji["retrieval"]["top5"]["accuracy"].get<double>(), 1.0);
  const double top1 = emoji["retrieval"]["top1"]["accuracy"].get<double>();
  EXPECT_TRUE(top1 >= 0.0 && top1 <= 1.0);
  EXPECT_EQ(emoji["caption_exact_match"]["total"].get<int>(), 3);
  EXPECT_TRUE(std::filesystem::exists(out + "/emoji_samples.png"));
}

TEST(EndToEndTest, RefusesUnknownCommandsAndMissingModel) {
  EXPECT_NE(RunCommand(absl::StrCat(INFUSION_EVAL_BINARY, " --model ", TinyModelDir(),
                                    " nonsense 2>/dev/null")),
            0);
  EXPECT_NE(RunCommand(absl::StrCat(INFUSION_EVAL_BINARY, " text 2>/dev/null")), 0);
}

}  // namespace
}  // namespace infusion::eval
