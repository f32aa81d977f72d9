#include "data/shapes/captioned_scene.h"

#include <gtest/gtest.h>

#include "data/shapes/detector.h"
#include "data/shapes/render.h"
#include "data/shapes/sampler.h"

namespace infusion::data::shapes {
namespace {

// The scene with one attribute of one object changed, or one object removed or added.
std::vector<Scene> Perturbations(const Scene& scene, Rng& rng) {
  std::vector<Scene> changed;
  Scene recoloured = scene;
  recoloured.objects[0].color = SampleOther(kAllColors, scene.objects[0].color, rng);
  changed.push_back(recoloured);
  Scene reshaped = scene;
  reshaped.objects[0].shape = SampleOther(kAllShapes, scene.objects[0].shape, rng);
  changed.push_back(reshaped);
  if (scene.objects.size() > 1) {
    Scene removed = scene;
    removed.objects.pop_back();
    changed.push_back(removed);
  }
  if (scene.objects.size() < kMaxObjects) {
    Scene added = scene;
    for (Cell cell : kAllCells) {
      if (std::none_of(scene.objects.begin(), scene.objects.end(),
                       [&](const Object& o) { return o.cell == cell; })) {
        added.objects.push_back(scene.objects[0]);
        added.objects.back().cell = cell;
        break;
      }
    }
    changed.push_back(added);
  }
  return changed;
}

TEST(CaptionedSceneTest, EveryPromptParsesAndItsSceneSatisfiesIt) {
  Rng rng(11);
  for (PromptCategory category : kAllCategories) {
    for (Split split : {Split::kTrain, Split::kEval}) {
      for (int i = 0; i < 200; ++i) {
        const CaptionedScene sample = SamplePrompt(category, split, rng);
        SCOPED_TRACE(sample.caption);
        const absl::StatusOr<PromptSpec> parsed = ParsePrompt(sample.caption);
        ASSERT_TRUE(parsed.ok()) << parsed.status();
        EXPECT_EQ(*parsed, sample.spec);
        EXPECT_EQ(Category(*parsed), category);
        EXPECT_EQ(SplitOf(sample.caption), split);
        ASSERT_TRUE(ValidateScene(sample.scene).ok());
        EXPECT_TRUE(Satisfies(*parsed, Labels(sample.scene)));
        EXPECT_TRUE(Satisfies(*parsed, *DetectObjects(Render(sample.scene))));
        for (const Scene& changed : Perturbations(sample.scene, rng)) {
          EXPECT_FALSE(Satisfies(*parsed, Labels(changed))) << CanonicalCaption(changed);
        }
      }
    }
  }
}

TEST(CaptionedSceneTest, CategoriesAreDrawnAsDocumented) {
  Rng rng(12);
  for (int i = 0; i < 200; ++i) {
    const std::vector<ObjectConstraint> two =
        SamplePrompt(PromptCategory::kTwoObjects, Split::kTrain, rng).spec.objects;
    ASSERT_EQ(two.size(), 2u);
    EXPECT_NE(two[0].color == two[1].color, two[0].shape == two[1].shape);  // exactly one shared

    const std::vector<ObjectConstraint> attribution =
        SamplePrompt(PromptCategory::kColorAttribution, Split::kTrain, rng).spec.objects;
    ASSERT_EQ(attribution.size(), 2u);
    EXPECT_NE(attribution[0].color, attribution[1].color);
    EXPECT_NE(attribution[0].shape, attribution[1].shape);

    const int count = static_cast<int>(
        SamplePrompt(PromptCategory::kCounting, Split::kTrain, rng).spec.objects.size());
    EXPECT_TRUE(count == 2 || count == 3);

    EXPECT_EQ(SamplePrompt(PromptCategory::kSingleObject, Split::kTrain, rng).scene.objects.size(),
              1u);
  }
}

TEST(CaptionedSceneTest, CaptioningPairsUseTheCanonicalCaption) {
  Rng rng(13);
  for (int i = 0; i < 100; ++i) {
    const CaptionedScene sample = SampleCaptioning(Split::kTrain, rng);
    EXPECT_EQ(sample.caption, CanonicalCaption(sample.scene));
  }
}

}  // namespace
}  // namespace infusion::data::shapes
