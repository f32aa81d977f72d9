#include "engine/model/generation_config.h"

#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "engine/model/json_value.h"
#include "nlohmann/json.hpp"

namespace infusion::engine {

using Json = nlohmann::json;

absl::Status GenerationConfig::Validate() const {
  auto bad = [](const char* key, const std::string& what) {
    return absl::InvalidArgumentError(absl::StrCat("generation config: '", key, "' ", what));
  };
  if (max_tokens <= 0) return bad("max_tokens", "must be positive");
  if (!(temperature >= 0)) return bad("temperature", "must be >= 0");
  if (!(top_p > 0 && top_p <= 1)) return bad("top_p", "must be in (0, 1]");
  if (top_k < 0) return bad("top_k", "must be >= 0");
  if (!(repetition_penalty > 0)) return bad("repetition_penalty", "must be positive");
  if (image_steps < 1 || image_steps > 1000) return bad("image_steps", "must be in [1, 1000]");
  if (!(guidance_scale >= 0)) return bad("guidance_scale", "must be >= 0");
  if (sampler != "ddim" && sampler != "ddpm") return bad("sampler", "must be \"ddim\" or \"ddpm\"");
  if (!(eta >= 0 && eta <= 1)) return bad("eta", "must be in [0, 1]");
  return absl::OkStatus();
}

absl::StatusOr<GenerationConfig> GenerationConfig::FromJson(const std::string& json_text) {
  Json j = Json::parse(json_text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) {
    return absl::InvalidArgumentError(
        absl::StrCat("generation config: not valid JSON: ", JsonSyntaxError(json_text)));
  }
  if (!j.is_object()) return absl::InvalidArgumentError("generation config: not a JSON object");
  GenerationConfig g;
  const auto read = [&j](const char* key, auto* out) -> absl::Status {
    const auto it = j.find(key);
    if (it == j.end() || it->is_null()) return absl::OkStatus();
    const std::string what = JsonToValue(*it, out);
    if (what.empty()) return absl::OkStatus();
    return absl::InvalidArgumentError(absl::StrCat("generation config: '", key, "' ", what));
  };
  RETURN_IF_ERROR(read("max_tokens", &g.max_tokens));
  RETURN_IF_ERROR(read("temperature", &g.temperature));
  RETURN_IF_ERROR(read("top_p", &g.top_p));
  RETURN_IF_ERROR(read("top_k", &g.top_k));
  RETURN_IF_ERROR(read("repetition_penalty", &g.repetition_penalty));
  RETURN_IF_ERROR(read("image_steps", &g.image_steps));
  RETURN_IF_ERROR(read("guidance_scale", &g.guidance_scale));
  RETURN_IF_ERROR(read("sampler", &g.sampler));
  RETURN_IF_ERROR(read("eta", &g.eta));
  RETURN_IF_ERROR(g.Validate());
  return g;
}

absl::StatusOr<GenerationConfig> GenerationConfig::FromFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return GenerationConfig();
  std::stringstream buf;
  buf << in.rdbuf();
  auto g = FromJson(buf.str());
  if (!g.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": ", g.status().message()));
  }
  return g;
}

std::string GenerationConfig::ToJson() const {
  Json j = {{"max_tokens", max_tokens},         {"temperature", temperature},
            {"top_p", top_p},                   {"top_k", top_k},
            {"repetition_penalty", repetition_penalty},
            {"image_steps", image_steps},       {"guidance_scale", guidance_scale},
            {"sampler", sampler},               {"eta", eta}};
  return j.dump(2) + "\n";
}

}  // namespace infusion::engine
