#include "engine/attention/paged_attention.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

namespace infusion {
namespace {

inline float Dot(const float* a, const float* b, int n) {
  float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
  for (int i = 0; i < n; ++i) sum += a[i] * b[i];
  return sum;
}

inline void Axpy(float alpha, const float* x, float* y, int n) {
#pragma omp simd
  for (int i = 0; i < n; ++i) y[i] += alpha * x[i];
}

struct WorkItem {
  int span;
  int query;  // index within the span
};

}  // namespace

void PagedAttention(const PagedAttentionArgs& a, const std::vector<AttentionSpan>& spans) {
  std::vector<WorkItem> items;
  int max_keys = 0;
  for (int s = 0; s < static_cast<int>(spans.size()); ++s) {
    for (int i = 0; i < spans[s].num_queries; ++i) items.push_back({s, i});
    max_keys = std::max(max_keys, spans[s].context_len + spans[s].num_queries);
  }
  const int heads = a.num_heads, kv_heads = a.num_kv_heads, dim = a.head_dim;
  const int group = heads / kv_heads;
  const int64_t num_work = static_cast<int64_t>(items.size()) * heads;

#pragma omp parallel
  {
    std::vector<float> scores(max_keys);
    std::vector<const float*> values(max_keys);
#pragma omp for schedule(dynamic, 4)
    for (int64_t w = 0; w < num_work; ++w) {
      const WorkItem item = items[w / heads];
      const int h = static_cast<int>(w % heads), kvh = h / group;
      const AttentionSpan& span = spans[item.span];
      const int row = span.query_offset + item.query;
      const float* q = a.q + (static_cast<int64_t>(row) * heads + h) * dim;
      int n = 0;
      float max_score = -std::numeric_limits<float>::infinity();
      // Cached prefix, block by block.
      for (int p = 0; p < span.context_len; ++p) {
        const int64_t slot =
            static_cast<int64_t>(span.block_table[p / a.block_size]) * a.block_size +
            p % a.block_size;
        const int64_t base = (slot * kv_heads + kvh) * dim;
        scores[n] = Dot(q, a.k_cache + base, dim) * a.scale;
        values[n] = a.v_cache + base;
        max_score = std::max(max_score, scores[n]);
        ++n;
      }
      // The span itself: causal, bidirectional inside an image.
      const int32_t my_image = span.image_ids[item.query];
      for (int j = 0; j < span.num_queries; ++j) {
        if (j > item.query && (my_image < 0 || span.image_ids[j] != my_image)) continue;
        const int64_t base = ((static_cast<int64_t>(span.query_offset) + j) * kv_heads + kvh) * dim;
        scores[n] = Dot(q, a.k + base, dim) * a.scale;
        values[n] = a.v + base;
        max_score = std::max(max_score, scores[n]);
        ++n;
      }
      float total = 0.0f;
      for (int j = 0; j < n; ++j) {
        scores[j] = std::exp(scores[j] - max_score);
        total += scores[j];
      }
      float* out = a.out + (static_cast<int64_t>(row) * heads + h) * dim;
      std::memset(out, 0, sizeof(float) * dim);
      const float inv_total = 1.0f / total;
      for (int j = 0; j < n; ++j) Axpy(scores[j] * inv_total, values[j], out, dim);
    }
  }
}

void WriteKvCache(const float* k, const float* v, const std::vector<int32_t>& rows,
                  const std::vector<int64_t>& slots, int num_kv_heads, int head_dim,
                  float* k_cache, float* v_cache) {
  const int64_t width = static_cast<int64_t>(num_kv_heads) * head_dim;
  for (size_t i = 0; i < rows.size(); ++i) {
    std::memcpy(k_cache + slots[i] * width, k + rows[i] * width, sizeof(float) * width);
    std::memcpy(v_cache + slots[i] * width, v + rows[i] * width, sizeof(float) * width);
  }
}

void CopyKvBlock(int32_t src, int32_t dst, int64_t block_elements, float* k_cache,
                 float* v_cache) {
  std::memcpy(k_cache + dst * block_elements, k_cache + src * block_elements,
              sizeof(float) * block_elements);
  std::memcpy(v_cache + dst * block_elements, v_cache + src * block_elements,
              sizeof(float) * block_elements);
}

}  // namespace infusion
