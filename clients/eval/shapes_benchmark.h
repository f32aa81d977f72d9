// The shapes world's benchmark (shared/docs/shapes.md), scored the way GenEval scores large
// text-to-image models, with the world's exact detector as the judge:
//   text-to-image  a fixed, seeded set of prompts of every category; an image is correct when its
//                  detected objects are exactly the prompt's (Satisfies). Overall = the mean of the
//                  category accuracies (GenEval's overall score). For the objects a prompt places
//                  in a cell, also how often an object of that shape and colour was drawn in
//                  the right row and in the right column (PlacementMetrics): which half of a
//                  position a model has learnt before it gets whole prompts right.
//   captioning     held-out scenes; exact match of the canonical caption, and per-attribute
//                  accuracy over the true objects (ScoreCaption).
//   chat           a question about a held-out scene; the reply must be the answer exactly.
//   edits          held-out edits; correct when the edited image's detected objects are the
//                  target scene's (SameObjects).
// Every sample comes from the EVAL split: no prompt, caption, chat scene or edit was trained on.
#ifndef INFUSION_CLIENTS_EVAL_SHAPES_BENCHMARK_H_
#define INFUSION_CLIENTS_EVAL_SHAPES_BENCHMARK_H_

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "clients/eval/accuracy.h"
#include "clients/eval/generator.h"
#include "clients/eval/sample_grid.h"
#include "data/shapes/captioned_scene.h"
#include "data/shapes/edits.h"
#include "data/shapes/questions.h"
#include "data/shapes/scoring.h"

namespace infusion::eval {

struct ShapesBenchmarkOptions {
  int prompts_per_category = 50;  // text-to-image samples of each category (>= 0)
  int captions = 200;             // scenes to caption
  int questions = 200;            // chat questions
  int edits = 200;                // edits
  uint64_t seed = 1;              // the task set and the noise; same seed, same tasks
  int grid_samples = 16;          // images shown per sample grid

  absl::Status Validate() const;  // InvalidArgument naming the field
};

// The tasks of one seed. Each list is prefix-stable: a larger count extends it, and the counts
// of the other lists do not change it.
struct ShapesTaskSet {
  // prompts_per_category of each category, category by category in kAllCategories order.
  std::vector<data::shapes::CaptionedScene> prompts;
  std::vector<uint64_t> prompt_seeds;  // the noise of each prompt's image
  std::vector<data::shapes::CaptionedScene> captioning;
  std::vector<data::shapes::ChatSample> chats;
  std::vector<data::shapes::Edit> edits;
  std::vector<uint64_t> edit_seeds;
};

ShapesTaskSet MakeShapesTaskSet(const ShapesBenchmarkOptions& options);

// Captioning scores summed over images (ScoreCaption's per-object counts micro-averaged).
struct CaptionMetrics {
  int images = 0;
  int parsed = 0;  // captions of the canonical form
  int exact = 0;
  int count = 0;    // captions naming as many objects as there are
  int objects = 0;  // true objects over all images
  int shape = 0;    // true objects with the right shape / colour / cell
  int color = 0;
  int position = 0;

  void Add(const data::shapes::CaptionScore& score);
  double exact_match() const { return images == 0 ? 0.0 : static_cast<double>(exact) / images; }
  Json ToJson() const;
};

// Objects placed by text-to-image prompts ("a red circle at the top left"), each scored against
// the detected objects of its shape and colour: found at all, in the prompt's row, in its column
// (any such detected object counts).
struct PlacementMetrics {
  int objects = 0;
  int found = 0;
  int row = 0;
  int column = 0;

  void Add(const data::shapes::PromptSpec& spec,
           const std::vector<data::shapes::ObjectLabel>& detected);
  Json ToJson() const;  // {"objects", "found", "row", "column"}: shares of `objects`
};

// A text answer scored wrong, kept for the report so that failures can be read, not only counted.
struct TextMistake {
  std::string image;     // chat: the canonical caption of the image asked about
  std::string question;  // chat: the question
  std::string expected;  // the answer, or the canonical caption
  std::string got;       // the model's text

  Json ToJson() const;  // {"image", "question", "expected", "got"}, the first two for chat only
};

inline constexpr int kNumCategories = static_cast<int>(data::shapes::kAllCategories.size());

struct ShapesResults {
  std::array<Accuracy, kNumCategories> categories;  // indexed by PromptCategory
  PlacementMetrics placement;                       // over every prompt that places objects
  CaptionMetrics captioning;
  Accuracy chat;
  std::array<Accuracy, data::shapes::kAllQuestionKinds.size()> chat_kinds;  // by QuestionKind
  std::vector<TextMistake> caption_mistakes;  // every wrong caption, in task order
  std::vector<TextMistake> chat_mistakes;     // every wrong answer, in task order
  Accuracy edits;
  std::array<Accuracy, data::shapes::kAllEditKinds.size()> edit_kinds;  // by EditKind
  // One per category (its first grid_samples images), then "edits" (source | result pairs).
  std::vector<SampleGrid> grids;

  // GenEval's overall score: the mean of the category accuracies.
  double overall() const;
  // {"text_to_image": {"overall", "categories", "placement"}, "captioning", "chat", "edits"}
  Json ToJson() const;
};

// Runs every task of `tasks` through `generator`, one batch per task kind, and scores it.
absl::StatusOr<ShapesResults> RunShapesBenchmark(const ShapesTaskSet& tasks,
                                                 const ShapesBenchmarkOptions& options,
                                                 Generator& generator);

// Scoring, one sample at a time. Images of any size are resized to the detector's 64×64.
absl::StatusOr<std::vector<data::shapes::ObjectLabel>> DetectInImage(const engine::Image& image);
absl::StatusOr<bool> ImageSatisfies(const data::shapes::PromptSpec& spec,
                                    const engine::Image& image);
// The reply with surrounding whitespace removed equals the answer.
bool AnswerMatches(const std::string& reply, const std::string& answer);
absl::StatusOr<bool> EditMatches(const data::shapes::Scene& target, const engine::Image& edited);

// The kind of a question asked about `scene` (one of Questions(scene, kind) holds it).
data::shapes::QuestionKind QuestionKindOf(const data::shapes::Scene& scene,
                                          const std::string& question);
std::string QuestionKindName(data::shapes::QuestionKind kind);  // "color", "shape", ...
std::string EditKindName(data::shapes::EditKind kind);          // "recolor", "move", ...

// A rendered scene as an Image (the same HWC layout).
engine::Image RenderScene(const data::shapes::Scene& scene);

}  // namespace infusion::eval

#endif  // INFUSION_CLIENTS_EVAL_SHAPES_BENCHMARK_H_
