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
#include "engine/sampler/diffusion_sampler.h"

namespace infusion {

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

at::Tensor SampleGridWriter::GenerateImage(TransfusionModelImpl& model, const std::string& prompt,
                                           uint64_t seed) const {
  const ModelConfig& config = model.config();
  const SpecialTokens& t = config.tokens;
  const int64_t n = config.image.num_patches(), dim = config.image.patch_dim();
  DiffusionParams params;
  params.solver = DiffusionSolver::kDdim;
  params.steps = options_.steps;
  params.guidance_scale = options_.guidance_scale;
  params.seed = seed;
  config.ApplyDiffusionTo(&params);
  absl::StatusOr<DiffusionState> started = DiffusionState::Start(schedule_, params, n * dim);
  CHECK(started.ok()) << started.status();  // the options were validated
  DiffusionState state = *std::move(started);

  std::vector<int> conditional = {t.bos};
  for (int id : tokenizer_.Encode(prompt)) conditional.push_back(id);
  conditional.push_back(t.boi);
  const std::vector<int> unconditional = {t.bos, t.boi};
  auto predict = [&](const std::vector<int>& prefix, const at::Tensor& x, int32_t timestep) {
    ReferenceOutput out = ReferenceForward(
        model, {SequencePart::Text(prefix), SequencePart::Image(x, static_cast<float>(timestep))});
    return out.eps.contiguous();  // [n, dim]
  };
  while (!Done(state)) {
    const int32_t timestep = CurrentTimestep(state);
    const at::Tensor x = at::from_blob(state.x.data(), {n, dim}, at::kFloat).clone();
    at::Tensor eps = predict(conditional, x, timestep);
    if (options_.guidance_scale != 1.0f) {
      const at::Tensor uncond = predict(unconditional, x, timestep);
      const absl::Span<float> out(eps.data_ptr<float>(), eps.numel());
      ApplyGuidance(out, absl::Span<const float>(uncond.data_ptr<float>(), uncond.numel()),
                    options_.guidance_scale, out);
    }
    Step(schedule_, params, eps.data_ptr<float>(), &state);
  }
  return at::from_blob(state.x.data(), {n, dim}, at::kFloat).clone();
}

std::string SampleGridWriter::Caption(TransfusionModelImpl& model,
                                      const at::Tensor& patches) const {
  const SpecialTokens& t = model.config().tokens;
  std::vector<int> generated = {t.eoi};
  for (int i = 0; i < options_.max_caption_tokens; ++i) {
    ReferenceOutput out = ReferenceForward(
        model, {SequencePart::Text({t.bos, t.boi}), SequencePart::Image(patches, 0.0f),
                SequencePart::Text(generated)});
    const int next = static_cast<int>(out.logits[out.logits.size(0) - 1].argmax().item<int64_t>());
    if (next == t.eos) break;
    generated.push_back(next);
  }
  return tokenizer_.Decode(std::vector<int>(generated.begin() + 1, generated.end()));
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

}  // namespace infusion
