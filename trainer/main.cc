// infusion-train: trains a Transfusion model and writes the model directory the server loads.
//
//   infusion-train --config configs/train/shapes.json --out models/shapes
//   infusion-train --out models/shapes --resume          (continues from the latest checkpoint)
//   infusion-train --out models/shapes --resume --until_step 2000   (pauses there, e.g. to evaluate)
//   infusion-train --config configs/train/shapes.json --out /tmp/b --benchmark 20
//
// Data-parallel over several processes or machines, with torchrun's flags (or its environment
// variables WORLD_SIZE, RANK, MASTER_ADDR, MASTER_PORT), e.g. two processes on one machine:
//   infusion-train --config C --out O --world_size 2 --rank 0 --threads 1 &
//   infusion-train --config C --out O --world_size 2 --rank 1 --threads 1
#include <ATen/Parallel.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <string>
#include <thread>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/process_env.h"
#include "common/status_macros.h"
#include "common/version.h"
#include "engine/model/compute_threads.h"
#include "engine/model/model_directory.h"
#include "trainer/checkpoint.h"
#include "trainer/distributed.h"
#include "trainer/train_config.h"
#include "trainer/trainer.h"

namespace {

// torchrun passes the rendezvous through the environment; flags given explicitly win.
int EnvInt(const char* name, int fallback) {
  const char* value = std::getenv(name);
  return value != nullptr && *value != '\0' ? std::atoi(value) : fallback;
}
std::string EnvString(const char* name, const char* fallback) {
  const char* value = std::getenv(name);
  return value != nullptr && *value != '\0' ? value : fallback;
}

}  // namespace

ABSL_FLAG(
    std::string, config, "",
    "training config (configs/train/*.json); with --resume, defaults to OUT/train_config.json");
ABSL_FLAG(std::string, out, "", "output folder: the model directory, log, checkpoints, samples");
ABSL_FLAG(bool, resume, false, "continue the run in --out from its latest checkpoint");
ABSL_FLAG(std::string, export_to, "",
          "write the model directory of the run's latest checkpoint (or --checkpoint) to this "
          "folder and exit, without training");
ABSL_FLAG(std::string, export_dtype, "f32",
          "number format of the exported weights: f32, f16 or bf16 (half the size; the server "
          "computes in float32 either way)");
ABSL_FLAG(std::string, checkpoint, "",
          "with --resume or --export_to: this checkpoint (a folder, or a name in OUT/checkpoints "
          "such as step_002000) instead of the latest");
ABSL_FLAG(int, world_size, EnvInt("WORLD_SIZE", 1), "number of training processes");
ABSL_FLAG(int, rank, EnvInt("RANK", 0), "this process's rank in [0, world_size)");
ABSL_FLAG(std::string, master_addr, EnvString("MASTER_ADDR", "127.0.0.1"),
          "address of rank 0's machine (it serves the rendezvous store)");
ABSL_FLAG(int, master_port, EnvInt("MASTER_PORT", 29500), "port of the rendezvous store");
ABSL_FLAG(int, threads, static_cast<int>(std::thread::hardware_concurrency()),
          "intra-op threads of this process (processes on one machine should share its cores)");
ABSL_FLAG(int64_t, until_step, 0,
          "stop after this step, with a checkpoint there and without exporting, when it comes "
          "before the config's last step (0 = train to the end); --resume continues from it");
ABSL_FLAG(std::string, cache_dir, "",
          "use this folder for the latent cache and tokenizers instead of the config's cache_dir "
          "(e.g. one inside the run's folder, so that the run does not depend on the checkout)");
ABSL_FLAG(std::string, init_from, "",
          "fine-tune from this model directory instead of the config's init_from (e.g. the model "
          "an earlier stage of a recipe exported; scripts/train.sh); ignored once the run has a "
          "checkpoint to resume");
ABSL_FLAG(int, benchmark, 0,
          "time this many training steps against the machine's matrix-product rate, print the "
          "throughput and exit without writing a model");

namespace infusion::trainer {

using engine::CopyFile;
using engine::DType;
using engine::ParseDType;
using engine::SetComputeThreads;

static std::string TrainConfigCopy(const std::string& out) { return out + "/train_config.json"; }

static absl::Status Run() {
  const std::string out = absl::GetFlag(FLAGS_out);
  const std::string export_to = absl::GetFlag(FLAGS_export_to);
  const bool resume = absl::GetFlag(FLAGS_resume) || !export_to.empty();
  std::string config_path = absl::GetFlag(FLAGS_config);
  if (out.empty()) return absl::InvalidArgumentError("--out is required");
  if (config_path.empty()) {
    if (!resume) return absl::InvalidArgumentError("--config is required (or --resume)");
    config_path = TrainConfigCopy(out);
  }
  const int threads = absl::GetFlag(FLAGS_threads);
  if (threads < 1) return absl::InvalidArgumentError("--threads must be >= 1");
  SetComputeThreads(threads);

  ASSIGN_OR_RETURN(TrainConfig config, TrainConfig::FromFile(config_path));
  if (const std::string cache_dir = absl::GetFlag(FLAGS_cache_dir); !cache_dir.empty()) {
    config.cache_dir = cache_dir;
  }
  if (const std::string init_from = absl::GetFlag(FLAGS_init_from); !init_from.empty()) {
    config.init_from = init_from;
  }
  RETURN_IF_ERROR(Checkpointer::InstallCrashHookFromEnvironment());
  DistributedOptions dist_options;
  dist_options.world_size = absl::GetFlag(FLAGS_world_size);
  dist_options.rank = absl::GetFlag(FLAGS_rank);
  dist_options.master_addr = absl::GetFlag(FLAGS_master_addr);
  dist_options.master_port = absl::GetFlag(FLAGS_master_port);
  ASSIGN_OR_RETURN(std::unique_ptr<Distributed> distributed, Distributed::Create(dist_options));

  TrainerOptions options;
  options.out_dir = out;
  options.resume = resume;
  options.export_only = !export_to.empty();
  options.checkpoint = absl::GetFlag(FLAGS_checkpoint);
  options.until_step = absl::GetFlag(FLAGS_until_step);
  const absl::StatusOr<DType> dtype =
      ParseDType(absl::AsciiStrToUpper(absl::GetFlag(FLAGS_export_dtype)));
  if (!dtype.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("--export_dtype: ", dtype.status().message()));
  }
  options.export_dtype = *dtype;
  if (!options.checkpoint.empty() && !resume) {
    return absl::InvalidArgumentError("--checkpoint needs --resume or --export_to");
  }
  ASSIGN_OR_RETURN(std::unique_ptr<Trainer> trainer,
                   Trainer::Create(config, options, *distributed));

  if (!export_to.empty()) {
    RETURN_IF_ERROR(trainer->ExportTo(export_to));
    std::printf("wrote %s from the checkpoint at step %lld\n", export_to.c_str(),
                static_cast<long long>(trainer->step()));
    return absl::OkStatus();
  }
  if (const int steps = absl::GetFlag(FLAGS_benchmark); steps > 0) {
    ASSIGN_OR_RETURN(BenchmarkReport r, trainer->Benchmark(steps));
    if (distributed->is_main()) {
      std::printf(
          "parameters        %lld (backbone %lld, image layers %lld, lm head %lld)\n"
          "threads           %d per process, %d process(es)\n"
          "training steps    %d in %.1f s (%.2f s/step)\n"
          "tokens/s          %.0f (%.0f%% of the positions, the rest padding)\n"
          "model FLOP/s      %.2f GFLOP/s\n"
          "matmul FLOP/s     %.2f GFLOP/s (float32 2048^3, all processes at once)\n"
          "utilisation       %.1f%% of the matmul rate\n",
          static_cast<long long>(r.params.total), static_cast<long long>(r.params.backbone),
          static_cast<long long>(r.params.image), static_cast<long long>(r.params.lm_head),
          r.threads, distributed->world_size(), r.steps, r.seconds, r.seconds / r.steps,
          r.tokens_per_s, 100.0 * r.fill, r.model_flops_per_s / 1e9, r.matmul_flops_per_s / 1e9,
          100.0 * r.model_flops_per_s / r.matmul_flops_per_s);
    }
    return absl::OkStatus();
  }
  // The run's own copy of its config is what a later --resume reads: a resume with a new
  // --config (more steps, another loss weighting) replaces it.
  if (distributed->is_main() && config_path != TrainConfigCopy(out)) {
    RETURN_IF_ERROR(CopyFile(config_path, TrainConfigCopy(out)));
  }
  return trainer->Train();
}

}  // namespace infusion::trainer

int main(int argc, char** argv) {
  infusion::PrepareComputeProcess(argv);
  infusion::SetVersionFlag("infusion-train");
  absl::SetProgramUsageMessage(
      "trains a Transfusion model: infusion-train --config CONFIG.json --out DIR [--resume]");
  absl::ParseCommandLine(argc, argv);
  absl::Status status;
  try {
    status = infusion::trainer::Run();
  } catch (const std::exception& e) {  // c10d and LibTorch report failures by throwing
    status = absl::InternalError(e.what());
  }
  if (!status.ok()) {
    std::fprintf(stderr, "infusion-train: %s\n", std::string(status.message()).c_str());
    return 1;
  }
  return 0;
}
