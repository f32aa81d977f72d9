#include "engine/model/model_config.h"

#include <fstream>
#include <set>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "engine/model/json_value.h"
#include "nlohmann/json.hpp"

namespace infusion::engine {
namespace {

using Json = nlohmann::json;

absl::Status Invalid(const std::string& key, const std::string& what) {
  return absl::InvalidArgumentError(absl::StrCat("config: '", key, "' ", what));
}

// Reads obj[key] into *out when present; a value of the wrong type or out of range is an error
// naming the key.
template <typename T>
absl::Status ReadOptional(const Json& obj, const std::string& prefix, const char* key, T* out) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return absl::OkStatus();
  const std::string what = JsonToValue(*it, out);
  if (!what.empty()) return Invalid(prefix + key, what);
  return absl::OkStatus();
}

template <typename T>
absl::Status ReadRequired(const Json& obj, const std::string& prefix, const char* key, T* out) {
  if (!obj.contains(key)) return Invalid(prefix + key, "is missing");
  return ReadOptional(obj, prefix, key, out);
}

absl::Status ParseImage(const Json& j, ImageConfig* image) {
  const std::string p = "image.";
  std::string codec = CodecName(image->codec);
  RETURN_IF_ERROR(ReadOptional(j, p, "codec", &codec));
  if (codec == "taef2") {
    image->codec = CodecKind::kTaef2;
  } else if (codec == "pixels") {
    image->codec = CodecKind::kPixels;
  } else {
    return Invalid("image.codec", absl::StrCat("must be \"taef2\" or \"pixels\", got \"", codec, "\""));
  }
  std::string encoder = PatchEncoderName(image->patch_encoder);
  RETURN_IF_ERROR(ReadOptional(j, p, "patch_encoder", &encoder));
  if (encoder == "linear") {
    image->patch_encoder = PatchEncoderKind::kLinear;
  } else if (encoder == "unet") {
    image->patch_encoder = PatchEncoderKind::kUnet;
  } else {
    return Invalid("image.patch_encoder",
                   absl::StrCat("must be \"linear\" or \"unet\", got \"", encoder, "\""));
  }
  RETURN_IF_ERROR(ReadRequired(j, p, "image_size", &image->image_size));
  RETURN_IF_ERROR(ReadRequired(j, p, "latent_channels", &image->latent_channels));
  RETURN_IF_ERROR(ReadRequired(j, p, "latent_size", &image->latent_size));
  RETURN_IF_ERROR(ReadRequired(j, p, "patch_size", &image->patch_size));
  RETURN_IF_ERROR(ReadRequired(j, p, "latent_mean", &image->latent_mean));
  RETURN_IF_ERROR(ReadRequired(j, p, "latent_std", &image->latent_std));
  RETURN_IF_ERROR(ReadOptional(j, p, "time_embed_dim", &image->time_embed_dim));
  RETURN_IF_ERROR(ReadOptional(j, p, "time_frequency_dim", &image->time_frequency_dim));
  RETURN_IF_ERROR(ReadOptional(j, p, "position_embedding", &image->position_embedding));
  if (j.contains("unet")) {
    const Json& u = j["unet"];
    if (!u.is_object()) return Invalid("image.unet", "must be an object");
    RETURN_IF_ERROR(ReadOptional(u, "image.unet.", "channels", &image->unet.channels));
    RETURN_IF_ERROR(ReadOptional(u, "image.unet.", "num_res_blocks", &image->unet.num_res_blocks));
    RETURN_IF_ERROR(ReadOptional(u, "image.unet.", "norm_groups", &image->unet.norm_groups));
  }
  return absl::OkStatus();
}

}  // namespace

const char* CodecName(CodecKind kind) {
  return kind == CodecKind::kTaef2 ? "taef2" : "pixels";
}

const char* PatchEncoderName(PatchEncoderKind kind) {
  return kind == PatchEncoderKind::kLinear ? "linear" : "unet";
}

absl::Status ModelConfig::Validate() const {
  auto positive = [](const char* key, int v) -> absl::Status {
    if (v <= 0) return Invalid(key, absl::StrCat("must be positive, got ", v));
    return absl::OkStatus();
  };
  RETURN_IF_ERROR(positive("vocab_size", vocab_size));
  RETURN_IF_ERROR(positive("hidden_size", hidden_size));
  RETURN_IF_ERROR(positive("intermediate_size", intermediate_size));
  RETURN_IF_ERROR(positive("num_hidden_layers", num_hidden_layers));
  RETURN_IF_ERROR(positive("num_attention_heads", num_attention_heads));
  RETURN_IF_ERROR(positive("num_key_value_heads", num_key_value_heads));
  RETURN_IF_ERROR(positive("max_position_embeddings", max_position_embeddings));
  if (hidden_size % num_attention_heads != 0) {
    return Invalid("hidden_size", "must be a multiple of num_attention_heads");
  }
  if (num_attention_heads % num_key_value_heads != 0) {
    return Invalid("num_key_value_heads", "must divide num_attention_heads");
  }
  if (head_dim() % 2 != 0) return Invalid("hidden_size", "must give an even head dimension (RoPE)");
  if (!(rms_norm_eps > 0)) return Invalid("rms_norm_eps", "must be positive");
  if (!(rope_theta > 0)) return Invalid("rope_theta", "must be positive");
  if (!(initializer_range > 0)) return Invalid("initializer_range", "must be positive");

  const std::pair<const char*, int> ids[] = {
      {"pad_token_id", tokens.pad},         {"unk_token_id", tokens.unk},
      {"bos_token_id", tokens.bos},         {"eos_token_id", tokens.eos},
      {"boi_token_id", tokens.boi},         {"eoi_token_id", tokens.eoi},
      {"system_token_id", tokens.system},   {"user_token_id", tokens.user},
      {"assistant_token_id", tokens.assistant}, {"end_of_turn_token_id", tokens.end_of_turn}};
  std::set<int> seen;
  for (const auto& [key, id] : ids) {
    if (id < 0 || id >= vocab_size) {
      return Invalid(key, absl::StrCat("must be in [0, vocab_size), got ", id));
    }
    if (!seen.insert(id).second) return Invalid(key, "repeats another special token id");
  }

  const ImageConfig& im = image;
  RETURN_IF_ERROR(positive("image.image_size", im.image_size));
  RETURN_IF_ERROR(positive("image.latent_channels", im.latent_channels));
  RETURN_IF_ERROR(positive("image.latent_size", im.latent_size));
  RETURN_IF_ERROR(positive("image.patch_size", im.patch_size));
  RETURN_IF_ERROR(positive("image.time_frequency_dim", im.time_frequency_dim));
  if (im.time_frequency_dim % 2 != 0) return Invalid("image.time_frequency_dim", "must be even");
  if (im.codec == CodecKind::kTaef2) {
    if (im.latent_channels != 32) return Invalid("image.latent_channels", "must be 32 for taef2");
    if (im.image_size % 8 != 0 || im.latent_size != im.image_size / 8) {
      return Invalid("image.latent_size", "must be image_size / 8 for taef2");
    }
  } else {
    if (im.latent_channels != 3) return Invalid("image.latent_channels", "must be 3 for pixels");
    if (im.latent_size != im.image_size) {
      return Invalid("image.latent_size", "must equal image_size for pixels");
    }
  }
  if (im.latent_size % im.patch_size != 0) {
    return Invalid("image.patch_size", "must divide image.latent_size");
  }
  if (static_cast<int>(im.latent_mean.size()) != im.latent_channels) {
    return Invalid("image.latent_mean", "must have latent_channels entries");
  }
  if (static_cast<int>(im.latent_std.size()) != im.latent_channels) {
    return Invalid("image.latent_std", "must have latent_channels entries");
  }
  for (float s : im.latent_std) {
    if (!(s > 0)) return Invalid("image.latent_std", "entries must be positive");
  }
  if (im.patch_encoder == PatchEncoderKind::kUnet) {
    const UnetConfig& u = im.unet;
    RETURN_IF_ERROR(positive("image.time_embed_dim", im.time_embed_dim));
    RETURN_IF_ERROR(positive("image.unet.num_res_blocks", u.num_res_blocks));
    RETURN_IF_ERROR(positive("image.unet.norm_groups", u.norm_groups));
    if (u.channels.empty()) return Invalid("image.unet.channels", "must not be empty");
    for (int c : u.channels) {
      if (c <= 0 || c % u.norm_groups != 0) {
        return Invalid("image.unet.channels", "entries must be positive multiples of norm_groups");
      }
    }
    if (im.patch_size != (1 << (u.channels.size() - 1))) {
      return Invalid("image.unet.channels",
                     "must have log2(patch_size) + 1 levels (one 2x down-sampling per level)");
    }
  }
  if (diffusion.num_train_timesteps <= 1) {
    return Invalid("diffusion.num_train_timesteps", "must be > 1");
  }
  if (diffusion.schedule != "cosine") return Invalid("diffusion.schedule", "must be \"cosine\"");
  if (diffusion.prediction_type != "epsilon" && diffusion.prediction_type != "v_prediction") {
    return Invalid("diffusion.prediction_type", "must be \"epsilon\" or \"v_prediction\"");
  }
  if (!(diffusion.clip_sample_range > 0)) {
    return Invalid("diffusion.clip_sample_range", "must be positive");
  }
  if (diffusion.timestep_spacing != "leading" && diffusion.timestep_spacing != "trailing") {
    return Invalid("diffusion.timestep_spacing", "must be \"leading\" or \"trailing\"");
  }
  return absl::OkStatus();
}

PredictionType DiffusionConfig::prediction() const {
  return prediction_type == "v_prediction" ? PredictionType::kVelocity : PredictionType::kEpsilon;
}

void DiffusionConfig::ApplyTo(DiffusionParams* params) const {
  params->clip_sample_range = clip_sample_range;
  params->spacing =
      timestep_spacing == "trailing" ? TimestepSpacing::kTrailing : TimestepSpacing::kLeading;
  params->prediction = prediction();
}

void DiffusionConfig::TakeSamplingSettingsFrom(const DiffusionConfig& other) {
  timestep_spacing = other.timestep_spacing;
  clip_sample_range = other.clip_sample_range;
  zero_mean_initial_noise = other.zero_mean_initial_noise;
}

void ModelConfig::ApplyDiffusionTo(DiffusionParams* params) const {
  diffusion.ApplyTo(params);
  params->noise_channels = diffusion.zero_mean_initial_noise ? image.latent_channels : 0;
  params->noise_patch_area = image.patch_size * image.patch_size;
}

absl::StatusOr<ModelConfig> ModelConfig::FromJson(const std::string& json_text) {
  Json j = Json::parse(json_text, /*cb=*/nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) {
    return absl::InvalidArgumentError(
        absl::StrCat("config: not valid JSON: ", JsonSyntaxError(json_text)));
  }
  if (!j.is_object()) return absl::InvalidArgumentError("config: top level must be an object");
  ModelConfig c;
  const std::string p;
  RETURN_IF_ERROR(ReadRequired(j, p, "vocab_size", &c.vocab_size));
  RETURN_IF_ERROR(ReadRequired(j, p, "hidden_size", &c.hidden_size));
  RETURN_IF_ERROR(ReadRequired(j, p, "intermediate_size", &c.intermediate_size));
  RETURN_IF_ERROR(ReadRequired(j, p, "num_hidden_layers", &c.num_hidden_layers));
  RETURN_IF_ERROR(ReadRequired(j, p, "num_attention_heads", &c.num_attention_heads));
  c.num_key_value_heads = c.num_attention_heads;  // HF Llama's default when the key is absent
  RETURN_IF_ERROR(ReadOptional(j, p, "num_key_value_heads", &c.num_key_value_heads));
  RETURN_IF_ERROR(ReadOptional(j, p, "rms_norm_eps", &c.rms_norm_eps));
  RETURN_IF_ERROR(ReadOptional(j, p, "rope_theta", &c.rope_theta));
  RETURN_IF_ERROR(ReadOptional(j, p, "tie_word_embeddings", &c.tie_word_embeddings));
  RETURN_IF_ERROR(ReadOptional(j, p, "max_position_embeddings", &c.max_position_embeddings));
  RETURN_IF_ERROR(ReadOptional(j, p, "initializer_range", &c.initializer_range));
  RETURN_IF_ERROR(ReadRequired(j, p, "pad_token_id", &c.tokens.pad));
  RETURN_IF_ERROR(ReadRequired(j, p, "unk_token_id", &c.tokens.unk));
  RETURN_IF_ERROR(ReadRequired(j, p, "bos_token_id", &c.tokens.bos));
  RETURN_IF_ERROR(ReadRequired(j, p, "eos_token_id", &c.tokens.eos));
  RETURN_IF_ERROR(ReadRequired(j, p, "boi_token_id", &c.tokens.boi));
  RETURN_IF_ERROR(ReadRequired(j, p, "eoi_token_id", &c.tokens.eoi));
  RETURN_IF_ERROR(ReadRequired(j, p, "system_token_id", &c.tokens.system));
  RETURN_IF_ERROR(ReadRequired(j, p, "user_token_id", &c.tokens.user));
  RETURN_IF_ERROR(ReadRequired(j, p, "assistant_token_id", &c.tokens.assistant));
  RETURN_IF_ERROR(ReadRequired(j, p, "end_of_turn_token_id", &c.tokens.end_of_turn));
  if (!j.contains("image") || !j["image"].is_object()) {
    return Invalid("image", "is missing or not an object");
  }
  RETURN_IF_ERROR(ParseImage(j["image"], &c.image));
  if (j.contains("diffusion")) {
    const Json& d = j["diffusion"];
    if (!d.is_object()) return Invalid("diffusion", "must be an object");
    const std::string dp = "diffusion.";
    RETURN_IF_ERROR(ReadOptional(d, dp, "num_train_timesteps", &c.diffusion.num_train_timesteps));
    RETURN_IF_ERROR(ReadOptional(d, dp, "schedule", &c.diffusion.schedule));
    RETURN_IF_ERROR(ReadOptional(d, dp, "prediction_type", &c.diffusion.prediction_type));
    RETURN_IF_ERROR(ReadOptional(d, dp, "clip_sample_range", &c.diffusion.clip_sample_range));
    RETURN_IF_ERROR(ReadOptional(d, dp, "timestep_spacing", &c.diffusion.timestep_spacing));
    RETURN_IF_ERROR(ReadOptional(d, dp, "zero_mean_initial_noise",
                                 &c.diffusion.zero_mean_initial_noise));
  }
  RETURN_IF_ERROR(c.Validate());
  return c;
}

absl::StatusOr<ModelConfig> ModelConfig::FromFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("config: cannot open ", path));
  std::stringstream buf;
  buf << in.rdbuf();
  auto config = FromJson(buf.str());
  if (!config.ok()) {
    return absl::Status(config.status().code(),
                        absl::StrCat(path, ": ", config.status().message()));
  }
  return config;
}

std::string ModelConfig::ToJson() const {
  Json j;
  j["architectures"] = {"TransfusionForCausalLM"};
  j["model_type"] = "transfusion";
  j["vocab_size"] = vocab_size;
  j["hidden_size"] = hidden_size;
  j["intermediate_size"] = intermediate_size;
  j["num_hidden_layers"] = num_hidden_layers;
  j["num_attention_heads"] = num_attention_heads;
  j["num_key_value_heads"] = num_key_value_heads;
  j["rms_norm_eps"] = rms_norm_eps;
  j["rope_theta"] = rope_theta;
  j["tie_word_embeddings"] = tie_word_embeddings;
  j["max_position_embeddings"] = max_position_embeddings;
  j["initializer_range"] = initializer_range;
  j["hidden_act"] = "silu";
  j["pad_token_id"] = tokens.pad;
  j["unk_token_id"] = tokens.unk;
  j["bos_token_id"] = tokens.bos;
  j["eos_token_id"] = tokens.eos;
  j["boi_token_id"] = tokens.boi;
  j["eoi_token_id"] = tokens.eoi;
  j["system_token_id"] = tokens.system;
  j["user_token_id"] = tokens.user;
  j["assistant_token_id"] = tokens.assistant;
  j["end_of_turn_token_id"] = tokens.end_of_turn;
  Json im;
  im["codec"] = CodecName(image.codec);
  im["image_size"] = image.image_size;
  im["latent_channels"] = image.latent_channels;
  im["latent_size"] = image.latent_size;
  im["patch_size"] = image.patch_size;
  im["patch_encoder"] = PatchEncoderName(image.patch_encoder);
  im["latent_mean"] = image.latent_mean;
  im["latent_std"] = image.latent_std;
  im["time_frequency_dim"] = image.time_frequency_dim;
  im["position_embedding"] = image.position_embedding;
  if (image.patch_encoder == PatchEncoderKind::kUnet) {
    im["time_embed_dim"] = image.time_embed_dim;
    im["unet"] = {{"channels", image.unet.channels},
                  {"num_res_blocks", image.unet.num_res_blocks},
                  {"norm_groups", image.unet.norm_groups}};
  }
  j["image"] = im;
  j["diffusion"] = {{"num_train_timesteps", diffusion.num_train_timesteps},
                    {"schedule", diffusion.schedule},
                    {"prediction_type", diffusion.prediction_type},
                    {"clip_sample_range", diffusion.clip_sample_range},
                    {"timestep_spacing", diffusion.timestep_spacing},
                    {"zero_mean_initial_noise", diffusion.zero_mean_initial_noise}};
  return j.dump(2) + "\n";
}

}  // namespace infusion::engine
