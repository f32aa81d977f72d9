#include "trainer/trainer.h"

#include <ATen/ATen.h>
#include <ATen/autocast_mode.h>
#include <torch/nn/utils/clip_grad.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <limits>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/logging.h"
#include "common/status_macros.h"
#include "data/seeds/seeds.h"
#include "engine/model/model_directory.h"
#include "engine/weights/state_dict.h"
#include "trainer/latent_cache.h"
#include "trainer/loss.h"
#include "trainer/train_log.h"

namespace infusion::trainer {

using data::StableHash;
using engine::CodecName;
using engine::CopyFile;
using engine::DiffusionConfig;
using engine::ImageLatents;
using engine::LoadStateDict;
using engine::ModelConfig;
using engine::ModelDirectory;
using engine::ModelExport;
using engine::NoiseSchedule;
using engine::NoiseScheduleOptions;
using engine::PatchEncoderName;
using engine::StateDict;
using engine::Tokenizer;
using engine::TrainTokenizer;
using engine::TransfusionModel;
using engine::WriteModelDirectory;
using engine::WriteTextFile;

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

std::string CheckpointDir(const std::string& out) { return out + "/checkpoints"; }
std::string LogPath(const std::string& out) { return out + "/train_log.jsonl"; }
std::string SamplesDir(const std::string& out) { return out + "/samples"; }

double Seconds(Clock::time_point since) {
  return std::chrono::duration<double>(Clock::now() - since).count();
}

// The forward pass in bfloat16 where CPU autocast allows (matrix products, convolutions), for the
// guard's lifetime. Backward runs outside it, in the dtypes autograd recorded.
class CpuAutocast {
 public:
  explicit CpuAutocast(bool enabled) : enabled_(enabled) {
    if (!enabled_) return;
    at::autocast::set_autocast_cpu_dtype(at::kBFloat16);
    at::autocast::set_cpu_enabled(true);
  }
  ~CpuAutocast() {
    if (!enabled_) return;
    at::autocast::set_cpu_enabled(false);
    at::autocast::clear_cache();
  }

 private:
  bool enabled_;
};

absl::Status Annotate(const std::string& what, const absl::Status& status) {
  if (status.ok()) return status;
  return absl::Status(status.code(), absl::StrCat(what, ": ", status.message()));
}

}  // namespace

absl::Status TrainerOptions::Validate() const {
  if (out_dir.empty()) return absl::InvalidArgumentError("--out must name the output folder");
  if (until_step < 0) {
    return absl::InvalidArgumentError(absl::StrCat("--until_step must be >= 0, got ", until_step));
  }
  return absl::OkStatus();
}

Trainer::Trainer(const TrainConfig& config, const TrainerOptions& options, Distributed& distributed)
    : config_(config), options_(options), distributed_(distributed) {
  checkpointer_ =
      std::make_unique<Checkpointer>(CheckpointDir(options.out_dir), config.keep_checkpoints);
}

Trainer::~Trainer() = default;

absl::StatusOr<std::unique_ptr<Trainer>> Trainer::Create(const TrainConfig& config,
                                                         const TrainerOptions& options,
                                                         Distributed& distributed) {
  RETURN_IF_ERROR(options.Validate());
  RETURN_IF_ERROR(config.Validate());
  if (config.batch_size % distributed.world_size() != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("batch_size (", config.batch_size, ") must be a multiple of --world_size (",
                     distributed.world_size(), "): every process trains on as many rows"));
  }
  std::unique_ptr<Trainer> t(new Trainer(config, options, distributed));

  // Everything a run can lack, before any work is done.
  RETURN_IF_ERROR(t->CheckOutputFolder());
  ASSIGN_OR_RETURN(t->mix_, DataMix::Create(config.data, config.cache_dir));
  absl::StatusOr<std::unique_ptr<ImageLatents>> latents =
      ImageLatents::Create(config.model.image, config.codec_dir);
  if (!latents.ok()) return Annotate("codec_dir", latents.status());
  t->latents_ = *std::move(latents);
  if (!config.tokenizer_path.empty() && !fs::is_regular_file(config.tokenizer_path)) {
    return absl::NotFoundError(absl::StrCat("tokenizer.path: cannot read ", config.tokenizer_path));
  }
  if (options.resume && !options.checkpoint.empty()) {
    t->checkpoint_to_resume_ =
        fs::is_directory(options.checkpoint)
            ? options.checkpoint
            : absl::StrCat(options.out_dir, "/checkpoints/", options.checkpoint);
    if (!fs::is_directory(t->checkpoint_to_resume_)) {
      return absl::NotFoundError(
          absl::StrCat("checkpoint ", options.checkpoint, ": no such folder (tried ",
                       t->checkpoint_to_resume_, ")"));
    }
  } else if (options.resume) {
    ASSIGN_OR_RETURN(t->checkpoint_to_resume_, t->checkpointer_->Latest());
  }
  if (t->checkpoint_to_resume_.empty() && !config.init_from.empty()) {
    for (const std::string& file :
         {ModelDirectory::Config(config.init_from), ModelDirectory::Weights(config.init_from),
          ModelDirectory::Tokenizer(config.init_from)}) {
      if (!fs::is_regular_file(file)) {
        return absl::NotFoundError(absl::StrCat("init_from: cannot read ", file));
      }
    }
  }

  // Rank 0 prepares the data first; the others then find it in the cache.
  RETURN_IF_ERROR(distributed.MainFirst([&t] { return t->Prepare(); }));
  RETURN_IF_ERROR(t->BuildModel());
  return t;
}

absl::Status Trainer::CheckOutputFolder() const {
  if (!distributed_.is_main()) return absl::OkStatus();  // only rank 0 writes there
  const std::string& out = options_.out_dir;
  std::error_code ec;
  fs::create_directories(CheckpointDir(out), ec);
  const std::string probe = out + "/.write-test";
  if (!ec) {
    std::FILE* f = std::fopen(probe.c_str(), "w");
    if (f == nullptr || std::fclose(f) != 0)
      ec = std::make_error_code(std::errc::permission_denied);
  }
  if (ec) {
    return absl::PermissionDeniedError(
        absl::StrCat("cannot write to the output folder ", out, ": ", ec.message()));
  }
  fs::remove(probe, ec);
  if (!options_.resume && checkpointer_->Latest().ok()) {
    return absl::AlreadyExistsError(absl::StrCat(
        out,
        " holds checkpoints of a run already: continue it with --resume, or choose another --out"));
  }
  return absl::OkStatus();
}

absl::Status Trainer::Prepare() {
  if (!checkpoint_to_resume_.empty()) {
    tokenizer_path_ = Checkpointer::TokenizerPath(checkpoint_to_resume_);
  } else if (!config_.init_from.empty()) {
    tokenizer_path_ = ModelDirectory::Tokenizer(config_.init_from);
  } else if (!config_.tokenizer_path.empty()) {
    tokenizer_path_ = config_.tokenizer_path;
  } else {
    const std::vector<std::string> texts = mix_->Texts();
    const uint64_t key =
        StableHash(absl::StrCat(absl::StrJoin(texts, "\n"), "|", config_.tokenizer.model_type));
    tokenizer_path_ = absl::StrCat(config_.cache_dir, "/tokenizer-", absl::Hex(key), "-",
                                   config_.tokenizer.vocab_size, ".model");
    if (!fs::exists(tokenizer_path_)) {
      LOG(INFO) << "training a " << config_.tokenizer.model_type << " tokenizer of up to "
                << config_.tokenizer.vocab_size << " pieces on " << texts.size() << " texts";
      std::error_code ec;
      fs::create_directories(config_.cache_dir, ec);
      RETURN_IF_ERROR(TrainTokenizer(texts, config_.tokenizer, tokenizer_path_));
    }
  }

  if (distributed_.is_main()) {
    // The run's own copy: checkpoints are pruned, the cache may be cleared, the output stays.
    const std::string own = ModelDirectory::Tokenizer(options_.out_dir);
    if (fs::absolute(tokenizer_path_) != fs::absolute(own)) {
      RETURN_IF_ERROR(CopyFile(tokenizer_path_, own));
      tokenizer_path_ = own;
    }
  }

  // An export takes the latent statistics from its checkpoint and draws no batch: it needs no
  // latents, so it neither reads the cache nor, where the cache is gone or elsewhere, spends
  // minutes to hours encoding the pool again.
  if (options_.export_only && !checkpoint_to_resume_.empty()) return absl::OkStatus();
  std::vector<at::Tensor> parts;
  for (const auto& dataset : mix_->datasets()) {
    if (dataset->num_images() == 0) continue;
    ASSIGN_OR_RETURN(at::Tensor latents, LoadOrEncodeLatents(*dataset, config_.model.image,
                                                             latents_->codec(), config_.cache_dir));
    parts.push_back(latents);
  }
  if (!parts.empty()) raw_latents_ = at::cat(parts);
  return absl::OkStatus();
}

// Fine-tuning: the weights of config_.init_from, every tensor of the run's model present with its
// shape, except a position embedding the run adds, which starts at zero: the fine-tune starts from
// exactly the loaded model's function.
absl::Status Trainer::LoadInitWeights() {
  ASSIGN_OR_RETURN(StateDict weights, StateDict::Load(ModelDirectory::Weights(config_.init_from)));
  const std::string added = "image.position_embedding";
  if (config_.model.image.position_embedding && !weights.Contains(added)) {
    weights.Insert(added, at::zeros_like(model_->named_parameters()[added]));
    LOG(INFO) << "init_from: " << added << " is new in this run; it starts at zero";
  }
  return LoadStateDict(*model_, weights, /*strict=*/true);
}

absl::Status Trainer::BuildModel() {
  ModelConfig& mc = config_.model;
  if (!checkpoint_to_resume_.empty()) {
    // Shape, tokens and latent statistics come from the checkpoint; how to sample (timestep
    // spacing, clip range, initial noise) from the run's config, so that a resumed run, its sample
    // grids and its exports follow a changed sampling setting.
    const DiffusionConfig run = mc.diffusion;
    ASSIGN_OR_RETURN(mc, Checkpointer::LoadConfig(checkpoint_to_resume_));
    mc.diffusion.TakeSamplingSettingsFrom(run);
  } else if (!config_.init_from.empty()) {
    // Fine-tuning: the shape and latent statistics of the model it starts from, the run's
    // diffusion objective and sampling settings. The run may add a position embedding the model
    // lacks; it starts at zero (LoadInitWeights).
    const std::string path = ModelDirectory::Config(config_.init_from);
    ASSIGN_OR_RETURN(ModelConfig init, ModelConfig::FromFile(path));
    absl::StatusOr<ModelConfig> tuned = FineTunedModel(std::move(init), mc);
    if (!tuned.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("init_from: ", path, " ", tuned.status().message()));
    }
    mc = *std::move(tuned);
  } else if (config_.compute_latent_stats && raw_latents_.defined()) {
    LatentStats stats = ComputeLatentStats(raw_latents_);
    mc.image.latent_mean = std::move(stats.mean);
    mc.image.latent_std = std::move(stats.std);
  }
  RETURN_IF_ERROR(mc.Validate());
  // Again, now with the statistics that normalise the latents.
  ASSIGN_OR_RETURN(latents_, ImageLatents::Create(mc.image, config_.codec_dir));
  const at::Tensor image_table =
      raw_latents_.defined()
          ? latents_->LatentsToPatches(raw_latents_).contiguous()
          : at::zeros({0, mc.image.num_patches(), mc.image.patch_dim()}, at::kFloat);

  ASSIGN_OR_RETURN(tokenizer_, Tokenizer::Load(tokenizer_path_));
  RETURN_IF_ERROR(Annotate(tokenizer_path_, tokenizer_->CheckCompatible(mc.tokens, mc.vocab_size)));
  NoiseScheduleOptions schedule_options;
  schedule_options.num_train_steps = mc.diffusion.num_train_timesteps;
  ASSIGN_OR_RETURN(schedule_, NoiseSchedule::Create(schedule_options));
  objective_.weight = config_.diffusion_loss_weight;
  objective_.prediction = mc.diffusion.prediction();
  objective_.timestep_weights =
      MinSnrWeights(*schedule_, config_.min_snr_gamma, objective_.prediction);
  SequenceOptions sequence_options = config_.sequence;
  sequence_options.num_train_timesteps = mc.diffusion.num_train_timesteps;
  sequences_ = std::make_unique<SequenceBuilder>(*tokenizer_, mc.tokens, mc.image.num_patches(),
                                                 sequence_options);
  batches_ = std::make_unique<BatchBuilder>(*mix_, *sequences_, image_table, *schedule_,
                                            config_.seq_len, config_.seed);

  model_ = TransfusionModel(mc);
  model_->InitWeights(config_.seed);
  if (checkpoint_to_resume_.empty() && !config_.init_from.empty()) {
    RETURN_IF_ERROR(Annotate("init_from", LoadInitWeights()));
  }
  params_ = model_->parameters();
  param_counts_ = CountParameters(*model_);

  // Weight decay on matrices only: decaying norm gains and biases towards 0 only hurts.
  std::vector<at::Tensor> decayed, not_decayed;
  for (const at::Tensor& p : params_) (p.dim() >= 2 ? decayed : not_decayed).push_back(p);
  torch::optim::AdamWOptions adamw(config_.schedule.peak_lr);
  adamw.betas({config_.beta1, config_.beta2})
      .eps(config_.adam_eps)
      .weight_decay(config_.weight_decay);
  torch::optim::AdamWOptions no_decay = adamw;
  no_decay.weight_decay(0.0);
  std::vector<torch::optim::OptimizerParamGroup> groups;
  groups.emplace_back(decayed, std::make_unique<torch::optim::AdamWOptions>(adamw));
  groups.emplace_back(not_decayed, std::make_unique<torch::optim::AdamWOptions>(no_decay));
  optimizer_ = std::make_unique<torch::optim::AdamW>(std::move(groups), adamw);
  if (config_.ema_decay > 0) ema_ = std::make_unique<Ema>(*model_, config_.ema_decay);
  lr_ = std::make_unique<LrSchedule>(config_.schedule);

  if (!checkpoint_to_resume_.empty()) {
    ASSIGN_OR_RETURN(TrainingState state,
                     Checkpointer::Load(checkpoint_to_resume_, *model_, ema_.get(), *optimizer_));
    if (state.seed != config_.seed) {
      return absl::InvalidArgumentError(
          absl::StrCat(checkpoint_to_resume_, " was trained with seed ", state.seed,
                       ", the training config has seed ", config_.seed));
    }
    step_ = state.step;
  }

  if (distributed_.is_main() && config_.samples.every > 0) {
    // Images spread over the table (so over the datasets) for the captions of the sample grid.
    const int64_t n = image_table.size(0);
    const int64_t k = std::min<int64_t>(config_.samples.captions, n);
    std::vector<int64_t> rows;
    for (int64_t i = 0; i < k; ++i) rows.push_back(i * n / k);
    samples_ = std::make_unique<SampleGridWriter>(
        config_.samples, *tokenizer_, *latents_, *schedule_,
        image_table.index_select(0, at::tensor(rows, at::kLong)));
  }
  return absl::OkStatus();
}

absl::StatusOr<TrainStepResult> Trainer::RunStep(int64_t step) {
  const int64_t rows = config_.batch_size / distributed_.world_size();
  ASSIGN_OR_RETURN(TrainingBatch batch, batches_->Build(step, distributed_.rank() * rows, rows));
  const int64_t noise_elements = batch.noise.defined() ? batch.noise.numel() : 0;
  at::Tensor counts = at::tensor(
      {static_cast<double>(batch.lm_targets.numel()), static_cast<double>(noise_elements),
       static_cast<double>(batch.num_tokens), TrainingFlops(config_.model, param_counts_, batch)},
      at::kDouble);
  distributed_.AllReduceSum(counts);
  const LossNormalizers normalizers{static_cast<int64_t>(counts[0].item<double>()),
                                    static_cast<int64_t>(counts[1].item<double>())};

  TrainStepResult result;
  result.lr = lr_->At(step);
  for (auto& group : optimizer_->param_groups()) group.options().set_lr(result.lr);
  LossTerms terms;
  {
    CpuAutocast autocast(config_.bf16_autocast);
    terms = ComputeLoss(*model_, batch, normalizers, objective_);
  }
  terms.total.backward();
  // A parameter the batch did not reach (the image layers, for a text-only batch) gets a zero
  // gradient, as every parameter has after zero_grad(): AdamW then treats it alike in every run,
  // one process or several.
  for (const at::Tensor& p : params_) {
    if (!p.grad().defined()) p.mutable_grad() = at::zeros_like(p);
  }
  distributed_.AllReduceGradients(params_);
  result.grad_norm = torch::nn::utils::clip_grad_norm_(
      params_, config_.grad_clip > 0 ? config_.grad_clip : std::numeric_limits<double>::infinity());
  optimizer_->step();
  optimizer_->zero_grad();
  if (ema_ != nullptr) ema_->Update(*model_, step);

  at::Tensor losses = at::stack({terms.lm.detach(), terms.diffusion.detach()}).to(at::kDouble);
  distributed_.AllReduceSum(losses);
  result.loss_lm = losses[0].item<double>();
  result.loss_diffusion = losses[1].item<double>();
  result.loss = result.loss_lm + config_.diffusion_loss_weight * result.loss_diffusion;
  result.tokens = static_cast<int64_t>(counts[2].item<double>());
  result.flops = counts[3].item<double>();
  return result;
}

absl::Status Trainer::SaveCheckpoint() {
  if (!distributed_.is_main()) return absl::OkStatus();
  return checkpointer_->Save({step_, config_.seed}, config_.model, tokenizer_path_, *model_,
                             ema_.get(), *optimizer_);
}

absl::Status Trainer::WriteSamples() {
  if (samples_ == nullptr) return absl::OkStatus();
  if (ema_ == nullptr) return samples_->Write(*model_, step_, SamplesDir(options_.out_dir));
  TransfusionModel averaged(config_.model);
  ema_->CopyTo(*averaged);
  return samples_->Write(*averaged, step_, SamplesDir(options_.out_dir));
}

absl::Status Trainer::Train() {
  const int64_t total = config_.schedule.total_steps;
  std::unique_ptr<TrainLog> log;
  std::unique_ptr<ProgressLine> progress;
  if (distributed_.is_main()) {
    ASSIGN_OR_RETURN(log, TrainLog::Open(LogPath(options_.out_dir), step_));
    if (options_.show_progress) progress = std::make_unique<ProgressLine>(total, stderr);
    LOG(INFO) << (step_ > 0 ? absl::StrCat("resuming at step ", step_) : "training") << ": "
              << param_counts_.total << " parameters, " << mix_->num_images() << " images, "
              << distributed_.world_size() << " process(es), " << config_.batch_size << " x "
              << config_.seq_len << " positions per step, " << total << " steps";
  }
  const int64_t first_step = step_;
  // Where this invocation stops: the run's end, or an earlier pause.
  const int64_t stop =
      options_.until_step > 0 ? std::min<int64_t>(options_.until_step, total) : total;
  const Clock::time_point start = Clock::now();
  Clock::time_point window_start = start;
  int64_t window_steps = 0, window_tokens = 0;
  int64_t saved_step = first_step;  // a resumed run starts from a checkpoint of its step
  TrainStepResult last;
  while (step_ < stop) {
    ASSIGN_OR_RETURN(last, RunStep(step_));
    ++step_;
    ++window_steps;
    window_tokens += last.tokens;
    if (log != nullptr && (step_ % config_.log_every == 0 || step_ == total)) {
      const double seconds = Seconds(window_start);
      StepMetrics m;
      m.step = step_;
      m.loss = last.loss;
      m.loss_lm = last.loss_lm;
      m.loss_diffusion = last.loss_diffusion;
      m.lr = last.lr;
      m.grad_norm = last.grad_norm;
      m.tokens_per_s = static_cast<double>(window_tokens) / seconds;
      m.elapsed_s = Seconds(start);
      log->Write(m);
      if (progress != nullptr) progress->Show(m, seconds / static_cast<double>(window_steps));
      window_start = Clock::now();
      window_steps = window_tokens = 0;
    }
    if ((config_.checkpoint_every > 0 && step_ % config_.checkpoint_every == 0) ||
        step_ == stop) {
      RETURN_IF_ERROR(SaveCheckpoint());
      saved_step = step_;
    }
    if (config_.samples.every > 0 && step_ % config_.samples.every == 0) {
      RETURN_IF_ERROR(WriteSamples());
    }
  }
  progress.reset();
  // A run resumed at its last step (or a fresh one of 0 steps) still ends with a checkpoint.
  if (saved_step != step_ || !checkpointer_->Latest().ok()) RETURN_IF_ERROR(SaveCheckpoint());
  if (step_ < total) {
    if (distributed_.is_main()) LOG(INFO) << "paused at step " << step_ << " of " << total;
    return absl::OkStatus();
  }
  return Export(options_.out_dir, step_ > first_step ? &last : nullptr);
}

absl::Status Trainer::Export(const std::string& out, const TrainStepResult* last) {
  if (!distributed_.is_main()) return absl::OkStatus();
  ModelExport e;
  e.model = model_;
  if (ema_ != nullptr) {
    e.model = TransfusionModel(config_.model);
    ema_->CopyTo(*e.model);
  }
  e.model->eval();
  e.tokenizer_path = tokenizer_path_;
  e.generation = config_.generation;
  e.codec_weights_dir = config_.codec_dir;
  e.weights_dtype = options_.export_dtype;
  RETURN_IF_ERROR(WriteModelDirectory(out, e));
  std::vector<std::string> sources;
  for (const auto& dataset : mix_->datasets()) {
    sources.push_back(absl::StrCat(dataset->name(), " (", dataset->size(), " examples, ",
                                   dataset->num_images(), " images)"));
  }
  std::string card = absl::StrCat(
      "# Transfusion model trained by infusion-train\n\n", "- parameters: ", param_counts_.total,
      " (", PatchEncoderName(config_.model.image.patch_encoder), " patch layers, ",
      CodecName(config_.model.image.codec), " latents)\n", "- data: ", absl::StrJoin(sources, ", "),
      "\n", "- steps: ", step_, " of ", config_.batch_size, " x ", config_.seq_len,
      " positions, seed ", config_.seed, "\n", "- weights: ", ema_ != nullptr ? "EMA" : "final",
      "\n");
  if (last != nullptr) {
    absl::StrAppend(&card, "- last step: loss ", last->loss, " (lm ", last->loss_lm, ", diffusion ",
                    last->loss_diffusion, ")\n");
  }
  absl::StrAppend(&card, "\nThe log of every step is train_log.jsonl.\n");
  RETURN_IF_ERROR(WriteTextFile(ModelDirectory::Card(out), card));
  LOG(INFO) << "wrote the model directory " << out;
  return absl::OkStatus();
}

absl::StatusOr<BenchmarkReport> Trainer::Benchmark(int steps) {
  constexpr int64_t kMatmulSize = 2048;
  constexpr int kMatmulRepeats = 5;
  BenchmarkReport report;
  report.steps = steps;
  report.threads = at::get_num_threads();
  report.params = param_counts_;
  const double peak_before = MeasureMatmulFlops(kMatmulSize, kMatmulRepeats);
  RETURN_IF_ERROR(RunStep(step_).status());  // warm-up: allocations, thread pools
  double flops = 0;
  int64_t tokens = 0;
  const Clock::time_point start = Clock::now();
  for (int i = 0; i < steps; ++i) {
    ASSIGN_OR_RETURN(TrainStepResult r, RunStep(step_ + 1 + i));
    flops += r.flops;
    tokens += r.tokens;
  }
  report.seconds = Seconds(start);
  const double peak_after = MeasureMatmulFlops(kMatmulSize, kMatmulRepeats);
  // Every process measured at the same time, each on its share of the cores: together, the rate
  // of the machines the run uses.
  at::Tensor peaks = at::tensor({peak_before, peak_after}, at::kDouble);
  distributed_.AllReduceSum(peaks);
  report.matmul_flops_per_s = peaks.max().item<double>();
  report.tokens_per_s = static_cast<double>(tokens) / report.seconds;
  report.fill = static_cast<double>(tokens) /
                (static_cast<double>(steps) * config_.batch_size * config_.seq_len);
  report.model_flops_per_s = flops / report.seconds;
  return report;
}

}  // namespace infusion::trainer
