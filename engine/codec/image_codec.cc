#include "engine/codec/image_codec.h"

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "engine/codec/pixel_codec.h"
#include "engine/codec/taef2_codec.h"

namespace infusion::engine {

absl::StatusOr<std::unique_ptr<ImageCodec>> CreateImageCodec(const std::string& kind,
                                                             const std::string& weights_dir,
                                                             const CodecOptions& options) {
  if (kind == "taef2") {
    ASSIGN_OR_RETURN(std::unique_ptr<Taef2Codec> codec,
                     Taef2Codec::Create(weights_dir, options.bf16_decode));
    return codec;
  }
  if (kind == "pixels") return std::make_unique<PixelCodec>();
  return absl::InvalidArgumentError(
      absl::StrCat("unknown image codec '", kind, "' (expected 'taef2' or 'pixels')"));
}

}  // namespace infusion::engine
