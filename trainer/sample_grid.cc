#include "trainer/sample_grid.h"

#include <ATen/ATen.h>
#include <torch/csrc/autograd/grad_mode.h>

#include <algorithm>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/logging.h"
#include "common/status_macros.h"
#include "engine/model/model_directory.h"
#include "engine/model/reference_forward.h"
#include "engine/prompt/prompt_builder.h"
#include "engine/sampler/image_denoiser.h"

namespace infusion::trainer {

using engine::BuiltPrompt;
using engine::DiffusionParams;
using engine::DiffusionSolver;
using engine::Image;
using engine::ImageDenoiser;
using engine::ImageLatents;
using engine::ModelConfig;
using engine::NoiseSchedule;
using engine::PromptBuilder;
using engine::PromptPart;
using engine::ReferenceForward;
using engine::ReferenceOutput;
using engine::SequencePart;
using engine::SpecialTokens;
using engine::Tokenizer;
using engine::TransfusionModelImpl;
using engine::WriteImageFile;
using engine::WriteTextFile;

static constexpr int kGridColumns = 4;
static constexpr int kGridGap = 2;

absl::Status SampleOptions::Validate() const {
  auto bad = [](const char* field, const std::string& what) {
    return absl::InvalidArgumentError(absl::StrCat("samples.", field, " ", what));
  };
  if (every < 0) return bad("every", absl::StrCat("must be >= 0, got ", every));
  if (captions < 0) return bad("captions", absl::StrCat("must be >= 0, got ", captions));
  if (steps < 1 || steps > 1000)
    return bad("steps", absl::StrCat("must be in [1, 1000], got ", steps));
  if (!(guidance_scale >= 0)) {
    return bad("guidance_scale", absl::StrCat("must be >= 0, got ", guidance_scale));
  }
  if (max_caption_tokens <= 0) {
    return bad("max_caption_tokens", absl::StrCat("must be > 0, got ", max_caption_tokens));
  }
  return absl::OkStatus();
}

Image TileImages(const std::vector<Image>& images, int columns, int gap) {
  CHECK(!images.empty());
  const int w = images[0].width, h = images[0].height;
  columns = std::min<int>(columns, static_cast<int>(images.size()));
  const int rows = (static_cast<int>(images.size()) + columns - 1) / columns;
  Image grid;
  grid.width = columns * w + (columns - 1) * gap;
  grid.height = rows * h + (rows - 1) * gap;
  grid.rgb.assign(static_cast<size_t>(grid.width) * grid.height * 3, 255);
  for (size_t i = 0; i < images.size(); ++i) {
    CHECK_EQ(images[i].width, w);
    CHECK_EQ(images[i].height, h);
    const int x0 = static_cast<int>(i % columns) * (w + gap);
    const int y0 = static_cast<int>(i / columns) * (h + gap);
    for (int y = 0; y < h; ++y) {
      std::copy_n(&images[i].rgb[static_cast<size_t>(y) * w * 3], w * 3,
                  &grid.rgb[(static_cast<size_t>(y0 + y) * grid.width + x0) * 3]);
    }
  }
  return grid;
}

SampleGridWriter::SampleGridWriter(const SampleOptions& options, const Tokenizer& tokenizer,
                                   ImageLatents& latents, const NoiseSchedule& schedule,
                                   at::Tensor caption_images)
    : options_(options),
      tokenizer_(tokenizer),
      latents_(latents),
      schedule_(schedule),
      caption_images_(std::move(caption_images)) {}

// The reference forward's parts for `prompt` (PromptBuilder's parts, images clean), then `tail`.
static std::vector<SequencePart> ReferenceParts(const std::vector<PromptPart>& prompt,
                                                int64_t patch_dim, std::vector<SequencePart> tail) {
  std::vector<SequencePart> parts;
  for (const PromptPart& part : prompt) {
    if (!part.is_image()) {
      parts.push_back(SequencePart::Text(part.tokens));
      continue;
    }
    const int64_t n = static_cast<int64_t>(part.image_patches.size()) / patch_dim;
    float* patches = const_cast<float*>(part.image_patches.data());  // cloned at once
    parts.push_back(
        SequencePart::Image(at::from_blob(patches, {n, patch_dim}, at::kFloat).clone(), 0.0f));
  }
  for (SequencePart& part : tail) parts.push_back(std::move(part));
  return parts;
}

at::Tensor SampleGridWriter::GenerateImage(TransfusionModelImpl& model, const std::string& prompt,
                                           uint64_t seed) const {
  const ModelConfig& config = model.config();
  const int64_t n = config.image.num_patches(), dim = config.image.patch_dim();
  DiffusionParams params;
  params.solver = DiffusionSolver::kDdim;
  params.steps = options_.steps;
  params.guidance_scale = options_.guidance_scale;
  params.seed = seed;
  config.ApplyDiffusionTo(&params);
  absl::StatusOr<ImageDenoiser> started =
      ImageDenoiser::Start(schedule_, params, /*image_index=*/0, n * dim);
  CHECK(started.ok()) << started.status();  // the options were validated
  ImageDenoiser image = *std::move(started);

  const BuiltPrompt built = PromptBuilder(config.tokens).TextToImage(tokenizer_.Encode(prompt));
  auto predict = [&](const std::vector<PromptPart>& prefix, const at::Tensor& x) {
    ReferenceOutput out = ReferenceForward(
        model, ReferenceParts(prefix, dim,
                              {SequencePart::Image(x, static_cast<float>(image.timestep()))}));
    return out.eps.contiguous();  // [n, dim]
  };
  while (!image.done()) {
    const at::Tensor x =
        at::from_blob(const_cast<float*>(image.x().data()), {n, dim}, at::kFloat).clone();
    const at::Tensor eps = predict(built.prompt, x);
    const at::Tensor uncond = image.guided() ? predict(built.uncond_prompt, x) : at::Tensor();
    image.Advance(eps.data_ptr<float>(), image.guided() ? uncond.data_ptr<float>() : nullptr,
                  /*preview=*/nullptr);
  }
  std::vector<float> latents = std::move(image).TakeLatents();
  return at::from_blob(latents.data(), {n, dim}, at::kFloat).clone();
}

std::string SampleGridWriter::Caption(TransfusionModelImpl& model,
                                      const at::Tensor& patches) const {
  const SpecialTokens& t = model.config().tokens;
  const at::Tensor clean = patches.contiguous();
  const PromptPart image = PromptPart::Image(
      std::vector<float>(clean.data_ptr<float>(), clean.data_ptr<float>() + clean.numel()));
  std::vector<PromptPart> sequence = PromptBuilder(t).Caption(image, /*prompt=*/{}).prompt;
  CHECK(!sequence.back().is_image());  // the caption prompt ends with <eoi>
  std::vector<int>& tokens = sequence.back().tokens;
  const size_t prompt_end = tokens.size();
  for (int i = 0; i < options_.max_caption_tokens; ++i) {
    ReferenceOutput out = ReferenceForward(model, ReferenceParts(sequence, clean.size(1), {}));
    const int next = static_cast<int>(out.logits[out.logits.size(0) - 1].argmax().item<int64_t>());
    if (next == t.eos) break;
    tokens.push_back(next);
  }
  return tokenizer_.Decode(std::vector<int>(tokens.begin() + prompt_end, tokens.end()));
}

absl::Status SampleGridWriter::Write(TransfusionModelImpl& model, int64_t step,
                                     const std::string& dir) {
  torch::NoGradGuard no_grad;
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec)
    return absl::PermissionDeniedError(absl::StrCat("cannot create ", dir, ": ", ec.message()));
  const std::string name = absl::StrFormat("step_%06d", step);
  const std::string stem = absl::StrCat(dir, "/", name);
  std::string text = absl::StrCat("step ", step, "\n");
  if (!options_.prompts.empty()) {
    std::vector<at::Tensor> patches;
    absl::StrAppend(&text, "\n", name, ".png (cells left to right, top to bottom):\n");
    for (size_t i = 0; i < options_.prompts.size(); ++i) {
      patches.push_back(GenerateImage(model, options_.prompts[i], options_.seed + i));
      absl::StrAppend(&text, "  ", i + 1, ". ", options_.prompts[i], "\n");
    }
    RETURN_IF_ERROR(WriteImageFile(
        stem + ".png", TileImages(latents_.Decode(at::stack(patches)), kGridColumns, kGridGap)));
  }
  if (caption_images_.defined() && caption_images_.size(0) > 0) {
    absl::StrAppend(&text, "\ncaptions of ", name, "_input.png:\n");
    for (int64_t i = 0; i < caption_images_.size(0); ++i) {
      absl::StrAppend(&text, "  ", i + 1, ". ", Caption(model, caption_images_[i]), "\n");
    }
    RETURN_IF_ERROR(WriteImageFile(
        stem + "_input.png", TileImages(latents_.Decode(caption_images_), kGridColumns, kGridGap)));
  }
  return WriteTextFile(stem + ".txt", text);
}

}  // namespace infusion::trainer
