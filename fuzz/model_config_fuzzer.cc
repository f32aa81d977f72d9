// config.json of a model directory: ModelConfig::FromJson, which the server and the trainer run
// on files they did not write.
//
// Properties: no crash (a nlohmann::json exception escaping would be one), every refusal is
// InvalidArgument, and an accepted config is valid and survives ToJson/FromJson unchanged.
#include <cstddef>
#include <cstdint>
#include <string>

#include "engine/model/model_config.h"
#include "fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<infusion::engine::ModelConfig> config =
      infusion::engine::ModelConfig::FromJson(text);
  if (!config.ok()) {
    FUZZ_CHECK(config.status().code() == absl::StatusCode::kInvalidArgument);
    return 0;
  }
  FUZZ_CHECK(config->Validate().ok());
  const std::string json = config->ToJson();
  absl::StatusOr<infusion::engine::ModelConfig> again =
      infusion::engine::ModelConfig::FromJson(json);
  FUZZ_CHECK(again.ok());
  FUZZ_CHECK(again->ToJson() == json);
  return 0;
}
