#include "data/dataset/dataset.h"

#include "absl/strings/str_cat.h"

namespace infusion::data {

using engine::Image;

absl::StatusOr<Image> Dataset::LoadImage(int64_t index) const {
  return absl::OutOfRangeError(absl::StrCat(name(), " has no image ", index));
}

}  // namespace infusion::data
