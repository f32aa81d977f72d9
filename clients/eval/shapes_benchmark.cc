#include "clients/eval/shapes_benchmark.h"

#include <algorithm>
#include <cstddef>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/logging.h"
#include "common/status_macros.h"
#include "data/seeds/seeds.h"
#include "data/shapes/detector.h"
#include "data/shapes/prompt_spec.h"
#include "data/shapes/render.h"

namespace infusion::eval {

using data::DeriveSeed;
using engine::Image;
using engine::ResizeImage;
namespace shapes = data::shapes;

namespace {

using shapes::PromptCategory;
using shapes::Split;

// Independent random streams of one seed, so that each list of tasks is prefix-stable.
enum Stream : uint64_t {
  kPromptStream = 1,
  kPromptNoiseStream,
  kCaptioningStream,
  kChatStream,
  kEditStream,
  kEditNoiseStream,
};

shapes::RgbImage ToRgbImage(const Image& image) {
  return shapes::RgbImage{image.width, image.height, image.rgb};
}

// The image at the detector's size.
Image AtShapesSize(const Image& image) {
  return ResizeImage(image, shapes::kImageSize, shapes::kImageSize);
}

// `left` and `right`, of one height, side by side.
Image SideBySide(const Image& left, const Image& right) {
  CHECK_EQ(left.height, right.height);
  Image out;
  out.width = left.width + right.width;
  out.height = left.height;
  out.rgb.reserve(static_cast<size_t>(out.width) * out.height * 3);
  for (int y = 0; y < out.height; ++y) {
    for (const Image* image : {&left, &right}) {
      const auto row = image->rgb.begin() + static_cast<ptrdiff_t>(y) * image->width * 3;
      out.rgb.insert(out.rgb.end(), row, row + image->width * 3);
    }
  }
  return out;
}

// A stopwatch for the log lines of each stage.
class Stage {
 public:
  Stage(std::string what, size_t count) : what_(std::move(what)) {
    LOG(INFO) << "shapes: " << what_ << ": " << count << " samples";
  }
  void Done(const Accuracy& accuracy) const {
    LOG(INFO) << "shapes: " << what_ << ": " << accuracy.correct << "/" << accuracy.total
              << " correct in " << absl::ToDoubleSeconds(absl::Now() - start_) << " s";
  }

 private:
  std::string what_;
  absl::Time start_ = absl::Now();
};

absl::Status RunTextToImage(const ShapesTaskSet& tasks, const ShapesBenchmarkOptions& options,
                            Generator& generator, ShapesResults* results) {
  if (tasks.prompts.empty()) return absl::OkStatus();
  Stage stage("text-to-image", tasks.prompts.size());
  std::vector<TextToImageTask> batch;
  batch.reserve(tasks.prompts.size());
  for (size_t i = 0; i < tasks.prompts.size(); ++i) {
    batch.push_back({tasks.prompts[i].caption, tasks.prompt_seeds[i]});
  }
  ASSIGN_OR_RETURN(std::vector<Image> images, generator.TextToImage(batch));

  std::array<SampleGrid, kNumCategories> grids;
  Accuracy all;
  for (size_t i = 0; i < images.size(); ++i) {
    const shapes::CaptionedScene& prompt = tasks.prompts[i];
    ASSIGN_OR_RETURN(const std::vector<shapes::ObjectLabel> detected, DetectInImage(images[i]));
    const bool correct = shapes::Satisfies(prompt.spec, detected);
    results->placement.Add(prompt.spec, detected);
    const int category = static_cast<int>(shapes::Category(prompt.spec));
    results->categories[category].Add(correct);
    all.Add(correct);
    std::vector<GridCell>& cells = grids[category].cells;
    if (static_cast<int>(cells.size()) < options.grid_samples) {
      cells.push_back({std::move(images[i]), prompt.caption, correct});
    }
  }
  for (PromptCategory category : shapes::kAllCategories) {
    SampleGrid& grid = grids[static_cast<int>(category)];
    if (grid.cells.empty()) continue;
    grid.name = shapes::CategoryName(category);
    results->grids.push_back(std::move(grid));
  }
  stage.Done(all);
  return absl::OkStatus();
}

absl::Status RunCaptioning(const ShapesTaskSet& tasks, Generator& generator,
                           ShapesResults* results) {
  if (tasks.captioning.empty()) return absl::OkStatus();
  Stage stage("captioning", tasks.captioning.size());
  std::vector<CaptionTask> batch;
  batch.reserve(tasks.captioning.size());
  for (const shapes::CaptionedScene& c : tasks.captioning) batch.push_back({RenderScene(c.scene)});
  ASSIGN_OR_RETURN(std::vector<std::string> captions, generator.Caption(batch));
  Accuracy exact;
  for (size_t i = 0; i < captions.size(); ++i) {
    const shapes::CaptionScore score =
        shapes::ScoreCaption(captions[i], shapes::Labels(tasks.captioning[i].scene));
    results->captioning.Add(score);
    exact.Add(score.exact);
    if (!score.exact) {
      results->caption_mistakes.push_back(
          {"", "", shapes::CanonicalCaption(tasks.captioning[i].scene), captions[i]});
    }
  }
  stage.Done(exact);
  return absl::OkStatus();
}

absl::Status RunChat(const ShapesTaskSet& tasks, Generator& generator, ShapesResults* results) {
  if (tasks.chats.empty()) return absl::OkStatus();
  Stage stage("chat", tasks.chats.size());
  std::vector<ChatTask> batch;
  batch.reserve(tasks.chats.size());
  for (const shapes::ChatSample& c : tasks.chats) {
    batch.push_back({RenderScene(c.scene), c.qa.question});
  }
  ASSIGN_OR_RETURN(std::vector<std::string> replies, generator.Chat(batch));
  for (size_t i = 0; i < replies.size(); ++i) {
    const shapes::ChatSample& c = tasks.chats[i];
    const bool correct = AnswerMatches(replies[i], c.qa.answer);
    results->chat.Add(correct);
    results->chat_kinds[static_cast<int>(QuestionKindOf(c.scene, c.qa.question))].Add(correct);
    if (!correct) {
      results->chat_mistakes.push_back(
          {shapes::CanonicalCaption(c.scene), c.qa.question, c.qa.answer, replies[i]});
    }
  }
  stage.Done(results->chat);
  return absl::OkStatus();
}

absl::Status RunEdits(const ShapesTaskSet& tasks, const ShapesBenchmarkOptions& options,
                      Generator& generator, ShapesResults* results) {
  if (tasks.edits.empty()) return absl::OkStatus();
  Stage stage("edits", tasks.edits.size());
  std::vector<EditTask> batch;
  batch.reserve(tasks.edits.size());
  for (size_t i = 0; i < tasks.edits.size(); ++i) {
    batch.push_back(
        {RenderScene(tasks.edits[i].source), tasks.edits[i].instruction, tasks.edit_seeds[i]});
  }
  ASSIGN_OR_RETURN(std::vector<Image> images, generator.Edit(batch));
  SampleGrid grid{"edits", {}};
  for (size_t i = 0; i < images.size(); ++i) {
    const shapes::Edit& edit = tasks.edits[i];
    ASSIGN_OR_RETURN(const bool correct, EditMatches(edit.target, images[i]));
    results->edits.Add(correct);
    results->edit_kinds[static_cast<int>(edit.kind)].Add(correct);
    if (static_cast<int>(grid.cells.size()) < options.grid_samples) {
      grid.cells.push_back(
          {SideBySide(batch[i].source, AtShapesSize(images[i])), edit.instruction, correct});
    }
  }
  results->grids.push_back(std::move(grid));
  stage.Done(results->edits);
  return absl::OkStatus();
}

}  // namespace

absl::Status ShapesBenchmarkOptions::Validate() const {
  auto non_negative = [](const char* field, int value) {
    return value >= 0
               ? absl::OkStatus()
               : absl::InvalidArgumentError(absl::StrCat(field, " must be >= 0, got ", value));
  };
  RETURN_IF_ERROR(non_negative("prompts_per_category", prompts_per_category));
  RETURN_IF_ERROR(non_negative("captions", captions));
  RETURN_IF_ERROR(non_negative("questions", questions));
  RETURN_IF_ERROR(non_negative("edits", edits));
  return non_negative("grid_samples", grid_samples);
}

ShapesTaskSet MakeShapesTaskSet(const ShapesBenchmarkOptions& options) {
  ShapesTaskSet t;
  for (PromptCategory category : shapes::kAllCategories) {
    const auto c = static_cast<uint64_t>(category);
    shapes::Rng rng(DeriveSeed(options.seed, {kPromptStream, c}));
    for (int i = 0; i < options.prompts_per_category; ++i) {
      t.prompts.push_back(shapes::SamplePrompt(category, Split::kEval, rng));
      t.prompt_seeds.push_back(
          DeriveSeed(options.seed, {kPromptNoiseStream, c, static_cast<uint64_t>(i)}));
    }
  }
  shapes::Rng captioning(DeriveSeed(options.seed, {kCaptioningStream}));
  for (int i = 0; i < options.captions; ++i) {
    t.captioning.push_back(shapes::SampleCaptioning(Split::kEval, captioning));
  }
  shapes::Rng chat(DeriveSeed(options.seed, {kChatStream}));
  for (int i = 0; i < options.questions; ++i) {
    t.chats.push_back(shapes::SampleChat(Split::kEval, chat));
  }
  shapes::Rng edits(DeriveSeed(options.seed, {kEditStream}));
  for (int i = 0; i < options.edits; ++i) {
    t.edits.push_back(shapes::SampleEdit(Split::kEval, edits));
    t.edit_seeds.push_back(DeriveSeed(options.seed, {kEditNoiseStream, static_cast<uint64_t>(i)}));
  }
  return t;
}

void CaptionMetrics::Add(const shapes::CaptionScore& score) {
  ++images;
  parsed += score.parsed;
  exact += score.exact;
  count += score.count;
  objects += score.num_objects;
  shape += score.shape;
  color += score.color;
  position += score.position;
}

Json CaptionMetrics::ToJson() const {
  auto share = [](int n, int of) { return of == 0 ? 0.0 : static_cast<double>(n) / of; };
  return Json{{"exact_match", exact_match()},
              {"parsed", share(parsed, images)},
              {"count", share(count, images)},
              {"shape", share(shape, objects)},
              {"color", share(color, objects)},
              {"position", share(position, objects)},
              {"images", images},
              {"objects", objects}};
}

void PlacementMetrics::Add(const shapes::PromptSpec& spec,
                           const std::vector<shapes::ObjectLabel>& detected) {
  for (const shapes::ObjectConstraint& wanted : spec.objects) {
    if (!wanted.cell) continue;
    ++objects;
    bool any = false, in_row = false, in_column = false;
    for (const shapes::ObjectLabel& d : detected) {
      if (d.shape != wanted.shape || d.color != wanted.color) continue;
      any = true;
      in_row |= d.cell.row == wanted.cell->row;
      in_column |= d.cell.col == wanted.cell->col;
    }
    found += any;
    row += in_row;
    column += in_column;
  }
}

Json PlacementMetrics::ToJson() const {
  auto share = [this](int n) { return objects == 0 ? 0.0 : static_cast<double>(n) / objects; };
  return Json{{"objects", objects},
              {"found", share(found)},
              {"row", share(row)},
              {"column", share(column)}};
}

Json TextMistake::ToJson() const {
  Json json = Json::object();
  if (!image.empty()) json["image"] = image;
  if (!question.empty()) json["question"] = question;
  json["expected"] = expected;
  json["got"] = got;
  return json;
}

double ShapesResults::overall() const {
  double sum = 0;
  for (const Accuracy& a : categories) sum += a.value();
  return sum / categories.size();
}

Json ShapesResults::ToJson() const {
  Json categories_json = Json::object();
  for (PromptCategory c : shapes::kAllCategories) {
    categories_json[shapes::CategoryName(c)] = categories[static_cast<int>(c)].ToJson();
  }
  Json chat_json = chat.ToJson();
  chat_json["kinds"] = Json::object();
  for (shapes::QuestionKind k : shapes::kAllQuestionKinds) {
    chat_json["kinds"][QuestionKindName(k)] = chat_kinds[static_cast<int>(k)].ToJson();
  }
  auto mistakes_json = [](const std::vector<TextMistake>& mistakes) {
    Json list = Json::array();
    for (const TextMistake& m : mistakes) list.push_back(m.ToJson());
    return list;
  };
  chat_json["mistakes"] = mistakes_json(chat_mistakes);
  Json captioning_json = captioning.ToJson();
  captioning_json["mistakes"] = mistakes_json(caption_mistakes);
  Json edits_json = edits.ToJson();
  edits_json["kinds"] = Json::object();
  for (shapes::EditKind k : shapes::kAllEditKinds) {
    edits_json["kinds"][EditKindName(k)] = edit_kinds[static_cast<int>(k)].ToJson();
  }
  return Json{{"text_to_image",
               {{"overall", overall()},
                {"categories", categories_json},
                {"placement", placement.ToJson()}}},
              {"captioning", captioning_json},
              {"chat", chat_json},
              {"edits", edits_json}};
}

absl::StatusOr<ShapesResults> RunShapesBenchmark(const ShapesTaskSet& tasks,
                                                 const ShapesBenchmarkOptions& options,
                                                 Generator& generator) {
  RETURN_IF_ERROR(options.Validate());
  ShapesResults results;
  RETURN_IF_ERROR(RunTextToImage(tasks, options, generator, &results));
  RETURN_IF_ERROR(RunCaptioning(tasks, generator, &results));
  RETURN_IF_ERROR(RunChat(tasks, generator, &results));
  RETURN_IF_ERROR(RunEdits(tasks, options, generator, &results));
  return results;
}

absl::StatusOr<std::vector<shapes::ObjectLabel>> DetectInImage(const Image& image) {
  return shapes::DetectObjects(ToRgbImage(AtShapesSize(image)));
}

absl::StatusOr<bool> ImageSatisfies(const shapes::PromptSpec& spec, const Image& image) {
  ASSIGN_OR_RETURN(std::vector<shapes::ObjectLabel> detected, DetectInImage(image));
  return shapes::Satisfies(spec, detected);
}

bool AnswerMatches(const std::string& reply, const std::string& answer) {
  return absl::StripAsciiWhitespace(reply) == answer;
}

absl::StatusOr<bool> EditMatches(const shapes::Scene& target, const Image& edited) {
  ASSIGN_OR_RETURN(std::vector<shapes::ObjectLabel> detected, DetectInImage(edited));
  return shapes::SameObjects(std::move(detected), shapes::Labels(target));
}

shapes::QuestionKind QuestionKindOf(const shapes::Scene& scene, const std::string& question) {
  for (shapes::QuestionKind kind : shapes::kAllQuestionKinds) {
    for (const shapes::QuestionAnswer& qa : shapes::Questions(scene, kind)) {
      if (qa.question == question) return kind;
    }
  }
  LOG(FATAL) << "\"" << question << "\" is not a question about its scene";
  return shapes::QuestionKind::kColor;
}

std::string QuestionKindName(shapes::QuestionKind kind) {
  switch (kind) {
    case shapes::QuestionKind::kColor:
      return "color";
    case shapes::QuestionKind::kShape:
      return "shape";
    case shapes::QuestionKind::kCount:
      return "count";
    case shapes::QuestionKind::kExists:
      return "exists";
    case shapes::QuestionKind::kLocation:
      return "location";
  }
  return "unknown";
}

std::string EditKindName(shapes::EditKind kind) {
  switch (kind) {
    case shapes::EditKind::kRecolor:
      return "recolor";
    case shapes::EditKind::kMove:
      return "move";
    case shapes::EditKind::kRemove:
      return "remove";
    case shapes::EditKind::kAdd:
      return "add";
    case shapes::EditKind::kReplace:
      return "replace";
  }
  return "unknown";
}

Image RenderScene(const shapes::Scene& scene) {
  shapes::RgbImage rgb = shapes::Render(scene);
  return Image{rgb.width, rgb.height, std::move(rgb.rgb)};
}

}  // namespace infusion::eval
