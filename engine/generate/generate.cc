#include "engine/generate/generate.h"

#include <algorithm>
#include <limits>
#include <memory>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "engine/kv_cache/kv_cache_manager.h"
#include "engine/kv_cache/position_key.h"
#include "engine/sampler/diffusion_sampler.h"
#include "engine/sampler/noise_schedule.h"
#include "engine/sampler/text_sampler.h"

namespace infusion {
namespace {

// One KV sequence: its positions' tokens, keys and images, and how much is computed.
struct Seq {
  SeqId id = 0;
  std::vector<int32_t> tokens;
  std::vector<uint64_t> keys;
  std::vector<std::pair<int, std::vector<float>>> images;  // start position, patches
  int computed = 0;

  void Add(const PromptPart& part, int n, int32_t image_token) {
    if (!part.is_image()) {
      for (int32_t t : part.tokens) {
        tokens.push_back(t);
        keys.push_back(PositionKeyForToken(t));
      }
      return;
    }
    images.emplace_back(static_cast<int>(tokens.size()), part.image_patches);
    for (int i = 0; i < n; ++i) {
      tokens.push_back(image_token);
      keys.push_back(PositionKeyForImagePatch(part.image_hash, i));
    }
  }
};

class Generator {
 public:
  Generator(Executor& executor, const GenerateOptions& options, std::unique_ptr<KvCacheManager> kv,
            std::unique_ptr<NoiseSchedule> schedule)
      : executor_(executor),
        info_(executor.info()),
        options_(options),
        kv_(std::move(kv)),
        schedule_(std::move(schedule)) {}

  absl::StatusOr<GenerateOutput> Run(const std::vector<PromptPart>& prompt);

 private:
  // Computes every uncomputed position of `seq` in one span; returns the last logits if asked.
  absl::StatusOr<std::vector<float>> Fill(Seq& seq, bool want_logits);
  absl::StatusOr<std::vector<float>> DrawImage(Seq& cond, int image_index);

  Executor& executor_;
  const ExecutorInfo info_;
  const GenerateOptions& options_;
  std::unique_ptr<KvCacheManager> kv_;
  std::unique_ptr<NoiseSchedule> schedule_;
};

absl::StatusOr<std::vector<float>> Generator::Fill(Seq& seq, bool want_logits) {
  const int begin = seq.computed, end = static_cast<int>(seq.tokens.size());
  std::vector<uint64_t> keys(seq.keys.begin() + begin, seq.keys.end());
  if (begin == 0) {
    ASSIGN_OR_RETURN(int hits, kv_->Allocate(seq.id, keys));
    (void)hits;  // prefix caching is off
  } else {
    ASSIGN_OR_RETURN(AppendResult appended, kv_->Append(seq.id, keys));
    (void)appended;  // no forks, so no copies
  }
  Span span;
  span.kind = begin == 0 ? SpanKind::kPrefill : SpanKind::kDecode;
  span.seq_id = seq.id;
  span.start_position = begin;
  span.tokens.assign(seq.tokens.begin() + begin, seq.tokens.end());
  for (const auto& [start, patches] : seq.images) {
    if (start + info_.num_patches <= begin || start >= end) continue;
    if (start < begin) return absl::InternalError("a span would split an image");
    span.images.push_back({start - begin, 0, patches.data(), 0.0f, false});
  }
  ASSIGN_OR_RETURN(auto table, kv_->BlockTable(seq.id));
  span.block_table.assign(table.begin(), table.end());
  ASSIGN_OR_RETURN(span.slots, kv_->SlotMapping(seq.id, begin, end));
  span.want_logits = want_logits;
  StepPlan plan;
  plan.spans.push_back(std::move(span));
  StepResult result = executor_.Execute(plan);
  RETURN_IF_ERROR(result.spans[0].status);
  seq.computed = end;
  return std::move(result.spans[0].logits);
}

absl::StatusOr<std::vector<float>> Generator::DrawImage(Seq& cond, int image_index) {
  const bool cfg = options_.image.guidance_scale != 1.0f && !options_.uncond_prompt.empty();
  Seq uncond;
  uncond.id = cond.id + 1;
  if (cfg) {
    for (const PromptPart& part : options_.uncond_prompt) {
      uncond.Add(part, info_.num_patches, options_.bos_token_id);
    }
    RETURN_IF_ERROR(Fill(uncond, false).status());
  }
  // Each image of a sequence gets its own noise: the seed advances with the image index.
  DiffusionParams params = options_.image;
  params.seed += static_cast<uint64_t>(image_index);
  ASSIGN_OR_RETURN(DiffusionState state,
                   DiffusionState::Start(*schedule_, params,
                                         static_cast<size_t>(info_.num_patches) * info_.patch_dim));
  while (!Done(state)) {
    const float t = static_cast<float>(CurrentTimestep(state));
    StepPlan plan;
    for (Seq* seq : {&cond, &uncond}) {
      if (seq == &uncond && !cfg) break;
      Span span;
      span.kind = SpanKind::kDenoise;
      span.seq_id = seq->id;
      span.start_position = seq->computed;
      span.tokens.assign(info_.num_patches, options_.bos_token_id);
      span.images.push_back({0, 0, state.x.data(), t, true});
      ASSIGN_OR_RETURN(auto table, kv_->BlockTable(seq->id));
      span.block_table.assign(table.begin(), table.end());
      plan.spans.push_back(std::move(span));
    }
    StepResult result = executor_.Execute(plan);
    for (const SpanResult& r : result.spans) RETURN_IF_ERROR(r.status);
    std::vector<float> eps = result.spans[0].eps[0];
    if (cfg) {
      ApplyGuidance(result.spans[0].eps[0], result.spans[1].eps[0], options_.image.guidance_scale,
                    absl::MakeSpan(eps));
    }
    Step(*schedule_, params, eps.data(), &state);
  }
  if (cfg) RETURN_IF_ERROR(kv_->Free(uncond.id));
  return std::move(state.x);
}

absl::StatusOr<GenerateOutput> Generator::Run(const std::vector<PromptPart>& prompt) {
  Seq cond;
  for (const PromptPart& part : prompt) cond.Add(part, info_.num_patches, options_.bos_token_id);
  if (cond.tokens.empty()) return absl::InvalidArgumentError("empty prompt");
  ASSIGN_OR_RETURN(std::unique_ptr<TextSampler> sampler,
                   TextSampler::Create(options_.text, cond.tokens));
  GenerateOutput out;
  const bool starts_with_image = cond.tokens.back() == options_.boi_token_id;
  ASSIGN_OR_RETURN(std::vector<float> logits, Fill(cond, /*want_logits=*/!starts_with_image));
  bool draw = starts_with_image;
  int images = 0;
  while (true) {
    if (draw) {
      ASSIGN_OR_RETURN(std::vector<float> image, DrawImage(cond, images));
      out.image_steps += options_.image.steps;
      PromptPart part = PromptPart::Image(std::move(image));
      out.parts.push_back(part);
      ++images;
      if (options_.finish_after_image) break;
      cond.Add(part, info_.num_patches, options_.bos_token_id);
      cond.Add(PromptPart::Text({options_.eoi_token_id}), 0, 0);
      ASSIGN_OR_RETURN(logits, Fill(cond, true));
      draw = false;
    }
    if (out.generated_tokens >= options_.text.max_tokens) break;
    if (static_cast<int>(cond.tokens.size()) + 1 >= info_.max_positions) break;
    const float kMasked = -std::numeric_limits<float>::infinity();
    logits[options_.bos_token_id] = kMasked;
    logits[options_.eoi_token_id] = kMasked;
    if (images >= options_.max_images) logits[options_.boi_token_id] = kMasked;
    const int32_t token = sampler->Sample(logits).token_id;
    ++out.generated_tokens;
    const auto& stops = options_.text.stop_token_ids;
    if (std::find(stops.begin(), stops.end(), token) != stops.end()) {
      out.stopped = true;
      break;
    }
    cond.Add(PromptPart::Text({token}), 0, 0);
    if (token == options_.boi_token_id) {
      ASSIGN_OR_RETURN(logits, Fill(cond, false));  // <boi>'s K/V, then the image
      draw = true;
      continue;
    }
    if (out.parts.empty() || out.parts.back().is_image()) out.parts.push_back(PromptPart::Text({}));
    out.parts.back().tokens.push_back(token);
    if (out.generated_tokens >= options_.text.max_tokens) break;
    ASSIGN_OR_RETURN(logits, Fill(cond, true));
  }
  RETURN_IF_ERROR(kv_->Free(cond.id));
  return out;
}

}  // namespace

absl::StatusOr<GenerateOutput> Generate(Executor& executor, const std::vector<PromptPart>& prompt,
                                        const GenerateOptions& options) {
  RETURN_IF_ERROR(options.text.Validate());
  RETURN_IF_ERROR(options.image.Validate());
  KvCacheManagerOptions kv_options;
  kv_options.num_blocks = executor.info().num_kv_blocks;
  kv_options.block_size = executor.info().block_size;
  kv_options.enable_prefix_cache = false;
  ASSIGN_OR_RETURN(std::unique_ptr<KvCacheManager> kv, KvCacheManager::Create(kv_options));
  NoiseScheduleOptions schedule_options;
  schedule_options.num_train_steps = options.num_train_timesteps;
  ASSIGN_OR_RETURN(std::unique_ptr<NoiseSchedule> schedule, NoiseSchedule::Create(schedule_options));
  Generator generator(executor, options, std::move(kv), std::move(schedule));
  return generator.Run(prompt);
}

}  // namespace infusion
