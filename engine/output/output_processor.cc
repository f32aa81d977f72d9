#include "engine/output/output_processor.h"

#include <algorithm>
#include <cmath>
#include <exception>
#include <limits>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/logging.h"
#include "common/status_macros.h"

namespace infusion::engine {

OutputProcessorOptions OutputProcessorOptions::FromConfig(const ModelConfig& config) {
  OutputProcessorOptions options;
  options.bos_token_id = config.tokens.bos;
  options.boi_token_id = config.tokens.boi;
  options.eoi_token_id = config.tokens.eoi;
  options.num_train_timesteps = config.diffusion.num_train_timesteps;
  return options;
}

absl::StatusOr<std::unique_ptr<OutputProcessor>> OutputProcessor::Create(
    const OutputProcessorOptions& options, Executor* executor) {
  if (executor == nullptr) return absl::InvalidArgumentError("output processor: no executor");
  NoiseScheduleOptions schedule_options;
  schedule_options.num_train_steps = options.num_train_timesteps;
  ASSIGN_OR_RETURN(std::unique_ptr<NoiseSchedule> schedule, NoiseSchedule::Create(schedule_options));
  return std::unique_ptr<OutputProcessor>(
      new OutputProcessor(options, executor, std::move(schedule)));
}

absl::Status OutputProcessor::AddRequest(int64_t id, const RunnerRequest& request) {
  RequestOutputs r;
  r.params = request;
  ASSIGN_OR_RETURN(r.sampler, TextSampler::Create(request.text, request.prompt_tokens));
  if (options_.new_decoder) r.decoder = options_.new_decoder();
  r.stop = std::make_unique<StopMatcher>(request.text.stop);
  if (!requests_.emplace(id, std::move(r)).second) {
    return absl::AlreadyExistsError(absl::StrCat("request ", id, " is already registered"));
  }
  return absl::OkStatus();
}

std::string OutputProcessor::RemoveRequest(int64_t id, bool flush_text) {
  auto it = requests_.find(id);
  if (it == requests_.end()) return "";
  std::string text;
  RequestOutputs& r = it->second;
  if (flush_text && !r.stop->stopped()) {
    // The stream is over: an incomplete character is shown as U+FFFD, and a tail that might
    // have begun a stop string is the client's after all (unless the tail completes one).
    StopMatcher::Result tail = r.stop->Feed(r.decoder ? r.decoder->Finish() : "");
    text = std::move(tail.text);
    if (!tail.stopped) text += r.stop->Flush();
  }
  requests_.erase(it);
  return text;
}

void OutputProcessor::PrepareImages(StepPlan* plan, StepOutput* out) {
  const size_t elements = static_cast<size_t>(info().num_patches) * info().patch_dim;
  for (size_t i = 0; i < plan->spans.size(); ++i) {
    Span& span = plan->spans[i];
    if (span.kind != SpanKind::kDenoise) continue;
    auto it = requests_.find(span.seq_id);
    if (it == requests_.end() || span.images.size() != 1) {
      out->spans[i].status = absl::InternalError("denoise span of an unknown request");
      continue;
    }
    RequestOutputs& r = it->second;
    if (!r.image.has_value()) {
      if (span.guidance_row) {
        out->spans[i].status = absl::InternalError("a guidance row without its conditional row");
        continue;
      }
      absl::StatusOr<ImageDenoiser> image =
          ImageDenoiser::Start(*schedule_, r.params.image, r.images_started, elements);
      if (!image.ok()) {
        out->spans[i].status = image.status();
        continue;
      }
      r.image.emplace(*std::move(image));
      ++r.images_started;
    }
    span.images[0].patches = r.image->x().data();
    span.images[0].timestep = static_cast<float>(r.image->timestep());
    span.images[0].predict_noise = true;
  }
}

void OutputProcessor::SampleToken(RequestOutputs& r, std::vector<float>& logits,
                                  SpanOutput* out) {
  const float kMasked = -std::numeric_limits<float>::infinity();
  logits[options_.bos_token_id] = kMasked;
  logits[options_.eoi_token_id] = kMasked;
  if (r.images_started >= r.params.max_images) logits[options_.boi_token_id] = kMasked;
  out->token = r.sampler->Sample(logits).token_id;
  const std::vector<int32_t>& stops = r.params.text.stop_token_ids;
  const bool is_text = out->token != options_.boi_token_id &&
                       std::find(stops.begin(), stops.end(), out->token) == stops.end();
  if (!is_text || r.decoder == nullptr || r.stop->stopped()) return;
  StopMatcher::Result fed = r.stop->Feed(r.decoder->Add(out->token));
  out->text = std::move(fed.text);
  out->stop_string = fed.stopped;
}

void OutputProcessor::AdvanceImage(RequestOutputs& r, const float* eps_cond,
                                   const float* eps_uncond, SpanOutput* out) {
  ImageDenoiser& image = *r.image;
  const int every = r.params.preview_every;
  const bool preview = every > 0 && (image.steps_taken() + 1) % every == 0;
  image.Advance(eps_cond, eps_uncond, preview ? &out->preview : nullptr);
  out->image_step = image.steps_taken();
  out->image_steps = image.total_steps();
  if (image.done()) {
    out->image = std::move(image).TakeLatents();
    r.image.reset();
  }
}

namespace {

// NaN or infinity anywhere: the model's output for this span cannot be sampled or integrated.
bool AllFinite(const std::vector<float>& values) {
  for (float v : values) {
    if (!std::isfinite(v)) return false;
  }
  return true;
}

// Why a span's raw result cannot be used (empty when it can): a failed span, or outputs of the
// wrong size or not finite. Checked per span, so that one request's bad numbers fail that
// request alone and never reach the sampler, the solver or the client.
std::string RawProblem(const Span& span, const SpanResult& raw, const ExecutorInfo& info) {
  if (span.want_logits) {
    if (raw.logits.size() != static_cast<size_t>(info.vocab_size)) {
      return absl::StrCat("the executor returned ", raw.logits.size(), " logits, expected ",
                          info.vocab_size);
    }
    if (!AllFinite(raw.logits)) return "the model's logits are not finite (NaN or infinity)";
  }
  if (span.kind == SpanKind::kDenoise) {
    const size_t elements = static_cast<size_t>(info.num_patches) * info.patch_dim;
    if (raw.eps.size() != 1 || raw.eps[0].size() != elements) {
      return "the executor returned no noise prediction of the image's size";
    }
    if (!AllFinite(raw.eps[0])) {
      return "the model's noise prediction is not finite (NaN or infinity)";
    }
  }
  return std::string();
}

}  // namespace

StepResult OutputProcessor::Execute(const StepPlan& plan) {
  try {
    StepResult result = executor_->Execute(plan);
    if (result.spans.size() == plan.spans.size()) return result;
    LOG(WARNING) << "the executor returned " << result.spans.size() << " results for "
                 << plan.spans.size() << " spans; running them one by one";
  } catch (const std::exception& e) {
    // Executors promise not to throw; one that does must not take every request down with it.
    LOG(WARNING) << "the executor failed a step of " << plan.spans.size() << " spans ("
                 << e.what() << "); running them one by one";
  }
  // Each span alone, so that the failure stays with its request. The first run repeats the
  // block copies (a copy's source is shared, never written); K/V writes are idempotent.
  StepResult result;
  result.spans.resize(plan.spans.size());
  for (size_t i = 0; i < plan.spans.size(); ++i) {
    StepPlan one;
    if (i == 0) one.block_copies = plan.block_copies;
    one.spans.push_back(plan.spans[i]);
    try {
      StepResult alone = executor_->Execute(one);
      if (alone.spans.size() == 1) {
        result.spans[i] = std::move(alone.spans[0]);
      } else {
        result.spans[i].status = absl::InternalError("the executor returned no result");
      }
    } catch (const std::exception& e) {
      result.spans[i].status = absl::InternalError(absl::StrCat("forward failed: ", e.what()));
    }
  }
  return result;
}

StepOutput OutputProcessor::Run(StepPlan plan) {
  StepOutput out;
  out.spans.resize(plan.spans.size());
  PrepareImages(&plan, &out);
  // A span the preparation failed must not reach the executor with no latents.
  StepPlan runnable;
  std::vector<size_t> index;  // runnable span -> plan span
  bool all_ready = true;
  for (const SpanOutput& o : out.spans) all_ready = all_ready && o.status.ok();
  StepResult result;
  const absl::Time forward_start = absl::Now();
  if (all_ready) {
    result = Execute(plan);
  } else {
    runnable.block_copies = plan.block_copies;
    for (size_t i = 0; i < plan.spans.size(); ++i) {
      if (!out.spans[i].status.ok()) continue;
      runnable.spans.push_back(std::move(plan.spans[i]));
      index.push_back(i);
    }
    StepResult partial = Execute(runnable);
    result.spans.resize(plan.spans.size());
    for (size_t k = 0; k < index.size(); ++k) result.spans[index[k]] = std::move(partial.spans[k]);
    for (size_t k = 0; k < index.size(); ++k) plan.spans[index[k]] = std::move(runnable.spans[k]);
  }
  out.forward_seconds = absl::ToDoubleSeconds(absl::Now() - forward_start);
  // Every raw result checked before any is used: a guidance row's problem fails its image.
  for (size_t i = 0; i < plan.spans.size(); ++i) {
    SpanOutput& o = out.spans[i];
    if (!o.status.ok() || !result.spans[i].status.ok()) continue;
    const std::string problem = RawProblem(plan.spans[i], result.spans[i], info());
    if (!problem.empty()) result.spans[i].status = absl::InternalError(problem);
  }
  for (size_t i = 0; i < plan.spans.size(); ++i) {
    const Span& span = plan.spans[i];
    SpanOutput& o = out.spans[i];
    if (!o.status.ok()) continue;
    SpanResult& raw = result.spans[i];
    o.status = raw.status;
    if (!o.status.ok()) continue;
    auto it = requests_.find(span.seq_id);
    if (it == requests_.end()) {
      o.status = absl::InternalError(absl::StrCat("span of unknown request ", span.seq_id));
      continue;
    }
    RequestOutputs& r = it->second;
    if (span.want_logits) SampleToken(r, raw.logits, &o);
    if (span.kind != SpanKind::kDenoise || span.guidance_row) continue;
    const float* uncond = nullptr;
    if (i + 1 < plan.spans.size() && plan.spans[i + 1].guidance_row &&
        plan.spans[i + 1].seq_id == span.seq_id) {
      const SpanResult& u = result.spans[i + 1];
      if (!u.status.ok() || !out.spans[i + 1].status.ok()) {
        o.status = u.status.ok() ? out.spans[i + 1].status : u.status;
        continue;
      }
      uncond = u.eps[0].data();
    }
    AdvanceImage(r, raw.eps[0].data(), uncond, &o);
  }
  return out;
}

}  // namespace infusion::engine
