#include "engine/executor/model_executor.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <c10/core/InferenceMode.h>

#include <cmath>
#include <cstring>
#include <map>
#include <thread>

#include "absl/strings/str_cat.h"
#include "common/logging.h"
#include "common/status_macros.h"
#include "engine/executor/model_executor_impl.h"
#include "engine/executor/paged_attention_backend.h"
#include "engine/kernels/cpu_features.h"
#include "engine/kv_cache/kv_cache_manager.h"
#include "engine/model/compute_threads.h"

namespace infusion::engine {

absl::Status ModelExecutorOptions::Validate() const {
  if (model_dir.empty()) return absl::InvalidArgumentError("executor: model_dir is empty");
  if (device != "cpu") {
    return absl::InvalidArgumentError(
        absl::StrCat("executor: device \"", device, "\" is not supported by this build (cpu)"));
  }
  if (block_size <= 0) return absl::InvalidArgumentError("executor: block_size must be positive");
  if (num_threads < 0) return absl::InvalidArgumentError("executor: num_threads must be >= 0");
  if (bf16_min_rows < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("executor: bf16_min_rows must be >= 0, got ", bf16_min_rows));
  }
  if (fused_max_rows < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("executor: fused_max_rows must be >= 0, got ", fused_max_rows));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<ModelExecutor>> ModelExecutor::Create(
    const ModelExecutorOptions& options) {
  RETURN_IF_ERROR(options.Validate());
  SetComputeThreads(options.num_threads);
  ASSIGN_OR_RETURN(TransfusionModel model, LoadTransfusionModel(options.model_dir));
  const ModelConfig& c = model->config();
  ASSIGN_OR_RETURN(int num_blocks,
                   KvCacheManager::NumBlocksForBudget(options.kv_cache_bytes, c.num_hidden_layers,
                                                      c.num_key_value_heads, c.head_dim(),
                                                      options.block_size, sizeof(float)));
  if (num_blocks * options.block_size < c.max_position_embeddings) {
    return absl::InvalidArgumentError(
        absl::StrCat("executor: kv_cache_bytes holds ", num_blocks * options.block_size,
                     " positions, fewer than one sequence of max_position_embeddings = ",
                     c.max_position_embeddings));
  }
  const CpuFeatures& cpu = DetectCpuFeatures();
  LOG(INFO) << "executor: CPU features: " << cpu.ToString() << "; the fused CPU kernels run "
            << (cpu.avx2_fma ? "AVX2/FMA code" : "portable C++ (no AVX2/FMA)");
  if (options.bf16_min_rows > 0 && !cpu.native_bf16()) {
    // Measured here (AMD EPYC, AVX2 only): an 8-image step took 1,974 ms instead of 40.5 ms.
    LOG(WARNING) << "bf16_min_rows=" << options.bf16_min_rows
                 << ": this CPU has neither AVX512-BF16 nor AMX-BF16, so bfloat16 products are "
                    "emulated and far slower than float32 (tens of times); use 0 here";
  }
  ProductOptions products;
  products.bf16_min_rows = options.bf16_min_rows;
  products.fused_decoder = options.fused_decoder;
  products.fused_max_rows = options.fused_max_rows;
  products.fused_unet = options.fused_unet;
  products.bf16_images = options.bf16_images;
  if (options.bf16_images && options.fused_decoder && cpu.avx512_bf16) {
    LOG(INFO) << "executor: the decoder products of images being denoised run in bfloat16 "
                 "(AVX512-BF16; --bf16_images=false for float32)";
  }
  return std::unique_ptr<ModelExecutor>(new ModelExecutor(
      std::make_unique<Impl>(std::move(model), num_blocks, options.block_size, products)));
}

ModelExecutor::ModelExecutor(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ModelExecutor::~ModelExecutor() = default;
StepResult ModelExecutor::Execute(const StepPlan& plan) { return impl_->Execute(plan); }
const ExecutorInfo& ModelExecutor::info() const { return impl_->info(); }

ModelExecutor::Impl::Impl(TransfusionModel model, int num_blocks, int block_size,
                          const ProductOptions& products)
    : model_(std::move(model)) {
  const ModelConfig& c = model_->config();
  model_->eval();
  model_->FuseProjections(products);
  info_.vocab_size = c.vocab_size;
  info_.num_patches = c.image.num_patches();
  info_.patch_dim = c.image.patch_dim();
  info_.num_kv_blocks = num_blocks;
  info_.block_size = block_size;
  info_.max_positions = c.max_position_embeddings;
  // Keys transposed within each block (engine/attention/paged_attention.h), values as rows.
  k_cache_ =
      at::zeros({c.num_hidden_layers, num_blocks, c.num_key_value_heads, c.head_dim(), block_size},
                at::kFloat);
  v_cache_ =
      at::zeros({c.num_hidden_layers, num_blocks, block_size, c.num_key_value_heads, c.head_dim()},
                at::kFloat);
}

absl::Status ModelExecutor::Impl::ValidateSpan(const Span& span) const {
  const int len = span.num_positions();
  if (len == 0) return absl::InvalidArgumentError("span has no positions");
  for (int32_t id : span.tokens) {
    if (id < 0 || id >= info_.vocab_size) {
      return absl::InvalidArgumentError(absl::StrCat("token id ", id, " out of range"));
    }
  }
  if (span.start_position < 0 || span.start_position + len > info_.max_positions) {
    return absl::InvalidArgumentError(absl::StrCat("positions [", span.start_position, ", ",
                                                   span.start_position + len,
                                                   ") exceed the model's ", info_.max_positions));
  }
  const int64_t needed_blocks =
      (span.start_position + (span.slots.empty() ? 0 : len) + info_.block_size - 1) /
      info_.block_size;
  if (static_cast<int64_t>(span.block_table.size()) < needed_blocks) {
    return absl::InvalidArgumentError("block table shorter than the span's context");
  }
  for (int32_t b : span.block_table) {
    if (b < 0 || b >= info_.num_kv_blocks) {
      return absl::InvalidArgumentError(absl::StrCat("block ", b, " out of range"));
    }
  }
  if (!span.slots.empty()) {
    if (static_cast<int>(span.slots.size()) != len) {
      return absl::InvalidArgumentError("slots must be empty or one per position");
    }
    const int64_t num_slots = static_cast<int64_t>(info_.num_kv_blocks) * info_.block_size;
    for (int64_t s : span.slots) {
      if (s < 0 || s >= num_slots) return absl::InvalidArgumentError("slot out of range");
    }
  }
  int next_free = 0;
  for (const SpanImage& image : span.images) {
    if (image.patches == nullptr) return absl::InvalidArgumentError("image without patches");
    const int in_span = info_.num_patches - image.first_patch;
    if (image.first_patch < 0 || in_span <= 0 || image.offset < next_free ||
        image.offset + in_span > len) {
      return absl::InvalidArgumentError("image positions overlap or leave the span");
    }
    if (image.predict_noise && image.first_patch != 0) {
      return absl::InvalidArgumentError("noise is predicted only for whole images");
    }
    if (!(image.timestep >= 0 && image.timestep < 1000.0f)) {
      return absl::InvalidArgumentError("image timestep out of range");
    }
    next_free = image.offset + in_span;
  }
  return absl::OkStatus();
}

void ModelExecutor::Impl::Run(const StepPlan& plan, const std::vector<int>& span_indices,
                              StepResult* result) {
  const int64_t n = info_.num_patches, patch_dim = info_.patch_dim;
  std::vector<int64_t> tokens, positions, image_positions, noise_images;
  std::vector<at::Tensor> patches;  // distinct images: (latents, timestep) pairs
  std::vector<float> timesteps;
  std::vector<int64_t> image_sources;  // per placed image: its row of `patches`
  std::map<std::pair<const float*, float>, int64_t> distinct;
  std::vector<std::vector<int32_t>> image_ids(span_indices.size());
  std::vector<AttentionSpan> attention_spans;
  std::vector<int32_t> write_rows;
  std::vector<int64_t> write_slots;
  std::vector<std::pair<int, int>> logits_rows;  // (span index, packed row)
  std::vector<int> noise_owner;                  // span index of each predicted image

  for (size_t k = 0; k < span_indices.size(); ++k) {
    const int s = span_indices[k];
    const Span& span = plan.spans[s];
    const int offset = static_cast<int>(tokens.size()), len = span.num_positions();
    for (int i = 0; i < len; ++i) {
      tokens.push_back(span.tokens[i]);
      positions.push_back(span.start_position + i);
    }
    image_ids[k].assign(len, -1);
    for (size_t m = 0; m < span.images.size(); ++m) {
      const SpanImage& image = span.images[m];
      for (int64_t p = 0; p < n; ++p) {
        if (p < image.first_patch) {
          image_positions.push_back(-1);  // cached: embedded, not placed
          continue;
        }
        image_ids[k][image.offset + p - image.first_patch] = static_cast<int32_t>(m);
        image_positions.push_back(offset + image.offset + p - image.first_patch);
      }
      // The CFG rows of an image point at the same latents at the same timestep: encode once.
      const auto [it, is_new] = distinct.emplace(std::make_pair(image.patches, image.timestep),
                                                 static_cast<int64_t>(patches.size()));
      if (is_new) {
        patches.push_back(
            at::from_blob(const_cast<float*>(image.patches), {n, patch_dim}, at::kFloat));
        timesteps.push_back(image.timestep);
      }
      image_sources.push_back(it->second);
      if (image.predict_noise) {
        noise_images.push_back(static_cast<int64_t>(image_sources.size()) - 1);
        noise_owner.push_back(s);
      }
    }
    for (size_t i = 0; i < span.slots.size(); ++i) {
      write_rows.push_back(offset + static_cast<int32_t>(i));
      write_slots.push_back(span.slots[i]);
    }
    attention_spans.push_back(
        {offset, len, span.start_position, span.block_table.data(), image_ids[k].data()});
    if (span.want_logits) logits_rows.emplace_back(s, offset + len - 1);
  }

  c10::InferenceMode inference;
  ModelInput input;
  input.token_ids = at::tensor(tokens, at::kLong);
  input.positions = at::tensor(positions, at::kLong);
  if (!patches.empty()) {
    input.image_patches = at::stack(patches);
    input.image_timesteps = at::tensor(timesteps, at::kFloat);
    input.image_positions = at::tensor(image_positions, at::kLong)
                                .view({static_cast<int64_t>(image_sources.size()), n});
    input.noise_images = at::tensor(noise_images, at::kLong);
    if (patches.size() < image_sources.size()) {
      input.image_sources = at::tensor(image_sources, at::kLong);
    }
  }
  PagedAttentionBackend attention(k_cache_, v_cache_, std::move(attention_spans),
                                  std::move(write_rows), std::move(write_slots));
  const ModelOutput out = model_->Forward(input, attention);

  if (!logits_rows.empty()) {
    std::vector<int64_t> rows;
    for (const auto& [s, row] : logits_rows) rows.push_back(row);
    const at::Tensor logits =
        model_->Logits(out.hidden.index_select(0, at::tensor(rows, at::kLong))).contiguous();
    for (size_t i = 0; i < logits_rows.size(); ++i) {
      const float* row = logits.data_ptr<float>() + i * info_.vocab_size;
      result->spans[logits_rows[i].first].logits.assign(row, row + info_.vocab_size);
    }
  }
  if (out.eps.defined()) {
    const at::Tensor eps = out.eps.contiguous();
    for (size_t j = 0; j < noise_owner.size(); ++j) {
      const float* data = eps.data_ptr<float>() + j * n * patch_dim;
      result->spans[noise_owner[j]].eps.emplace_back(data, data + n * patch_dim);
    }
  }
}

StepResult ModelExecutor::Impl::Execute(const StepPlan& plan) {
  StepResult result;
  result.spans.resize(plan.spans.size());
  std::vector<int> valid;
  for (size_t s = 0; s < plan.spans.size(); ++s) {
    result.spans[s].status = ValidateSpan(plan.spans[s]);
    if (result.spans[s].status.ok()) valid.push_back(static_cast<int>(s));
  }
  const int64_t block_elements = k_cache_.stride(1);
  for (const auto& [src, dst] : plan.block_copies) {
    if (src < 0 || dst < 0 || src >= info_.num_kv_blocks || dst >= info_.num_kv_blocks) {
      for (SpanResult& r : result.spans) r.status = absl::InternalError("bad block copy");
      return result;
    }
    for (int64_t layer = 0; layer < k_cache_.size(0); ++layer) {
      CopyKvBlock(src, dst, block_elements, k_cache_[layer].data_ptr<float>(),
                  v_cache_[layer].data_ptr<float>());
    }
  }
  if (valid.empty()) return result;
  try {
    Run(plan, valid, &result);
    return result;
  } catch (const std::exception& e) {
    LOG(WARNING) << "batched forward of " << valid.size() << " spans failed (" << e.what()
                 << "); retrying span by span to isolate the failure";
  }
  // Isolate the failure: rerun every span alone. K/V writes are idempotent.
  for (int s : valid) {
    result.spans[s].logits.clear();
    result.spans[s].eps.clear();
    try {
      Run(plan, {s}, &result);
    } catch (const std::exception& e) {
      result.spans[s].status = absl::InternalError(absl::StrCat("forward failed: ", e.what()));
    }
  }
  return result;
}

}  // namespace infusion::engine
