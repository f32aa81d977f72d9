// A training run's configuration (configs/train/*.json): the model, the data mix and every
// hyper-parameter, read strictly: a value of the wrong type, an unknown key or a value out of
// range is an InvalidArgument naming the file and the field ("tiny.json: data[0].weight: ...").
// Paths in it are relative to the working directory.
#ifndef INFUSION_TRAINER_TRAIN_CONFIG_H_
#define INFUSION_TRAINER_TRAIN_CONFIG_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "engine/model/generation_config.h"
#include "engine/model/model_config.h"
#include "engine/tokenizer/tokenizer.h"
#include "trainer/data_mix.h"
#include "trainer/lr_schedule.h"
#include "trainer/sample_grid.h"
#include "trainer/sequence_builder.h"

namespace infusion::trainer {

struct TrainConfig {
  // "model": the model's config.json inline, or the path of one. image.latent_mean and
  // image.latent_std may be left out (the usual case): they are then computed from the latents
  // of the training images before training starts.
  engine::ModelConfig model;
  bool compute_latent_stats = true;

  // "init_from": a model directory (config.json, model.safetensors, tokenizer.model, as
  // --export_to writes) whose weights start the run instead of random ones: fine-tuning. Its
  // shape, tokens, latent statistics and tokenizer are used; "model" must describe the same
  // shape, and its "diffusion" section (the objective may change, e.g. to v-prediction) wins.
  std::string init_from;

  // "tokenizer": {"path": an existing tokenizer.model} or {"vocab_size", "model_type"} of one
  // trained on the texts of the data mix.
  std::string tokenizer_path;
  engine::TokenizerTrainOptions tokenizer;

  std::vector<DataSourceConfig> data;           // "data": at least one source
  std::string cache_dir = ".cache/train";       // latents (and the default text corpus)
  std::string codec_dir = "third_party/taef2";  // the TAEF2 weights (taef2 codec only)

  int seq_len = 256;           // positions per packed row
  int batch_size = 8;          // rows per step, over all processes together
  LrScheduleOptions schedule;  // "steps", "lr", "min_lr", "warmup_steps"
  double weight_decay = 0.1;   // AdamW's, on matrices only (not on norms and biases)
  double beta1 = 0.9;          // "adam_betas": [beta1, beta2]
  double beta2 = 0.95;
  double adam_eps = 1e-8;
  double grad_clip = 1.0;              // max global gradient norm; 0 = off
  double diffusion_loss_weight = 5.0;  // lambda of L = L_LM + lambda L_DDPM
  double min_snr_gamma = 0.0;          // > 0: min-SNR-gamma weights on L_DDPM (trainer/loss.h)
  SequenceOptions sequence;            // "caption_dropout", "image_first_max_timestep"
  double ema_decay = 0.0;      // 0: no EMA; else in (0, 1) and the export holds the EMA weights
  bool bf16_autocast = false;  // forward and backward in bfloat16 where autocast allows
  uint64_t seed = 0;           // initial weights, data order, noise

  int log_every = 10;          // steps between log lines
  int checkpoint_every = 500;  // steps between checkpoints; 0: only at the end
  int keep_checkpoints = 2;
  SampleOptions samples;        // "samples"
  engine::GenerationConfig generation;  // "generation": the exported model's serving defaults

  absl::Status Validate() const;

  // `json_text` holds the config; errors name fields relative to it.
  static absl::StatusOr<TrainConfig> FromJson(const std::string& json_text);
  // As FromJson, with the file's path in every error.
  static absl::StatusOr<TrainConfig> FromFile(const std::string& path);
};

// The model a fine-tune (init_from) trains: the shape, tokens and latent statistics of `init`, the
// model it starts from, with the diffusion objective and sampling settings of `run`, the training
// config's "model", and a patch position embedding where `run` adds one (it starts at zero).
// InvalidArgument when `run` otherwise describes another model than `init`.
absl::StatusOr<engine::ModelConfig> FineTunedModel(engine::ModelConfig init,
                                                   const engine::ModelConfig& run);

}  // namespace infusion::trainer

#endif  // INFUSION_TRAINER_TRAIN_CONFIG_H_
