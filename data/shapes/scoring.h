// Scores for the text-out and edit tasks. Text-to-image is scored by Satisfies (prompt_spec.h)
// on the detected objects of the generated image.
#ifndef INFUSION_DATA_SHAPES_SCORING_H_
#define INFUSION_DATA_SHAPES_SCORING_H_

#include <string_view>
#include <vector>

#include "data/shapes/scene.h"

namespace infusion::data::shapes {

// How a generated caption compares with the true objects. The counts are per true object so that
// an evaluation sums them over images and divides by the summed num_objects (micro-average).
struct CaptionScore {
  bool parsed = false;  // the caption has the canonical form (ParseCanonicalCaption)
  bool exact = false;   // it names exactly the true objects, each in its cell, in any order
  bool count = false;   // it names as many objects as there are
  int num_objects = 0;  // true objects
  // True objects whose caption object has the right shape / colour / cell. Caption objects are
  // paired one-to-one with true objects to agree on as many attributes as possible; a true object
  // left without a partner (the caption names fewer) counts as wrong in all three.
  int shape = 0;
  int color = 0;
  int position = 0;
};

// `truth` in any order. A caption that does not parse scores zero (with num_objects set).
CaptionScore ScoreCaption(std::string_view caption, const std::vector<ObjectLabel>& truth);

// Whether `a` and `b` hold the same objects, in any order. An edit succeeded when the detected
// objects of the edited image are the target scene's: SameObjects(detected, Labels(target)).
bool SameObjects(std::vector<ObjectLabel> a, std::vector<ObjectLabel> b);

}  // namespace infusion::data::shapes

#endif  // INFUSION_DATA_SHAPES_SCORING_H_
