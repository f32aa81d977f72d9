// infusion-eval: measures a model against the mission's benchmarks (docs/evaluation.md).
//
//   infusion-eval shapes --model DIR                 in-process (scheduler + executor here)
//   infusion-eval shapes --server HOST:PORT          through a running infusion-server
//   infusion-eval emoji  --model DIR [--emoji_count 500]
//   infusion-eval text   --model DIR
//   infusion-eval all    --model DIR
//
// Results go to --out_dir (default docs/eval/<model name>/): results.json, report.md and PNG
// sample grids; a run replaces only the sections of the benchmarks it ran.
#include <cstdio>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/process_env.h"
#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "clients/eval/emoji_benchmark.h"
#include "clients/eval/in_process_generator.h"
#include "clients/eval/latent_encoder.h"
#include "clients/eval/report_writer.h"
#include "clients/eval/server_generator.h"
#include "clients/eval/shapes_benchmark.h"
#include "clients/eval/text_benchmark.h"
#include "common/status_macros.h"
#include "common/version.h"

ABSL_FLAG(std::string, model, "", "model directory (in-process; emoji and text need it always)");
ABSL_FLAG(std::string, server, "", "HOST:PORT of an infusion-server to evaluate instead");
ABSL_FLAG(std::string, api_key, "", "--server: API key");
ABSL_FLAG(std::string, out_dir, "", "output folder (default docs/eval/<model name>)");
ABSL_FLAG(int, threads, 0, "LibTorch/OpenMP threads (0 = number of cores)");
ABSL_FLAG(int, bf16_min_rows, 0,
          "in-process: "
          "matrix products of steps with at least this many positions in bfloat16 "
          "(AVX512-BF16 CPUs; 0 = float32 only; see docs/benchmarks.md)");
ABSL_FLAG(bool, bf16_images, true,
          "in-process: on AVX512-BF16 CPUs, the decoder products of images being denoised in "
          "bfloat16 (false: float32 throughout)");
ABSL_FLAG(int, kv_cache_mb, 256, "in-process: KV-cache memory");
ABSL_FLAG(int, max_running, 64, "in-process: requests the scheduler runs at once");
ABSL_FLAG(int, concurrency, 32, "--server: calls in flight");
ABSL_FLAG(uint64_t, seed, 1, "the task sets and the noise");
ABSL_FLAG(std::optional<int>, image_steps, std::nullopt,
          "denoising steps (default: the model's generation.json)");
ABSL_FLAG(std::optional<float>, guidance, std::nullopt,
          "classifier-free guidance scale (default: the model's generation.json)");
ABSL_FLAG(int, max_text_tokens, 96, "longest caption or chat answer");
ABSL_FLAG(int, prompts_per_category, 50, "shapes: text-to-image samples per category");
ABSL_FLAG(int, captions, 200, "shapes: images to caption");
ABSL_FLAG(int, questions, 200, "shapes: chat questions");
ABSL_FLAG(int, edits, 200, "shapes: edits");
ABSL_FLAG(int, grid_samples, 16, "images per sample grid");
ABSL_FLAG(std::string, emoji_dir, ".cache/emoji/package", "emoji: the fetched package");
ABSL_FLAG(int, emoji_count, 0, "emoji: names evaluated, a seeded sample (0 = all)");
ABSL_FLAG(bool, emoji_skin_tones, true, "emoji: include the skin-tone variants");
ABSL_FLAG(std::string, text_file, "", "text: file whose tail is scored (default: the KJV Bible)");
ABSL_FLAG(int, text_lines, 1000, "text: lines scored, from the end of the file");
ABSL_FLAG(std::string, cache_dir, ".cache/eval", "text: where the Bible text is written");

namespace infusion::eval {

using engine::GenerationConfig;
using engine::Image;

namespace {

constexpr char kUsage[] =
    "infusion-eval shapes|emoji|text|all (--model DIR | --server HOST:PORT) [flags]\n"
    "See docs/evaluation.md.";

std::string BaseName(std::string path) {
  while (path.size() > 1 && path.back() == '/') path.pop_back();
  return std::filesystem::path(path).filename().string();
}

std::string Today() {
  return absl::FormatTime("%Y-%m-%d %H:%M UTC", absl::Now(), absl::UTCTimeZone());
}

GenerationParams ParamsFromFlags() {
  GenerationParams p;
  p.image_steps = absl::GetFlag(FLAGS_image_steps);
  p.guidance_scale = absl::GetFlag(FLAGS_guidance);
  p.max_text_tokens = absl::GetFlag(FLAGS_max_text_tokens);
  return p;
}

// The generating side of a run and what the report says about it.
struct Backend {
  std::unique_ptr<Generator> generator;
  std::string model_name;
  Json run;  // model, backend, generation settings, seed, date: each section's "run"
};

absl::StatusOr<Backend> MakeBackend() {
  const std::string model = absl::GetFlag(FLAGS_model);
  const std::string server = absl::GetFlag(FLAGS_server);
  const GenerationParams params = ParamsFromFlags();
  Backend b;
  if (server.empty()) {
    if (model.empty()) return absl::InvalidArgumentError("give --model DIR or --server HOST:PORT");
    InProcessOptions options;
    options.model_dir = model;
    options.num_threads = absl::GetFlag(FLAGS_threads);
    options.bf16_min_rows = absl::GetFlag(FLAGS_bf16_min_rows);
    options.bf16_images = absl::GetFlag(FLAGS_bf16_images);
    options.kv_cache_bytes = static_cast<size_t>(absl::GetFlag(FLAGS_kv_cache_mb)) << 20;
    options.max_running = absl::GetFlag(FLAGS_max_running);
    options.params = params;
    ASSIGN_OR_RETURN(std::unique_ptr<InProcessGenerator> g, InProcessGenerator::Create(options));
    const GenerationConfig& defaults = g->processor().generation();
    b.model_name = BaseName(model);
    b.run = {{"model", b.model_name},
             {"backend", "in-process"},
             {"image_steps", params.image_steps.value_or(defaults.image_steps)},
             {"guidance_scale", params.guidance_scale.value_or(defaults.guidance_scale)},
             {"sampler", defaults.sampler}};
    b.generator = std::move(g);
  } else {
    ServerGeneratorOptions options;
    options.client.server = server;
    options.client.api_key = absl::GetFlag(FLAGS_api_key);
    options.concurrency = absl::GetFlag(FLAGS_concurrency);
    options.params = params;
    ASSIGN_OR_RETURN(std::unique_ptr<ServerGenerator> g, ServerGenerator::Create(options));
    ASSIGN_OR_RETURN(b.model_name, g->ModelName());
    b.run = {{"model", b.model_name}, {"backend", absl::StrCat("server ", server)}};
    b.run["image_steps"] = params.image_steps ? Json(*params.image_steps) : Json("server default");
    b.run["guidance_scale"] =
        params.guidance_scale ? Json(*params.guidance_scale) : Json("server default");
    b.generator = std::move(g);
  }
  b.run["max_text_tokens"] = params.max_text_tokens;
  b.run["seed"] = absl::GetFlag(FLAGS_seed);
  b.run["date"] = Today();
  return b;
}

absl::Status EvalShapes(Backend& backend, ReportWriter& report) {
  ShapesBenchmarkOptions options;
  options.prompts_per_category = absl::GetFlag(FLAGS_prompts_per_category);
  options.captions = absl::GetFlag(FLAGS_captions);
  options.questions = absl::GetFlag(FLAGS_questions);
  options.edits = absl::GetFlag(FLAGS_edits);
  options.seed = absl::GetFlag(FLAGS_seed);
  options.grid_samples = absl::GetFlag(FLAGS_grid_samples);
  RETURN_IF_ERROR(options.Validate());
  ASSIGN_OR_RETURN(ShapesResults results,
                   RunShapesBenchmark(MakeShapesTaskSet(options), options, *backend.generator));
  Json run = backend.run;
  run["prompts_per_category"] = options.prompts_per_category;
  run["captions"] = options.captions;
  run["questions"] = options.questions;
  run["edits"] = options.edits;
  return report.SetSection("shapes", results.ToJson(), run, results.grids);
}

absl::Status EvalEmoji(Backend& backend, ReportWriter& report) {
  EmojiBenchmarkOptions options;
  options.data_dir = absl::GetFlag(FLAGS_emoji_dir);
  options.skin_tones = absl::GetFlag(FLAGS_emoji_skin_tones);
  options.count = absl::GetFlag(FLAGS_emoji_count);
  options.seed = absl::GetFlag(FLAGS_seed);
  options.grid_samples = absl::GetFlag(FLAGS_grid_samples);
  ASSIGN_OR_RETURN(std::unique_ptr<LatentEncoder> encoder,
                   LatentEncoder::Create(absl::GetFlag(FLAGS_model)));
  ASSIGN_OR_RETURN(
      EmojiResults results,
      RunEmojiBenchmark(options, *backend.generator, [&encoder](const std::vector<Image>& images) {
        return encoder->Encode(images);
      }));
  Json run = backend.run;
  run["data_dir"] = options.data_dir;
  run["skin_tones"] = options.skin_tones;
  return report.SetSection("emoji", results.ToJson(), run, results.grids);
}

absl::Status EvalText(const std::string& model_name, ReportWriter& report) {
  TextBenchmarkOptions options;
  options.file = absl::GetFlag(FLAGS_text_file);
  options.held_out_lines = absl::GetFlag(FLAGS_text_lines);
  options.cache_dir = absl::GetFlag(FLAGS_cache_dir);
  options.num_threads = absl::GetFlag(FLAGS_threads);
  ASSIGN_OR_RETURN(TextResults results, RunTextBenchmark(options, absl::GetFlag(FLAGS_model)));
  const Json run = {
      {"model", model_name}, {"backend", "in-process (reference forward)"}, {"date", Today()}};
  return report.SetSection("text", results.ToJson(), run, {});
}

absl::Status Run(const std::string& command) {
  const bool shapes = command == "shapes" || command == "all";
  const bool emoji = command == "emoji" || command == "all";
  const bool text = command == "text" || command == "all";
  if (!shapes && !emoji && !text) {
    return absl::InvalidArgumentError(absl::StrCat("unknown command \"", command, "\"\n", kUsage));
  }
  // Both run the model's own code here, whichever backend generates.
  if ((emoji || text) && absl::GetFlag(FLAGS_model).empty()) {
    return absl::InvalidArgumentError(
        "emoji retrieval encodes with the model's codec and text perplexity runs the model in "
        "this process: give --model DIR (with --server too)");
  }
  std::optional<Backend> backend;
  std::string model_name = BaseName(absl::GetFlag(FLAGS_model));
  if (shapes || emoji) {
    ASSIGN_OR_RETURN(backend, MakeBackend());
    model_name = backend->model_name;
  }
  std::string out_dir = absl::GetFlag(FLAGS_out_dir);
  if (out_dir.empty()) out_dir = absl::StrCat("docs/eval/", model_name);
  ASSIGN_OR_RETURN(std::unique_ptr<ReportWriter> report, ReportWriter::Open(out_dir));
  // Each benchmark's section is written as soon as it is done, so a later failure loses nothing.
  if (shapes) {
    RETURN_IF_ERROR(EvalShapes(*backend, *report));
    RETURN_IF_ERROR(report->Write());
  }
  if (emoji) {
    RETURN_IF_ERROR(EvalEmoji(*backend, *report));
    RETURN_IF_ERROR(report->Write());
  }
  if (text) {
    RETURN_IF_ERROR(EvalText(model_name, *report));
    RETURN_IF_ERROR(report->Write());
  }
  std::printf("wrote %s/results.json and %s/report.md\n", out_dir.c_str(), out_dir.c_str());
  return absl::OkStatus();
}

}  // namespace
}  // namespace infusion::eval

int main(int argc, char** argv) {
  infusion::PrepareComputeProcess(argv);
  infusion::SetVersionFlag("infusion-eval");
  absl::SetProgramUsageMessage(infusion::eval::kUsage);
  const std::vector<char*> args = absl::ParseCommandLine(argc, argv);
  if (args.size() != 2) {
    std::fprintf(stderr, "usage: %s\n", infusion::eval::kUsage);
    return 2;
  }
  if (absl::Status s = infusion::eval::Run(args[1]); !s.ok()) {
    std::fprintf(stderr, "infusion-eval: %s\n", s.ToString().c_str());
    return 1;
  }
  return 0;
}
