// The architecture of a Transfusion model, read from a model directory's config.json.
//
// The text backbone uses the Hugging Face Llama keys (vocab_size, hidden_size, ...), so that a
// Llama config reads as it does there; image and diffusion settings live in their own objects.
// Every key and its meaning is documented in docs/model-format.md.
#ifndef INFUSION_ENGINE_MODEL_MODEL_CONFIG_H_
#define INFUSION_ENGINE_MODEL_MODEL_CONFIG_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "engine/sampler/diffusion_params.h"

namespace infusion::engine {

// Ids of the tokens the engine places itself. Text never encodes to them (they are sentencepiece
// control symbols), so a prompt cannot forge an image or a chat turn.
struct SpecialTokens {
  int pad = 0;
  int unk = 1;
  int bos = 2;
  int eos = 3;
  int boi = 4;        // begin of image
  int eoi = 5;        // end of image
  int system = 6;     // chat role markers
  int user = 7;
  int assistant = 8;
  int end_of_turn = 9;
};

enum class CodecKind { kTaef2, kPixels };
enum class PatchEncoderKind { kLinear, kUnet };

// U-Net down/up blocks around the transformer (Transfusion §3, "U-Net patchification").
struct UnetConfig {
  // Channels per resolution level, finest first. The number of levels minus one is the number of
  // 2x down-samplings, so patch_size must equal 2^(levels-1).
  std::vector<int> channels = {64, 128};
  int num_res_blocks = 1;  // residual blocks per level, in the encoder and in the decoder
  int norm_groups = 32;    // GroupNorm groups; must divide every channel count
};

struct ImageConfig {
  CodecKind codec = CodecKind::kTaef2;
  int image_size = 64;       // pixels per side of the images the model reads and writes
  int latent_channels = 32;  // C of the codec's latent grid
  int latent_size = 8;       // H = W of the latent grid
  int patch_size = 2;        // k: a patch is k x k latent cells, one sequence position
  PatchEncoderKind patch_encoder = PatchEncoderKind::kLinear;
  // Per-channel statistics of the codec's latents; the transformer sees (z - mean) / std.
  std::vector<float> latent_mean;  // [latent_channels]
  std::vector<float> latent_std;   // [latent_channels]
  int time_embed_dim = 256;       // width of the U-Net's timestep embedding (unet only)
  int time_frequency_dim = 256;   // sinusoidal features of the timestep before its MLP
  UnetConfig unet;
  // A learned vector per patch cell of the g x g grid ("image.position_embedding", [n, hidden]),
  // added to the patch encoder's output: tells each image position its row and column, which the
  // backbone's 1-D rotary positions only give as an offset from <boi>.
  bool position_embedding = false;

  int grid_size() const { return latent_size / patch_size; }
  int num_patches() const { return grid_size() * grid_size(); }
  int patch_dim() const { return latent_channels * patch_size * patch_size; }
};

struct DiffusionConfig {
  int num_train_timesteps = 1000;
  std::string schedule = "cosine";            // the only one supported
  // What the image output estimates: "epsilon" (the noise) or "v_prediction" (the velocity,
  // PredictionType in engine/sampler/diffusion_params.h). Fixed by training.
  std::string prediction_type = "epsilon";
  float clip_sample_range = 4.0f;  // |x0 estimate| bound while sampling, in normalised units
  std::string timestep_spacing = "leading";  // "leading" or "trailing" (TimestepSpacing)
  // Sample from noise whose per-channel spatial mean is removed (RemoveChannelMeans in
  // engine/sampler/diffusion_sampler.h): for models trained where the first sampling step keeps
  // signal, which otherwise paint the noise's mean as a tinted background.
  bool zero_mean_initial_noise = false;

  // What the image output estimates, as the sampler and the trainer's loss name it.
  PredictionType prediction() const;
  // Copies the model's sampling settings (clip range, timestep spacing, prediction type) into
  // `params`; see ModelConfig::ApplyDiffusionTo for the ones that also need the latent layout.
  void ApplyTo(DiffusionParams* params) const;
  // Takes the settings that only change how images are sampled (timestep_spacing,
  // clip_sample_range, zero_mean_initial_noise) from `other`, keeping those training depends on.
  void TakeSamplingSettingsFrom(const DiffusionConfig& other);
};

struct ModelConfig {
  // Text backbone (Hugging Face Llama names).
  int vocab_size = 0;
  int hidden_size = 0;
  int intermediate_size = 0;
  int num_hidden_layers = 0;
  int num_attention_heads = 0;
  int num_key_value_heads = 0;
  float rms_norm_eps = 1e-5f;
  float rope_theta = 10000.0f;
  bool tie_word_embeddings = false;
  int max_position_embeddings = 1024;  // longest sequence the server admits
  float initializer_range = 0.02f;     // std of the normal init of linear and embedding weights

  SpecialTokens tokens;
  ImageConfig image;
  DiffusionConfig diffusion;

  int head_dim() const { return hidden_size / num_attention_heads; }

  // The model's sampling settings for `params`: diffusion.ApplyTo, and the latent layout the
  // zero-mean initial noise needs.
  void ApplyDiffusionTo(DiffusionParams* params) const;

  // Every invariant the modules rely on; InvalidArgument naming the key otherwise.
  absl::Status Validate() const;

  static absl::StatusOr<ModelConfig> FromJson(const std::string& json_text);
  static absl::StatusOr<ModelConfig> FromFile(const std::string& path);
  std::string ToJson() const;  // pretty-printed; FromJson(ToJson()) round-trips
};

const char* CodecName(CodecKind kind);
const char* PatchEncoderName(PatchEncoderKind kind);

}  // namespace infusion::engine

#endif  // INFUSION_ENGINE_MODEL_MODEL_CONFIG_H_
