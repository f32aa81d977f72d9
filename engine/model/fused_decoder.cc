#include "engine/model/fused_decoder.h"

#include <immintrin.h>
#include <omp.h>
#include <sched.h>

#include <algorithm>
#include <cmath>

#include "engine/kernels/elementwise.h"
#include "engine/kernels/phase_timer.h"
#include "common/logging.h"
#include "engine/kernels/spin_barrier.h"

namespace infusion::engine {

FusedDecoderStack::FusedDecoderStack(const ModelConfig& c, std::vector<FusedLayerWeights> layers)
    : hidden_(c.hidden_size),
      heads_(c.num_attention_heads),
      kv_heads_(c.num_key_value_heads),
      head_dim_(c.head_dim()),
      intermediate_(c.intermediate_size),
      eps_(static_cast<float>(c.rms_norm_eps)),
      layers_(std::move(layers)),
      next_item_(new std::atomic<int64_t>[layers_.size()]) {
  const auto even = [](int64_t n) { return (n + 1) / 2 * 2; };
  hidden_bf16_ = even(hidden_);
  q_width_bf16_ = even(heads_ * head_dim_);
  intermediate_bf16_ = even(intermediate_);
  // The float32 operations of ComputeRotaryTables: theta^(-(2k / head_dim)).
  for (int64_t k = 0; k < head_dim_ / 2; ++k) {
    const float exponent = static_cast<float>(2 * k) / static_cast<float>(head_dim_);
    inv_freq_.push_back(1.0f / std::pow(static_cast<float>(c.rope_theta), exponent));
  }
}

FusedDecoderStack::~FusedDecoderStack() = default;

bool FusedDecoderStack::has_bf16() const {
  return !layers_.empty() && std::all_of(layers_.begin(), layers_.end(), [](const auto& w) {
    return w.qkv.has_bf16() && w.o.has_bf16() && w.gate_up.has_bf16() && w.down.has_bf16();
  });
}

void FusedDecoderStack::Reserve(int64_t rows, int threads) {
  if (static_cast<int>(scratch_.size()) < threads) scratch_.resize(threads);
  if (rows <= capacity_rows_) return;
  capacity_rows_ = rows;
  normed_.resize(rows * hidden_);
  qkv_.resize(rows * (heads_ + 2 * kv_heads_) * head_dim_);
  attn_.resize(rows * heads_ * head_dim_);
  mlp_.resize(rows * intermediate_);
  cos_.resize(rows * head_dim_);
  sin_.resize(rows * head_dim_);
}

void FusedDecoderStack::Product(const float* x, const uint16_t* x_bf16, int64_t ldx,
                                int64_t ldx_bf16, const PackedWeight& w, int64_t begin,
                                int64_t end, float* y, int64_t ldy,
                                ProductEpilogue epilogue) const {
  for (const RowRun& run : runs_) {
    const int64_t n = run.end - run.begin;
    if (run.bf16) {
      PackedProductBf16(x_bf16 + run.begin * ldx_bf16, n, ldx_bf16, w, begin, end,
                        y + run.begin * ldy, ldy, epilogue);
    } else {
      PackedProduct(x + run.begin * ldx, n, ldx, w, begin, end, y + run.begin * ldy, ldy,
                    epilogue);
    }
  }
}

void FusedDecoderStack::ConvertOwnRows(const float* x, int64_t ldx, int64_t row_begin,
                                       int64_t row_end, uint16_t* x_bf16,
                                       int64_t ldx_bf16) const {
  for (const RowRun& run : runs_) {
    if (!run.bf16) continue;
    const int64_t begin = std::max(run.begin, row_begin), end = std::min(run.end, row_end);
    if (begin < end) {
      ConvertRowsToBf16(x + begin * ldx, end - begin, ldx, ldx, x_bf16 + begin * ldx_bf16,
                        ldx_bf16);
    }
  }
}

void FusedDecoderStack::Forward(float* x, int64_t rows, const int64_t* positions,
                                const FusedAttentionStep& step, const uint8_t* bf16_rows) {
  const int threads = omp_in_parallel() ? 1 : std::max(1, omp_get_max_threads());
  Reserve(rows, threads);
  runs_.clear();
  any_bf16_ = false;
  for (int64_t r = 0; r < rows; ++r) {
    const bool bf16 = bf16_rows != nullptr && bf16_rows[r] != 0;
    if (runs_.empty() || runs_.back().bf16 != bf16) runs_.push_back({r, r, bf16});
    runs_.back().end = r + 1;
    any_bf16_ = any_bf16_ || bf16;
  }
  if (any_bf16_) {
    CHECK(has_bf16()) << "fused decoder: bfloat16 rows without bfloat16 weights";
    if (static_cast<int64_t>(normed_bf16_.size()) < rows * hidden_bf16_) {
      normed_bf16_.resize(capacity_rows_ * hidden_bf16_);
      attn_bf16_.resize(capacity_rows_ * q_width_bf16_);
      mlp_bf16_.resize(capacity_rows_ * intermediate_bf16_);
    }
  }
  PagedAttentionArgs shape;
  shape.num_heads = static_cast<int>(heads_);
  shape.num_kv_heads = static_cast<int>(kv_heads_);
  shape.head_dim = static_cast<int>(head_dim_);
  work_.Plan(shape, *step.spans);
  for (size_t l = 0; l < layers_.size(); ++l) next_item_[l].store(0, std::memory_order_relaxed);
  SpinBarrier barrier(threads);
  if (threads == 1) {
    RunThread(0, 1, x, rows, positions, step, barrier);
    return;
  }
#pragma omp parallel num_threads(threads)
  {
    if (omp_get_num_threads() == threads) {
      RunThread(omp_get_thread_num(), threads, x, rows, positions, step, barrier);
    } else if (omp_get_thread_num() == 0) {  // a smaller team than asked: one thread does it all
      SpinBarrier alone(1);
      RunThread(0, 1, x, rows, positions, step, alone);
    }
  }
}

void FusedDecoderStack::RunThread(int thread, int threads, float* x, int64_t rows,
                                  const int64_t* positions, const FusedAttentionStep& step,
                                  SpinBarrier& barrier) {
  // [begin, end) of n items for this thread.
  const auto share = [&](int64_t n) {
    return std::make_pair(n * thread / threads, n * (thread + 1) / threads);
  };
  const int64_t q_width = heads_ * head_dim_, kv_width = kv_heads_ * head_dim_;
  const int64_t qkv_width = q_width + 2 * kv_width, half = head_dim_ / 2;
  const auto [row_begin, row_end] = share(rows);

  // This thread's rows of the rotary tables (only this thread reads them).
  for (int64_t r = row_begin; r < row_end; ++r) {
    const float position = static_cast<float>(positions[r]);
    float* cos = cos_.data() + r * head_dim_;
    float* sin = sin_.data() + r * head_dim_;
    for (int64_t i = 0; i < half; ++i) {
      const float angle = position * inv_freq_[i];
      cos[i] = cos[i + half] = std::cos(angle);
      sin[i] = sin[i + half] = std::sin(angle);
    }
  }

  // Thread 0 books the phases when timing is on.
  PhaseTimer phases(barrier, timing_ && thread == 0 ? &times_ : nullptr);
  const auto end_phase = [&phases](bool product) { phases.EndPhase(product); };

  const std::vector<int32_t>& write_rows = *step.write_rows;
  const std::vector<int64_t>& write_slots = *step.write_slots;
  PagedAttentionScratch& scratch = scratch_[thread];
  float* normed = normed_.data();
  float* qkv = qkv_.data();
  float* attn = attn_.data();
  float* mlp = mlp_.data();
  uint16_t* normed_bf16 = normed_bf16_.data();
  uint16_t* attn_bf16 = attn_bf16_.data();
  uint16_t* mlp_bf16 = mlp_bf16_.data();
  for (size_t l = 0; l < layers_.size(); ++l) {
    const FusedLayerWeights& w = layers_[l];
    float* k_cache = step.k_cache + l * step.k_layer_stride;
    float* v_cache = step.v_cache + l * step.v_layer_stride;

    for (int64_t r = row_begin; r < row_end; ++r) {
      RmsNormRow(x + r * hidden_, w.input_norm.data(), eps_, hidden_, normed + r * hidden_);
    }
    if (any_bf16_) ConvertOwnRows(normed, hidden_, row_begin, row_end, normed_bf16, hidden_bf16_);
    end_phase(/*product=*/false);
    {
      const auto [begin, end] = share(w.qkv.panels());
      Product(normed, normed_bf16, hidden_, hidden_bf16_, w.qkv, begin, end, qkv, qkv_width,
              ProductEpilogue::kStore);
    }
    end_phase(/*product=*/true);
    // Rotate q and k of this thread's rows, then write their K/V to the cache: every write of
    // the step lands before any span reads (a span may read blocks another one fills).
    for (int64_t r = row_begin; r < row_end; ++r) {
      float* row = qkv + r * qkv_width;
      const float* cos = cos_.data() + r * head_dim_;
      const float* sin = sin_.data() + r * head_dim_;
      RotaryRow(row, static_cast<int>(heads_), head_dim_, cos, sin);
      RotaryRow(row + q_width, static_cast<int>(kv_heads_), head_dim_, cos, sin);
    }
    for (size_t i = 0; i < write_rows.size(); ++i) {
      const int64_t r = write_rows[i];
      if (r < row_begin || r >= row_end) continue;
      const float* row = qkv + r * qkv_width;
      WriteKvCacheRow(row + q_width, row + q_width + kv_width, write_slots[i],
                      static_cast<int>(kv_heads_), static_cast<int>(head_dim_), step.block_size,
                      k_cache, v_cache);
    }
    end_phase(/*product=*/false);
    {
      PagedAttentionArgs a;
      a.q = qkv;
      a.k = qkv + q_width;
      a.v = qkv + q_width + kv_width;
      a.q_row_stride = qkv_width;
      a.kv_row_stride = qkv_width;
      a.k_cache = k_cache;
      a.v_cache = v_cache;
      a.out = attn;
      a.num_heads = static_cast<int>(heads_);
      a.num_kv_heads = static_cast<int>(kv_heads_);
      a.head_dim = static_cast<int>(head_dim_);
      a.block_size = step.block_size;
      a.scale = 1.0f / std::sqrt(static_cast<float>(head_dim_));
      work_.Prepare(a, &scratch);
      for (int64_t item = next_item_[l].fetch_add(1, std::memory_order_relaxed);
           item < work_.num_items(); item = next_item_[l].fetch_add(1, std::memory_order_relaxed)) {
        work_.RunItem(a, *step.spans, item, &scratch);
      }
    }
    end_phase(/*product=*/false);
    if (any_bf16_) {  // attention wrote rows in any thread's share: convert after its barrier
      ConvertOwnRows(attn, q_width, row_begin, row_end, attn_bf16, q_width_bf16_);
      end_phase(/*product=*/false);
    }
    {
      const auto [begin, end] = share(w.o.panels());
      Product(attn, attn_bf16, q_width, q_width_bf16_, w.o, begin, end, x, hidden_,
              ProductEpilogue::kAccumulate);
    }
    end_phase(/*product=*/true);
    for (int64_t r = row_begin; r < row_end; ++r) {
      RmsNormRow(x + r * hidden_, w.post_norm.data(), eps_, hidden_, normed + r * hidden_);
    }
    if (any_bf16_) ConvertOwnRows(normed, hidden_, row_begin, row_end, normed_bf16, hidden_bf16_);
    end_phase(/*product=*/false);
    {
      const auto [begin, end] = share(w.gate_up.panels());
      Product(normed, normed_bf16, hidden_, hidden_bf16_, w.gate_up, begin, end, mlp,
              intermediate_, ProductEpilogue::kSwiGlu);
    }
    end_phase(/*product=*/true);
    if (any_bf16_) {  // the SwiGLU wrote every row's columns of this thread's panels
      ConvertOwnRows(mlp, intermediate_, row_begin, row_end, mlp_bf16, intermediate_bf16_);
      end_phase(/*product=*/false);
    }
    {
      const auto [begin, end] = share(w.down.panels());
      Product(mlp, mlp_bf16, intermediate_, intermediate_bf16_, w.down, begin, end, x, hidden_,
              ProductEpilogue::kAccumulate);
    }
    end_phase(/*product=*/true);
  }
}

}  // namespace infusion::engine
