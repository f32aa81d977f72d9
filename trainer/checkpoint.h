// Checkpoints that a run resumes from exactly. OUT/checkpoints/ holds
//   step_000500/config.json         the model config (with its latent statistics)
//   step_000500/tokenizer.model     the tokenizer the run trains with
//   step_000500/model.safetensors   the weights
//   step_000500/ema.safetensors     the EMA weights, when the run keeps them
//   step_000500/optimizer.pt        AdamW's state (torch::optim serialisation: moments, step)
//   step_000500/state.json          the step and the run's seed: with them every later batch, its
//                                   noise and its learning rate are determined (batch_builder.h)
//   latest                          the name of the newest complete checkpoint
// A checkpoint is written into a temporary folder (.tmp-step_N), every file fsynced, then renamed
// into place and named in `latest` (written, fsynced, renamed): a process killed at any moment
// leaves the previous checkpoint intact and `latest` naming a complete one. Nothing a `step_N`
// folder holds is ever deleted in place: a checkpoint written again under the same name (a run
// resumed from an older one) first moves the old folder aside to .old-step_N, which Latest()
// falls back to until the new one is in place, and pruning moves a folder to .del-step_N before
// deleting it, so every step_N folder is complete. Leftover dot-folders are removed by the next
// save, after it has updated `latest`.
#ifndef INFUSION_TRAINER_CHECKPOINT_H_
#define INFUSION_TRAINER_CHECKPOINT_H_

#include <torch/nn/module.h>
#include <torch/optim/optimizer.h>

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "engine/model/model_config.h"
#include "trainer/ema.h"

namespace infusion::trainer {

struct TrainingState {
  int64_t step = 0;   // optimiser updates done
  uint64_t seed = 0;  // the run's seed
};

class Checkpointer {
 public:
  // `dir` is OUT/checkpoints; the newest `keep` (>= 1) checkpoints are kept.
  Checkpointer(std::string dir, int keep) : dir_(std::move(dir)), keep_(keep) {}

  // `ema` may be null.
  absl::Status Save(const TrainingState& state, const engine::ModelConfig& config,
                    const std::string& tokenizer_path, const torch::nn::Module& model,
                    const Ema* ema, torch::optim::Optimizer& optimizer) const;

  // The folder of the newest complete checkpoint; NotFound when there is none.
  absl::StatusOr<std::string> Latest() const;

  // Fault injection: `hook` is called with the checkpoint's step and the name of each point of
  // Save() as it is reached (kCrashPoints, in order); a hook that kills the process, or throws,
  // leaves on disk exactly what dying there leaves. Process-wide; empty to remove.
  using CrashHook = std::function<void(int64_t step, std::string_view point)>;
  static void SetCrashHook(CrashHook hook);
  // INFUSION_CHECKPOINT_CRASH_AT="STEP:POINT" in the environment installs a hook that SIGKILLs
  // the process at that point of the checkpoint of that step (how the end-to-end tests kill a
  // training run half-way through a checkpoint write). InvalidArgument for a malformed value.
  static absl::Status InstallCrashHookFromEnvironment();

  // The model config saved in checkpoint folder `checkpoint`.
  static absl::StatusOr<engine::ModelConfig> LoadConfig(const std::string& checkpoint);
  static std::string TokenizerPath(const std::string& checkpoint) {
    return checkpoint + "/tokenizer.model";
  }
  // Restores the weights, the EMA weights (when `ema` is not null) and the optimiser's state
  // from checkpoint folder `checkpoint`; every error names the file.
  static absl::StatusOr<TrainingState> Load(const std::string& checkpoint, torch::nn::Module& model,
                                            Ema* ema, torch::optim::Optimizer& optimizer);

 private:
  std::string dir_;
  int keep_;
};

// The points of Checkpointer::Save, in order: after each file of the temporary folder, once it
// is complete and fsynced, after an older folder of the same name is moved aside, after the
// rename into place, after `latest` names it, after pruning.
inline constexpr std::string_view kCrashPoints[] = {
    "config", "tokenizer", "model", "ema", "optimizer", "state",
    "synced", "moved_aside", "renamed", "latest", "pruned"};

// Writes `bytes` to `path` durably: PATH.tmp, fsync, rename, fsync of the folder.
absl::Status WriteFileDurably(const std::string& path, const std::string& bytes);

}  // namespace infusion::trainer

#endif  // INFUSION_TRAINER_CHECKPOINT_H_
