// Text ↔ image pairs: text-to-image prompts of every category with a scene that satisfies each,
// and scenes with their canonical captions for captioning.
#ifndef INFUSION_DATA_SHAPES_CAPTIONED_SCENE_H_
#define INFUSION_DATA_SHAPES_CAPTIONED_SCENE_H_

#include <string>

#include "data/shapes/prompt_spec.h"
#include "data/shapes/rng.h"
#include "data/shapes/scene.h"
#include "data/shapes/split.h"

namespace infusion::data::shapes {

struct CaptionedScene {
  std::string caption;  // FormatPrompt(spec)
  PromptSpec spec;      // Category(spec) is the GenEval category
  Scene scene;          // exactly the objects `spec` asks for: Satisfies(spec, Labels(scene))
};

// A prompt of `category` whose text is in `split`, with a scene that satisfies it: the named
// objects, in the named cells or in random cells that make the relation true, and nothing else.
// How each category is drawn:
//   single_object      a uniform shape and colour;
//   position           the canonical caption of a random scene (SampleScene);
//   two_objects        a uniform object and a second one sharing, with equal odds, its colour
//                      (other shape) or its shape (other colour);
//   color_attribution  a uniform object and a second one of another colour and another shape;
//   relation           two different uniform objects and a uniform relation;
//   counting           2 or 3 copies of a uniform object.
// Draws until the caption falls in `split`; every category has prompts in both splits.
CaptionedScene SamplePrompt(PromptCategory category, Split split, Rng& rng);

// Captioning pairs: a random scene and its canonical caption. The same draw as the position
// category, so a caption is held out in both directions at once.
inline CaptionedScene SampleCaptioning(Split split, Rng& rng) {
  return SamplePrompt(PromptCategory::kPosition, split, rng);
}

}  // namespace infusion::data::shapes

#endif  // INFUSION_DATA_SHAPES_CAPTIONED_SCENE_H_
