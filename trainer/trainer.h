// A training run from its config to the exported model directory:
//
//   Create   check everything a run needs (config, data files, output folder, codec weights,
//            the checkpoint to resume), then prepare the data: the tokenizer (trained on the
//            mix's texts unless given) and the latent cache. Rank 0 prepares first; the others
//            then find everything cached (or, on a machine without the shared cache folder,
//            prepare the same things themselves).
//   Train    per step: build this process's rows of the global batch -> forward -> loss ->
//            backward -> sum gradients over processes -> clip -> AdamW -> EMA; then log,
//            checkpoint and sample when due. At the end, rank 0 exports the model directory.
//
// Every process holds the whole model and the same optimiser state, and after the gradient sum
// they apply the same update, so they stay identical without ever exchanging weights.
#ifndef INFUSION_TRAINER_TRAINER_H_
#define INFUSION_TRAINER_TRAINER_H_

#include <ATen/core/Tensor.h>
#include <torch/optim/adamw.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "engine/model/image_latents.h"
#include "engine/model/transfusion_model.h"
#include "engine/sampler/noise_schedule.h"
#include "engine/tokenizer/tokenizer.h"
#include "trainer/batch_builder.h"
#include "trainer/checkpoint.h"
#include "trainer/data_mix.h"
#include "trainer/distributed.h"
#include "trainer/ema.h"
#include "trainer/loss.h"
#include "trainer/lr_schedule.h"
#include "trainer/sample_grid.h"
#include "trainer/sequence_builder.h"
#include "trainer/throughput.h"
#include "trainer/train_config.h"

namespace infusion::trainer {

struct TrainerOptions {
  std::string out_dir;        // the model directory, log, checkpoints and samples
  bool resume = false;        // continue from out_dir's latest checkpoint
  std::string checkpoint;     // with resume: this checkpoint (a folder, or a name in
                              // out_dir/checkpoints) instead of the latest
  bool show_progress = true;  // the progress line on stderr (rank 0)
  engine::DType export_dtype = engine::DType::kF32;  // of the exported model.safetensors
  bool export_only = false;  // the run only exports a checkpoint (ExportTo): no latents are loaded
  int64_t until_step = 0;  // > 0: stop after this step (with a checkpoint there, no export) if it
                           // comes before the config's last step; how a run pauses to be evaluated

  absl::Status Validate() const;
};

// What one step did, over all processes.
struct TrainStepResult {
  double loss = 0, loss_lm = 0, loss_diffusion = 0;
  double grad_norm = 0;
  double lr = 0;
  int64_t tokens = 0;  // non-padding positions
  double flops = 0;    // model FLOPs (throughput.h), all processes
};

struct BenchmarkReport {
  int steps = 0;
  double seconds = 0;       // wall time of the training steps
  double tokens_per_s = 0;  // non-padding positions per second, all processes
  double fill = 0;          // share of the rows' positions that are not padding
  double model_flops_per_s = 0;
  double matmul_flops_per_s = 0;  // float32 matrix-product rate of all processes together,
                                  // measured before and after the steps (the larger)
  int threads = 0;
  ParameterCounts params;
};

class Trainer {
 public:
  // `distributed` must outlive the trainer.
  static absl::StatusOr<std::unique_ptr<Trainer>> Create(const TrainConfig& config,
                                                         const TrainerOptions& options,
                                                         Distributed& distributed);
  ~Trainer();

  // Trains from the current step to config.steps and exports the model (rank 0); with
  // options.until_step before that, to until_step, ending with a checkpoint there instead.
  absl::Status Train();
  // Times `steps` training steps (from the current step; nothing is written) between two
  // measurements of the machine's matrix-product rate.
  absl::StatusOr<BenchmarkReport> Benchmark(int steps);

  // Writes the model directory of the current weights (EMA when the run keeps them) to `dir`,
  // as the end of Train() does to out_dir: how a checkpoint is evaluated or served mid-run.
  absl::Status ExportTo(const std::string& dir) { return Export(dir, nullptr); }

  int64_t step() const { return step_; }
  const engine::ModelConfig& model_config() const { return config_.model; }

 private:
  Trainer(const TrainConfig& config, const TrainerOptions& options, Distributed& distributed);

  // The steps of Create.
  absl::Status CheckOutputFolder() const;
  absl::Status Prepare();  // tokenizer and latents; idempotent
  absl::Status BuildModel();
  absl::Status LoadInitWeights();

  absl::StatusOr<TrainStepResult> RunStep(int64_t step);
  absl::Status SaveCheckpoint();
  absl::Status WriteSamples();
  // `last` is null when this process trained no step.
  absl::Status Export(const std::string& dir, const TrainStepResult* last);

  TrainConfig config_;
  TrainerOptions options_;
  Distributed& distributed_;
  std::string checkpoint_to_resume_;  // empty for a fresh run

  std::unique_ptr<DataMix> mix_;
  std::unique_ptr<engine::ImageLatents> latents_;  // the codec, and latents <-> patches
  at::Tensor raw_latents_;                 // [N, C, S, S] of the mix's images
  std::string tokenizer_path_;
  std::unique_ptr<engine::Tokenizer> tokenizer_;
  std::unique_ptr<engine::NoiseSchedule> schedule_;
  DiffusionObjective objective_;  // lambda, prediction type, min-SNR weights
  std::unique_ptr<SequenceBuilder> sequences_;
  std::unique_ptr<BatchBuilder> batches_;

  engine::TransfusionModel model_{nullptr};
  std::vector<at::Tensor> params_;  // model_'s parameters, in registration order
  ParameterCounts param_counts_;
  std::unique_ptr<torch::optim::AdamW> optimizer_;
  std::unique_ptr<Ema> ema_;  // null without EMA
  std::unique_ptr<LrSchedule> lr_;
  std::unique_ptr<Checkpointer> checkpointer_;
  std::unique_ptr<SampleGridWriter> samples_;  // rank 0, when samples are asked for

  int64_t step_ = 0;  // optimiser updates done
};

}  // namespace infusion::trainer

#endif  // INFUSION_TRAINER_TRAINER_H_
