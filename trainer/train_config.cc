#include "trainer/train_config.h"

#include <algorithm>
#include <fstream>
#include <set>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "nlohmann/json.hpp"

namespace infusion::trainer {

using data::EmojiDataOptions;
using data::TextDataOptions;
using engine::GenerationConfig;
using engine::ModelConfig;

using Json = nlohmann::json;

namespace {

absl::Status Invalid(const std::string& field, const std::string& what) {
  return absl::InvalidArgumentError(absl::StrCat(field, ": ", what));
}

std::string Shown(const Json& v) {
  std::string s = v.dump();
  return s.size() > 40 ? s.substr(0, 37) + "..." : s;
}

// Conversions with the type named in the error; nlohmann's own would accept 1.5 for an int.
absl::Status Convert(const std::string& f, const Json& v, int* out) {
  if (!v.is_number_integer()) return Invalid(f, "expected an integer, got " + Shown(v));
  *out = v.get<int>();
  return absl::OkStatus();
}
absl::Status Convert(const std::string& f, const Json& v, int64_t* out) {
  if (!v.is_number_integer()) return Invalid(f, "expected an integer, got " + Shown(v));
  *out = v.get<int64_t>();
  return absl::OkStatus();
}
absl::Status Convert(const std::string& f, const Json& v, uint64_t* out) {
  if (!v.is_number_unsigned()) return Invalid(f, "expected an integer >= 0, got " + Shown(v));
  *out = v.get<uint64_t>();
  return absl::OkStatus();
}
absl::Status Convert(const std::string& f, const Json& v, double* out) {
  if (!v.is_number()) return Invalid(f, "expected a number, got " + Shown(v));
  *out = v.get<double>();
  return absl::OkStatus();
}
absl::Status Convert(const std::string& f, const Json& v, float* out) {
  if (!v.is_number()) return Invalid(f, "expected a number, got " + Shown(v));
  *out = v.get<float>();
  return absl::OkStatus();
}
absl::Status Convert(const std::string& f, const Json& v, bool* out) {
  if (!v.is_boolean()) return Invalid(f, "expected true or false, got " + Shown(v));
  *out = v.get<bool>();
  return absl::OkStatus();
}
absl::Status Convert(const std::string& f, const Json& v, std::string* out) {
  if (!v.is_string()) return Invalid(f, "expected a string, got " + Shown(v));
  *out = v.get<std::string>();
  return absl::OkStatus();
}
absl::Status Convert(const std::string& f, const Json& v, std::vector<std::string>* out) {
  if (!v.is_array()) return Invalid(f, "expected a list of strings, got " + Shown(v));
  out->clear();
  for (size_t i = 0; i < v.size(); ++i) {
    out->emplace_back();
    RETURN_IF_ERROR(Convert(absl::StrCat(f, "[", i, "]"), v[i], &out->back()));
  }
  return absl::OkStatus();
}

// The keys of one JSON object, read once each; Finish() rejects the keys nobody read, which
// catches misspelt options instead of silently training with defaults.
class Fields {
 public:
  // `where` is the object's name in errors ("" at the top, "data[1]", "samples").
  static absl::StatusOr<Fields> Of(const Json& object, std::string where) {
    if (!object.is_object()) {
      return Invalid(where.empty() ? "config" : where, "expected an object, got " + Shown(object));
    }
    return Fields(object, std::move(where));
  }

  std::string Name(const std::string& key) const {
    return where_.empty() ? key : absl::StrCat(where_, ".", key);
  }
  bool Has(const std::string& key) const { return object_->contains(key); }
  const Json& Raw(const std::string& key) {
    seen_.insert(key);
    return object_->at(key);
  }
  // Leaves *out alone when the key is absent.
  template <typename T>
  absl::Status Optional(const std::string& key, T* out) {
    if (!Has(key)) return absl::OkStatus();
    return Convert(Name(key), Raw(key), out);
  }
  template <typename T>
  absl::Status Required(const std::string& key, T* out) {
    if (!Has(key)) return Invalid(Name(key), "is required");
    return Convert(Name(key), Raw(key), out);
  }
  absl::Status Finish() const {
    for (const auto& item : object_->items()) {
      if (seen_.count(item.key()) == 0) return Invalid(Name(item.key()), "unknown key");
    }
    return absl::OkStatus();
  }

 private:
  Fields(const Json& object, std::string where) : object_(&object), where_(std::move(where)) {}

  const Json* object_;  // outlives the reader
  std::string where_;
  std::set<std::string> seen_;
};

// Prefixes a sub-component's Validate() error with the object it came from.
absl::Status Within(const std::string& where, absl::Status status) {
  if (status.ok()) return status;
  return absl::Status(status.code(), absl::StrCat(where, ": ", status.message()));
}

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", path));
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

absl::Status ReadModel(Fields& top, TrainConfig* config) {
  if (!top.Has("model"))
    return Invalid("model", "is required (an object or the path of a config.json)");
  Json model = top.Raw("model");
  std::string source = "model";
  if (model.is_string()) {
    source = model.get<std::string>();
    ASSIGN_OR_RETURN(std::string text, ReadFile(source));
    model = Json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (model.is_discarded()) return Invalid(source, "not valid JSON");
  }
  if (!model.is_object()) return Invalid(source, "expected an object, got " + Shown(model));
  if (model.contains("image") && model["image"].is_object()) {
    Json& image = model["image"];
    const bool has_mean = image.contains("latent_mean"), has_std = image.contains("latent_std");
    if (has_mean != has_std) {
      return Invalid(source + ".image", "give both latent_mean and latent_std, or neither");
    }
    config->compute_latent_stats = !has_mean;
    if (!has_mean && image.contains("latent_channels") &&
        image["latent_channels"].is_number_integer()) {
      // Placeholders, replaced by the statistics of the training latents before training.
      const int channels = std::max(0, image["latent_channels"].get<int>());
      image["latent_mean"] = std::vector<float>(channels, 0.0f);
      image["latent_std"] = std::vector<float>(channels, 1.0f);
    }
  }
  absl::StatusOr<ModelConfig> parsed = ModelConfig::FromJson(model.dump());
  if (!parsed.ok()) return Within(source, parsed.status());
  config->model = *std::move(parsed);
  return absl::OkStatus();
}

absl::Status ReadDataSource(const Json& object, const std::string& where,
                            DataSourceConfig* source) {
  ASSIGN_OR_RETURN(Fields f, Fields::Of(object, where));
  std::string type;
  RETURN_IF_ERROR(f.Required("type", &type));
  RETURN_IF_ERROR(f.Optional("weight", &source->weight));
  if (type == "shapes") {
    source->kind = DataSourceConfig::Kind::kShapes;
    ShapesDataOptions& o = source->shapes;
    RETURN_IF_ERROR(f.Optional("pool_size", &o.pool_size));
    RETURN_IF_ERROR(f.Optional("seed", &o.seed));
    RETURN_IF_ERROR(f.Optional("chat", &o.chat));
    RETURN_IF_ERROR(f.Optional("edit", &o.edit));
    RETURN_IF_ERROR(f.Optional("chat_turns", &o.chat_turns));
    RETURN_IF_ERROR(f.Optional("image_first", &o.image_first));
  } else if (type == "emoji") {
    source->kind = DataSourceConfig::Kind::kEmoji;
    EmojiDataOptions& o = source->emoji;
    RETURN_IF_ERROR(f.Optional("dir", &o.dir));
    RETURN_IF_ERROR(f.Optional("skin_tones", &o.skin_tones));
    RETURN_IF_ERROR(f.Optional("image_first", &o.image_first));
  } else if (type == "text") {
    source->kind = DataSourceConfig::Kind::kText;
    TextDataOptions& o = source->text;
    RETURN_IF_ERROR(f.Optional("files", &o.files));
    RETURN_IF_ERROR(f.Optional("chunk_chars", &o.chunk_chars));
    RETURN_IF_ERROR(f.Optional("held_out_lines", &o.held_out_lines));
  } else {
    return Invalid(f.Name("type"),
                   absl::StrCat("expected \"shapes\", \"emoji\" or \"text\", got \"", type, "\""));
  }
  return f.Finish();
}

absl::Status ReadSamples(const Json& object, SampleOptions* o) {
  ASSIGN_OR_RETURN(Fields f, Fields::Of(object, "samples"));
  RETURN_IF_ERROR(f.Optional("every", &o->every));
  RETURN_IF_ERROR(f.Optional("prompts", &o->prompts));
  RETURN_IF_ERROR(f.Optional("captions", &o->captions));
  RETURN_IF_ERROR(f.Optional("steps", &o->steps));
  RETURN_IF_ERROR(f.Optional("guidance_scale", &o->guidance_scale));
  RETURN_IF_ERROR(f.Optional("seed", &o->seed));
  RETURN_IF_ERROR(f.Optional("max_caption_tokens", &o->max_caption_tokens));
  return f.Finish();
}

absl::Status ReadTokenizer(const Json& object, TrainConfig* config) {
  ASSIGN_OR_RETURN(Fields f, Fields::Of(object, "tokenizer"));
  RETURN_IF_ERROR(f.Optional("path", &config->tokenizer_path));
  RETURN_IF_ERROR(f.Optional("vocab_size", &config->tokenizer.vocab_size));
  RETURN_IF_ERROR(f.Optional("model_type", &config->tokenizer.model_type));
  return f.Finish();
}

}  // namespace

absl::Status TrainConfig::Validate() const {
  RETURN_IF_ERROR(Within("model", model.Validate()));
  // A tokenizer is trained only when neither a path nor init_from names one.
  const bool trains_tokenizer = tokenizer_path.empty() && init_from.empty();
  if (trains_tokenizer) RETURN_IF_ERROR(Within("tokenizer", tokenizer.Validate()));
  if (trains_tokenizer && tokenizer.vocab_size > model.vocab_size) {
    return Invalid("tokenizer.vocab_size",
                   absl::StrCat("must be <= model.vocab_size (", model.vocab_size, "), got ",
                                tokenizer.vocab_size));
  }
  if (data.empty()) return Invalid("data", "must list at least one source");
  for (size_t i = 0; i < data.size(); ++i) {
    const std::string where = absl::StrCat("data[", i, "]");
    const DataSourceConfig& d = data[i];
    if (!(d.weight > 0))
      return Invalid(where + ".weight", absl::StrCat("must be > 0, got ", d.weight));
    switch (d.kind) {
      case DataSourceConfig::Kind::kShapes:
        RETURN_IF_ERROR(Within(where, d.shapes.Validate()));
        break;
      case DataSourceConfig::Kind::kEmoji:
        RETURN_IF_ERROR(Within(where, d.emoji.Validate()));
        break;
      case DataSourceConfig::Kind::kText:
        RETURN_IF_ERROR(Within(where, d.text.Validate()));
        break;
    }
  }
  if (cache_dir.empty()) return Invalid("cache_dir", "must not be empty");
  if (seq_len <= 0 || seq_len > model.max_position_embeddings) {
    return Invalid("seq_len", absl::StrCat("must be in [1, model.max_position_embeddings = ",
                                           model.max_position_embeddings, "], got ", seq_len));
  }
  if (batch_size <= 0) return Invalid("batch_size", absl::StrCat("must be > 0, got ", batch_size));
  RETURN_IF_ERROR(schedule.Validate());
  if (!(weight_decay >= 0)) return Invalid("weight_decay", "must be >= 0");
  if (!(beta1 >= 0 && beta1 < 1 && beta2 >= 0 && beta2 < 1)) {
    return Invalid("adam_betas", "both must be in [0, 1)");
  }
  if (!(adam_eps > 0)) return Invalid("adam_eps", "must be > 0");
  if (!(grad_clip >= 0)) return Invalid("grad_clip", "must be >= 0 (0 = no clipping)");
  if (!(diffusion_loss_weight >= 0)) return Invalid("diffusion_loss_weight", "must be >= 0");
  if (!(min_snr_gamma >= 0)) return Invalid("min_snr_gamma", "must be >= 0 (0 = off)");
  SequenceOptions sequence_options = sequence;
  sequence_options.num_train_timesteps = model.diffusion.num_train_timesteps;
  RETURN_IF_ERROR(sequence_options.Validate());
  if (!(ema_decay == 0 || (ema_decay > 0 && ema_decay < 1))) {
    return Invalid("ema_decay", absl::StrCat("must be 0 (off) or in (0, 1), got ", ema_decay));
  }
  if (log_every <= 0) return Invalid("log_every", absl::StrCat("must be > 0, got ", log_every));
  if (checkpoint_every < 0) {
    return Invalid("checkpoint_every", absl::StrCat("must be >= 0, got ", checkpoint_every));
  }
  if (keep_checkpoints <= 0) {
    return Invalid("keep_checkpoints", absl::StrCat("must be > 0, got ", keep_checkpoints));
  }
  RETURN_IF_ERROR(samples.Validate());
  return Within("generation", generation.Validate());
}

absl::StatusOr<TrainConfig> TrainConfig::FromJson(const std::string& json_text) {
  const Json j = Json::parse(json_text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return absl::InvalidArgumentError("not valid JSON");
  ASSIGN_OR_RETURN(Fields f, Fields::Of(j, ""));
  TrainConfig c;
  RETURN_IF_ERROR(ReadModel(f, &c));
  if (f.Has("tokenizer")) RETURN_IF_ERROR(ReadTokenizer(f.Raw("tokenizer"), &c));
  if (!f.Has("data")) return Invalid("data", "is required: a list of data sources");
  const Json& data = f.Raw("data");
  if (!data.is_array()) return Invalid("data", "expected a list, got " + Shown(data));
  for (size_t i = 0; i < data.size(); ++i) {
    c.data.emplace_back();
    RETURN_IF_ERROR(ReadDataSource(data[i], absl::StrCat("data[", i, "]"), &c.data.back()));
  }
  RETURN_IF_ERROR(f.Optional("init_from", &c.init_from));
  RETURN_IF_ERROR(f.Optional("cache_dir", &c.cache_dir));
  RETURN_IF_ERROR(f.Optional("codec_dir", &c.codec_dir));
  RETURN_IF_ERROR(f.Optional("seq_len", &c.seq_len));
  RETURN_IF_ERROR(f.Optional("batch_size", &c.batch_size));
  RETURN_IF_ERROR(f.Required("steps", &c.schedule.total_steps));
  RETURN_IF_ERROR(f.Optional("lr", &c.schedule.peak_lr));
  c.schedule.min_lr = 0.1 * c.schedule.peak_lr;
  RETURN_IF_ERROR(f.Optional("min_lr", &c.schedule.min_lr));
  RETURN_IF_ERROR(f.Optional("warmup_steps", &c.schedule.warmup_steps));
  RETURN_IF_ERROR(f.Optional("weight_decay", &c.weight_decay));
  if (f.Has("adam_betas")) {
    const Json& betas = f.Raw("adam_betas");
    if (!betas.is_array() || betas.size() != 2) {
      return Invalid("adam_betas", "expected [beta1, beta2], got " + Shown(betas));
    }
    RETURN_IF_ERROR(Convert("adam_betas[0]", betas[0], &c.beta1));
    RETURN_IF_ERROR(Convert("adam_betas[1]", betas[1], &c.beta2));
  }
  RETURN_IF_ERROR(f.Optional("adam_eps", &c.adam_eps));
  RETURN_IF_ERROR(f.Optional("grad_clip", &c.grad_clip));
  RETURN_IF_ERROR(f.Optional("diffusion_loss_weight", &c.diffusion_loss_weight));
  RETURN_IF_ERROR(f.Optional("min_snr_gamma", &c.min_snr_gamma));
  RETURN_IF_ERROR(f.Optional("caption_dropout", &c.sequence.caption_dropout));
  RETURN_IF_ERROR(f.Optional("image_first_max_timestep", &c.sequence.image_first_max_timestep));
  c.sequence.num_train_timesteps = c.model.diffusion.num_train_timesteps;
  RETURN_IF_ERROR(f.Optional("ema_decay", &c.ema_decay));
  RETURN_IF_ERROR(f.Optional("bf16_autocast", &c.bf16_autocast));
  RETURN_IF_ERROR(f.Optional("seed", &c.seed));
  RETURN_IF_ERROR(f.Optional("log_every", &c.log_every));
  RETURN_IF_ERROR(f.Optional("checkpoint_every", &c.checkpoint_every));
  RETURN_IF_ERROR(f.Optional("keep_checkpoints", &c.keep_checkpoints));
  if (f.Has("samples")) RETURN_IF_ERROR(ReadSamples(f.Raw("samples"), &c.samples));
  if (f.Has("generation")) {
    absl::StatusOr<GenerationConfig> g = GenerationConfig::FromJson(f.Raw("generation").dump());
    if (!g.ok()) return g.status();
    c.generation = *std::move(g);
  }
  RETURN_IF_ERROR(f.Finish());
  RETURN_IF_ERROR(c.Validate());
  return c;
}

absl::StatusOr<TrainConfig> TrainConfig::FromFile(const std::string& path) {
  absl::StatusOr<std::string> text = ReadFile(path);
  if (!text.ok()) return absl::NotFoundError(absl::StrCat("training config: cannot read ", path));
  absl::StatusOr<TrainConfig> config = FromJson(*text);
  if (!config.ok()) {
    return absl::Status(config.status().code(),
                        absl::StrCat(path, ": ", config.status().message()));
  }
  return config;
}

absl::StatusOr<engine::ModelConfig> FineTunedModel(engine::ModelConfig init,
                                                   const engine::ModelConfig& run) {
  engine::ModelConfig described = run;
  described.image.latent_mean = init.image.latent_mean;
  described.image.latent_std = init.image.latent_std;
  init.diffusion = run.diffusion;
  init.image.position_embedding |= run.image.position_embedding;
  if (described.ToJson() != init.ToJson()) {
    return absl::InvalidArgumentError(
        "describes another model than the training config's \"model\" (a size, token id or "
        "image setting differs)");
  }
  return init;
}

}  // namespace infusion::trainer
