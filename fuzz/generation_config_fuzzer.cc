// generation.json of a model directory: GenerationConfig::FromJson.
//
// Properties: no crash, every refusal is InvalidArgument, and an accepted config is valid and
// survives ToJson/FromJson unchanged.
#include <cstddef>
#include <cstdint>
#include <string>

#include "engine/model/generation_config.h"
#include "fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<infusion::engine::GenerationConfig> config =
      infusion::engine::GenerationConfig::FromJson(text);
  if (!config.ok()) {
    FUZZ_CHECK(config.status().code() == absl::StatusCode::kInvalidArgument);
    return 0;
  }
  FUZZ_CHECK(config->Validate().ok());
  const std::string json = config->ToJson();
  absl::StatusOr<infusion::engine::GenerationConfig> again =
      infusion::engine::GenerationConfig::FromJson(json);
  FUZZ_CHECK(again.ok());
  FUZZ_CHECK(again->ToJson() == json);
  return 0;
}
