#include "clients/eval/report_writer.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "tests/eval/private_temp_dir.h"

namespace infusion::eval {

using engine::Image;

namespace {

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

Json Category(int correct, int total) { return Accuracy{correct, total}.ToJson(); }

// Shapes results with an overall of 0.75 whose weakest category is at 0.3.
Json ShapesResultsJson() {
  Json categories = {{"single_object", Category(10, 10)}, {"position", Category(3, 10)},
                     {"two_objects", Category(9, 10)},    {"relation", Category(6, 10)},
                     {"counting", Category(8, 10)},       {"color_attribution", Category(9, 10)}};
  return {
      {"text_to_image", {{"overall", 0.75}, {"categories", categories}}},
      {"captioning",
       {{"exact_match", 0.95},
        {"parsed", 1.0},
        {"count", 1.0},
        {"shape", 1.0},
        {"color", 0.97},
        {"position", 0.96},
        {"images", 20},
        {"objects", 40}}},
      {"chat",
       {{"accuracy", 0.5}, {"correct", 5}, {"total", 10}, {"kinds", {{"color", Category(5, 10)}}}}},
      {"edits",
       {{"accuracy", 0.6}, {"correct", 6}, {"total", 10}, {"kinds", {{"move", Category(6, 10)}}}}}};
}

TEST(RenderReportTest, StatesEachTargetAndWhetherItIsMet) {
  const std::string md = RenderReport(Json{{"shapes", ShapesResultsJson()}});
  EXPECT_NE(md.find("| shapes: text-to-image overall accuracy | 0.750 | ≥ 0.70 | yes |"),
            std::string::npos)
      << md;
  EXPECT_NE(md.find("| shapes: text-to-image accuracy of every category | 0.300 | ≥ 0.40 | no |"),
            std::string::npos);
  EXPECT_NE(md.find("| shapes: caption exact match | 0.950 | ≥ 0.90 | yes |"), std::string::npos);
  EXPECT_NE(md.find("| shapes: chat accuracy | 0.500 | ≥ 0.90 | no |"), std::string::npos);
  EXPECT_NE(md.find("| shapes: edits matching the expected objects | 0.600 | ≥ 0.60 | yes |"),
            std::string::npos);
  EXPECT_NE(md.find("| position | 0.300 | 3 / 10 |"), std::string::npos);
  EXPECT_EQ(md.find("emoji"), std::string::npos);  // no section, no target
  EXPECT_EQ(md.find("\n## Text\n"), std::string::npos);
}

TEST(RenderReportTest, ListsTheFirstWrongAnswersAsTableRows) {
  Json shapes = ShapesResultsJson();
  Json mistakes = Json::array();
  mistakes.push_back({{"image", "a red circle at the top left"},
                      {"question", "where is the red circle?"},
                      {"expected", "top left"},
                      {"got", "top | right\nand more"}});
  for (int i = 0; i < 20; ++i) {
    mistakes.push_back({{"image", "a blue square at the center"},
                        {"question", "what color is the square?"},
                        {"expected", "blue"},
                        {"got", ""}});
  }
  shapes["chat"]["mistakes"] = mistakes;
  const std::string md = RenderReport(Json{{"shapes", shapes}});
  EXPECT_NE(md.find("Wrong answers: the first 12 of 21 (all in results.json)."), std::string::npos)
      << md;
  EXPECT_NE(md.find("| image | question | expected | got |"), std::string::npos);
  // A pipe or a line break in the model's text stays inside its cell.
  EXPECT_NE(md.find("| a red circle at the top left | where is the red circle? | top left | top "
                    "\\| right\\nand more |"),
            std::string::npos);
  EXPECT_NE(md.find("| blue | (empty) |"), std::string::npos);
  size_t rows = 0;
  for (size_t at = md.find("| what color is the square?"); at != std::string::npos;
       at = md.find("| what color is the square?", at + 1)) {
    ++rows;
  }
  EXPECT_EQ(rows, 11u);  // 12 shown, the first being the location question
}

TEST(RenderReportTest, EmojiTargetSaysWhenOnlyASampleWasScored) {
  const Json emoji = {{"dataset_size", 3786},
                      {"retrieval", {{"top1", Category(10, 100)}, {"top5", Category(55, 100)}}},
                      {"caption_exact_match", Category(90, 100)}};
  const std::string md = RenderReport(Json{{"emoji", emoji}});
  EXPECT_NE(md.find("| emoji: text-to-image retrieval top-5 (a sample of 100 of 3786 names) | "
                    "0.550 | ≥ 0.50 | yes |"),
            std::string::npos)
      << md;
  EXPECT_NE(md.find("| retrieval top-1 | 0.100 | 10 / 100 |"), std::string::npos);
}

TEST(ReportWriterTest, KeepsTheSectionsOfEarlierRuns) {
  const std::string dir = PrivateTempDir("report");
  {
    auto writer = ReportWriter::Open(dir);
    ASSERT_TRUE(writer.ok()) << writer.status();
    const Json text = {{"source", "bible.txt"},
                       {"lines", 10},
                       {"tokens", 321},
                       {"mean_nll", 1.5},
                       {"perplexity", 4.48}};
    ASSERT_TRUE((*writer)->SetSection("text", text, Json{{"model", "m"}}, {}).ok());
    ASSERT_TRUE((*writer)->Write().ok());
  }
  auto writer = ReportWriter::Open(dir);
  ASSERT_TRUE(writer.ok()) << writer.status();
  ASSERT_TRUE((*writer)->results().contains("text"));
  SampleGrid grid{"position", {{Image{2, 2, std::vector<uint8_t>(12, 0)}, "a red circle", true}}};
  ASSERT_TRUE(
      (*writer)->SetSection("shapes", ShapesResultsJson(), Json{{"model", "m"}}, {grid}).ok());
  ASSERT_TRUE((*writer)->Write().ok());

  const Json results = Json::parse(ReadFile(dir + "/results.json"));
  EXPECT_EQ(results["text"]["tokens"].get<int>(), 321);
  EXPECT_EQ(results["shapes"]["run"]["model"].get<std::string>(), "m");
  EXPECT_EQ(results["shapes"]["grids"]["position"].get<std::string>(), "shapes_position.png");
  EXPECT_TRUE(std::filesystem::exists(dir + "/shapes_position.png"));
  const std::string md = ReadFile(dir + "/report.md");
  EXPECT_NE(md.find("![position](shapes_position.png)"), std::string::npos);
  EXPECT_NE(md.find("Perplexity **4.48**"), std::string::npos);
}

TEST(ReportWriterTest, RefusesAResultsFileThatIsNotAnObject) {
  const std::string dir = PrivateTempDir("bad_report");
  std::filesystem::create_directories(dir);
  std::ofstream(dir + "/results.json") << "[1, 2";
  EXPECT_EQ(ReportWriter::Open(dir).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace infusion::eval
