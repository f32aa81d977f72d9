#include "engine/generate/generate.h"

#include <algorithm>
#include <memory>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "engine/kv_cache/kv_cache_manager.h"
#include "engine/kv_cache/position_key.h"
#include "engine/output/output_processor.h"

namespace infusion::engine {
namespace {

constexpr int64_t kRequestId = 1;

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
  Generator(const ExecutorInfo& info, const GenerateOptions& options,
            std::unique_ptr<KvCacheManager> kv, std::unique_ptr<OutputProcessor> runner)
      : info_(info), options_(options), kv_(std::move(kv)), runner_(std::move(runner)) {}

  absl::StatusOr<GenerateOutput> Run(const std::vector<PromptPart>& prompt);

 private:
  // Computes every uncomputed position of `seq` in one span; returns its output.
  absl::StatusOr<SpanOutput> Fill(Seq& seq, bool want_logits);
  absl::StatusOr<std::vector<float>> DrawImage(Seq& cond);

  const ExecutorInfo info_;
  const GenerateOptions& options_;
  std::unique_ptr<KvCacheManager> kv_;
  std::unique_ptr<OutputProcessor> runner_;
};

absl::StatusOr<SpanOutput> Generator::Fill(Seq& seq, bool want_logits) {
  const int begin = seq.computed, end = static_cast<int>(seq.tokens.size());
  std::vector<uint64_t> keys(seq.keys.begin() + begin, seq.keys.end());
  if (begin == 0) {
    RETURN_IF_ERROR(kv_->Allocate(seq.id, keys).status());  // prefix caching is off
  } else {
    RETURN_IF_ERROR(kv_->Append(seq.id, keys).status());  // no forks, so no copies
  }
  Span span;
  span.kind = begin == 0 ? SpanKind::kPrefill : SpanKind::kDecode;
  span.seq_id = kRequestId;
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
  StepOutput out = runner_->Run(std::move(plan));
  RETURN_IF_ERROR(out.spans[0].status);
  seq.computed = end;
  return std::move(out.spans[0]);
}

absl::StatusOr<std::vector<float>> Generator::DrawImage(Seq& cond) {
  const bool cfg = options_.image.guidance_scale != 1.0f && !options_.uncond_prompt.empty();
  Seq uncond;
  uncond.id = cond.id + 1;
  if (cfg) {
    for (const PromptPart& part : options_.uncond_prompt) {
      uncond.Add(part, info_.num_patches, options_.bos_token_id);
    }
    RETURN_IF_ERROR(Fill(uncond, false).status());
  }
  while (true) {
    StepPlan plan;
    for (Seq* seq : {&cond, &uncond}) {
      if (seq == &uncond && !cfg) break;
      Span span;
      span.kind = SpanKind::kDenoise;
      span.seq_id = kRequestId;
      span.guidance_row = seq == &uncond;
      span.start_position = seq->computed;
      span.tokens.assign(info_.num_patches, options_.bos_token_id);
      span.images.push_back({0, 0, nullptr, 0.0f, true});
      ASSIGN_OR_RETURN(auto table, kv_->BlockTable(seq->id));
      span.block_table.assign(table.begin(), table.end());
      plan.spans.push_back(std::move(span));
    }
    StepOutput out = runner_->Run(std::move(plan));
    for (const SpanOutput& o : out.spans) RETURN_IF_ERROR(o.status);
    if (!out.spans[0].image.empty()) {
      if (cfg) RETURN_IF_ERROR(kv_->Free(uncond.id));
      return std::move(out.spans[0].image);
    }
  }
}

absl::StatusOr<GenerateOutput> Generator::Run(const std::vector<PromptPart>& prompt) {
  Seq cond;
  for (const PromptPart& part : prompt) cond.Add(part, info_.num_patches, options_.bos_token_id);
  if (cond.tokens.empty()) return absl::InvalidArgumentError("empty prompt");
  RunnerRequest request{options_.text, options_.image, options_.max_images, 0, cond.tokens};
  RETURN_IF_ERROR(runner_->AddRequest(kRequestId, request));
  GenerateOutput out;
  const bool starts_with_image = cond.tokens.back() == options_.boi_token_id;
  ASSIGN_OR_RETURN(SpanOutput last, Fill(cond, /*want_logits=*/!starts_with_image));
  bool draw = starts_with_image;
  while (true) {
    if (draw) {
      ASSIGN_OR_RETURN(std::vector<float> image, DrawImage(cond));
      out.image_steps += options_.image.steps;
      PromptPart part = PromptPart::Image(std::move(image));
      out.parts.push_back(part);
      if (options_.finish_after_image) break;
      if (out.generated_tokens >= options_.text.max_tokens) break;
      cond.Add(part, info_.num_patches, options_.bos_token_id);
      cond.Add(PromptPart::Text({options_.eoi_token_id}), 0, 0);
      ASSIGN_OR_RETURN(last, Fill(cond, true));
      draw = false;
    }
    if (static_cast<int>(cond.tokens.size()) + 1 >= info_.max_positions) break;
    const int32_t token = last.token;
    ++out.generated_tokens;
    const auto& stops = options_.text.stop_token_ids;
    if (std::find(stops.begin(), stops.end(), token) != stops.end()) {
      out.stopped = true;
      break;
    }
    cond.Add(PromptPart::Text({token}), 0, 0);
    if (token == options_.boi_token_id) {
      ASSIGN_OR_RETURN(last, Fill(cond, false));  // <boi>'s K/V, then the image
      draw = true;
      continue;
    }
    if (out.parts.empty() || out.parts.back().is_image()) out.parts.push_back(PromptPart::Text({}));
    out.parts.back().tokens.push_back(token);
    if (out.generated_tokens >= options_.text.max_tokens) break;
    ASSIGN_OR_RETURN(last, Fill(cond, true));
  }
  runner_->RemoveRequest(kRequestId, /*flush_text=*/false);
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
  OutputProcessorOptions output_options;
  output_options.bos_token_id = options.bos_token_id;
  output_options.boi_token_id = options.boi_token_id;
  output_options.eoi_token_id = options.eoi_token_id;
  output_options.num_train_timesteps = options.num_train_timesteps;
  ASSIGN_OR_RETURN(std::unique_ptr<OutputProcessor> runner,
                   OutputProcessor::Create(output_options, &executor));
  Generator generator(executor.info(), options, std::move(kv), std::move(runner));
  return generator.Run(prompt);
}

}  // namespace infusion::engine
