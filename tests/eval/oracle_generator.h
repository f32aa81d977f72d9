// Test doubles of a model of the shapes world, which make infusion-eval's scoring testable
// without a trained model:
//   OracleGenerator  draws exactly the scene each prompt or edit of a task set asks for, and reads
//                    captions and answers off the image with the detector: it must score 1.0
//                    everywhere;
//   override Alter() to draw something else (a scene with its colours swapped, ...).
#ifndef INFUSION_TESTS_EVAL_ORACLE_GENERATOR_H_
#define INFUSION_TESTS_EVAL_ORACLE_GENERATOR_H_

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "clients/eval/generator.h"
#include "clients/eval/shapes_benchmark.h"
#include "common/logging.h"
#include "data/shapes/prompt_spec.h"
#include "data/shapes/questions.h"

namespace infusion::eval {

class OracleGenerator : public Generator {
 public:
  explicit OracleGenerator(const ShapesTaskSet& tasks) {
    for (const data::shapes::CaptionedScene& p : tasks.prompts)
      prompts_.emplace(p.caption, p.scene);
    for (const data::shapes::Edit& e : tasks.edits) {
      edits_.emplace(std::make_pair(data::shapes::CanonicalCaption(e.source), e.instruction),
                     e.target);
    }
  }

  absl::StatusOr<std::vector<engine::Image>> TextToImage(
      const std::vector<TextToImageTask>& tasks) override {
    std::vector<engine::Image> images;
    for (const TextToImageTask& task : tasks) {
      auto it = prompts_.find(task.prompt);
      CHECK(it != prompts_.end()) << "not a prompt of the task set: " << task.prompt;
      images.push_back(RenderScene(Alter(it->second)));
    }
    return images;
  }

  absl::StatusOr<std::vector<std::string>> Caption(const std::vector<CaptionTask>& tasks) override {
    std::vector<std::string> captions;
    for (const CaptionTask& task : tasks) {
      captions.push_back(data::shapes::CanonicalCaption(SceneOf(task.image)));
    }
    return captions;
  }

  absl::StatusOr<std::vector<std::string>> Chat(const std::vector<ChatTask>& tasks) override {
    std::vector<std::string> replies;
    for (const ChatTask& task : tasks)
      replies.push_back(Answer(SceneOf(task.image), task.question));
    return replies;
  }

  absl::StatusOr<std::vector<engine::Image>> Edit(const std::vector<EditTask>& tasks) override {
    std::vector<engine::Image> images;
    for (const EditTask& task : tasks) {
      auto it =
          edits_.find({data::shapes::CanonicalCaption(SceneOf(task.source)), task.instruction});
      CHECK(it != edits_.end()) << "not an edit of the task set: " << task.instruction;
      images.push_back(RenderScene(Alter(it->second)));
    }
    return images;
  }

 protected:
  // What is drawn for a scene asked for.
  virtual data::shapes::Scene Alter(data::shapes::Scene scene) const { return scene; }

 private:
  // The scene the detector sees, every object at one size in the middle of its cell.
  static data::shapes::Scene SceneOf(const engine::Image& image) {
    absl::StatusOr<std::vector<data::shapes::ObjectLabel>> labels = DetectInImage(image);
    CHECK(labels.ok()) << labels.status();
    data::shapes::Scene scene;
    for (const data::shapes::ObjectLabel& l : *labels) {
      scene.objects.push_back({l.shape, l.color, l.cell, /*size=*/15, /*dx=*/0, /*dy=*/0});
    }
    return scene;
  }

  static std::string Answer(const data::shapes::Scene& scene, const std::string& question) {
    for (data::shapes::QuestionKind kind : data::shapes::kAllQuestionKinds) {
      for (const data::shapes::QuestionAnswer& qa : data::shapes::Questions(scene, kind)) {
        if (qa.question == question) return qa.answer;
      }
    }
    return "";
  }

  std::map<std::string, data::shapes::Scene> prompts_;
  std::map<std::pair<std::string, std::string>, data::shapes::Scene> edits_;
};

}  // namespace infusion::eval

#endif  // INFUSION_TESTS_EVAL_ORACLE_GENERATOR_H_
