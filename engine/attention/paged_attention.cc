#include "engine/attention/paged_attention.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

namespace infusion {
namespace {

// Multiply-adds (query-key pairs x heads x head_dim) below which a step runs on one thread.
constexpr int64_t kParallelMinWork = int64_t{1} << 20;

struct WorkItem {
  int span;
  int query;  // index within the span
};

// Per-thread scratch: the K/V rows one query sees (pointers into the cache or this step's K/V,
// each row holding every KV head) and the scores of every query head.
struct Scratch {
  std::vector<const float*> keys, values;
  std::vector<float> scores;  // [num_heads, max_keys]
};

// Attention of one query row over all its heads. The K and V rows it reads are whole
// [num_kv_heads, head_dim] rows, consecutive inside a cache block, so memory is read in long
// sequential runs; this, not arithmetic, bounds decode attention. Cloned for AVX-512 and AVX2
// (picked at load time from the CPU's features), so the head_dim loops run at full vector width
// where the machine has it while the binary still runs on any x86-64.
__attribute__((target_clones("avx512f", "avx2", "default"))) void AttendQuery(
    const PagedAttentionArgs& a, const AttentionSpan& span, int query, Scratch* scratch) {
  const int heads = a.num_heads, kv_heads = a.num_kv_heads, dim = a.head_dim;
  const int group = heads / kv_heads, block_size = a.block_size;
  const int row = span.query_offset + query;
  const int64_t row_width = static_cast<int64_t>(kv_heads) * dim;

  // The rows this query sees: the cached prefix block by block, then the span itself (causal,
  // bidirectional inside an image).
  const float** keys = scratch->keys.data();
  const float** values = scratch->values.data();
  int n = 0;
  for (int start = 0; start < span.context_len; start += block_size) {
    const int64_t base =
        static_cast<int64_t>(span.block_table[start / block_size]) * block_size * row_width;
    const int count = std::min(block_size, span.context_len - start);
    for (int o = 0; o < count; ++o, ++n) {
      keys[n] = a.k_cache + base + o * row_width;
      values[n] = a.v_cache + base + o * row_width;
    }
  }
  const int32_t my_image = span.image_ids[query];
  for (int j = 0; j < span.num_queries; ++j) {
    if (j > query && (my_image < 0 || span.image_ids[j] != my_image)) continue;
    keys[n] = a.k + (span.query_offset + j) * row_width;
    values[n] = a.v + (span.query_offset + j) * row_width;
    ++n;
  }

  const float* q = a.q + static_cast<int64_t>(row) * heads * dim;
  const int stride = static_cast<int>(scratch->scores.size()) / heads;
  float* scores = scratch->scores.data();
  for (int j = 0; j < n; ++j) {
    const float* key_row = keys[j];
    for (int h = 0; h < heads; ++h) {
      const float* qh = q + h * dim;
      const float* key = key_row + (h / group) * dim;
      float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
      for (int d = 0; d < dim; ++d) sum += qh[d] * key[d];
      scores[h * stride + j] = sum * a.scale;
    }
  }
  float* out = a.out + static_cast<int64_t>(row) * heads * dim;
  for (int h = 0; h < heads; ++h) {
    float* s = scores + h * stride;
    float max_score = -std::numeric_limits<float>::infinity();
    for (int j = 0; j < n; ++j) max_score = std::max(max_score, s[j]);
    float total = 0.0f;
    for (int j = 0; j < n; ++j) {
      s[j] = std::exp(s[j] - max_score);
      total += s[j];
    }
    const float inv_total = 1.0f / total;
    for (int j = 0; j < n; ++j) s[j] *= inv_total;
  }
  std::memset(out, 0, sizeof(float) * heads * dim);
  for (int j = 0; j < n; ++j) {
    const float* value_row = values[j];
    for (int h = 0; h < heads; ++h) {
      const float p = scores[h * stride + j];
      const float* value = value_row + (h / group) * dim;
      float* oh = out + h * dim;
#pragma omp simd
      for (int d = 0; d < dim; ++d) oh[d] += p * value[d];
    }
  }
}

}  // namespace

void PagedAttention(const PagedAttentionArgs& a, const std::vector<AttentionSpan>& spans) {
  std::vector<WorkItem> items;
  int max_keys = 0;
  int64_t pairs = 0;  // query-key pairs
  for (int s = 0; s < static_cast<int>(spans.size()); ++s) {
    for (int i = 0; i < spans[s].num_queries; ++i) items.push_back({s, i});
    const int keys = spans[s].context_len + spans[s].num_queries;
    max_keys = std::max(max_keys, keys);
    pairs += static_cast<int64_t>(spans[s].num_queries) * keys;
  }
  const int64_t num_work = static_cast<int64_t>(items.size());
  // A small step is cheaper on one thread than waking the others.
  const bool parallel = pairs * a.num_heads * a.head_dim >= kParallelMinWork;

#pragma omp parallel if (parallel)
  {
    Scratch scratch;
    scratch.keys.resize(max_keys);
    scratch.values.resize(max_keys);
    scratch.scores.resize(static_cast<size_t>(a.num_heads) * max_keys);
#pragma omp for schedule(dynamic, 2)
    for (int64_t w = 0; w < num_work; ++w) {
      AttendQuery(a, spans[items[w].span], items[w].query, &scratch);
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
