#include "engine/attention/paged_attention.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "engine/kernels/vector_math.h"

namespace infusion::engine {
namespace {

// Multiply-adds (query-key pairs x heads x head_dim) below which a step runs on one thread. Decode
// attention reads every cached key and value of its sequences once, mostly from memory rather
// than cache, so it gains from a second thread early: on these 2 cores, 8 layers of decode over
// 80 cached positions took 131 vs 187 us for 4 sequences and 2.4 vs 4.2 ms for 32 with the
// threshold at 2^16 rather than 2^20; 2 sequences (41k) gain nothing either way.
constexpr int64_t kParallelMinWork = int64_t{1} << 16;

// Queries per work item of a multi-query span (prefill, denoise). They share one transposed copy
// of their keys, so larger chunks amortise the transpose better but balance worse.
constexpr int kChunkQueries = 16;
// Lanes the transposed keys are padded to, so that score loops run over whole vectors.
constexpr int kKeyLanes = 16;

using Scratch = PagedAttentionScratch;

// Collects the V rows of the first `n` keys of a span: the cached prefix block by block, then the
// span's own rows. Every query sees a prefix of this list (below).
void GatherValues(const PagedAttentionArgs& a, const AttentionSpan& span, int n, Scratch* scratch) {
  const int block_size = a.block_size;
  const int64_t row_width = static_cast<int64_t>(a.num_kv_heads) * a.head_dim;
  const float** values = scratch->values.data();
  int j = 0;
  for (int start = 0; start < span.context_len && j < n; start += block_size) {
    const int64_t base =
        static_cast<int64_t>(span.block_table[start / block_size]) * block_size * row_width;
    const int count = std::min(block_size, span.context_len - start);
    for (int o = 0; o < count && j < n; ++o, ++j) values[j] = a.v_cache + base + o * row_width;
  }
  for (int r = 0; j < n; ++r, ++j) values[j] = a.v + (span.query_offset + r) * a.kv_row_stride;
}

// The transposed keys of cache block `block` for KV head `kv_head`: [head_dim, block_size].
inline const float* CachedKeysT(const PagedAttentionArgs& a, int32_t block, int kv_head) {
  return a.k_cache +
         (static_cast<int64_t>(block) * a.num_kv_heads + kv_head) * a.head_dim * a.block_size;
}

// Keys query `query` of a span sees: the cached context and the span's positions up to itself,
// or up to the end of its image for an image position (bidirectional inside an image, whose
// positions are consecutive). Always a prefix of the span's key list.
int VisibleKeys(const AttentionSpan& span, int query) {
  int last = query;
  const int32_t image = span.image_ids[query];
  if (image >= 0) {
    while (last + 1 < span.num_queries && span.image_ids[last + 1] == image) ++last;
  }
  return span.context_len + last + 1;
}

// The scores of one query head against kKeyLanes consecutive key positions held transposed
// (position l of dimension d at keys_t[d * column_stride + l]): head_dim vector multiply-adds into
// one register-sized accumulator, no horizontal sums. Writes all kKeyLanes scores, scaled (the
// scores rows are padded to whole vectors; lanes past the visible keys are never read).
__attribute__((always_inline)) inline void ScoreLanes(const float* qh, const float* keys_t,
                                                      int64_t column_stride, int dim, float scale,
                                                      float* scores) {
  float acc[kKeyLanes] = {};
  for (int d = 0; d < dim; ++d) {
    const float qd = qh[d];
    const float* column = keys_t + d * column_stride;
#pragma omp simd
    for (int l = 0; l < kKeyLanes; ++l) acc[l] += qd * column[l];
  }
#pragma omp simd
  for (int l = 0; l < kKeyLanes; ++l) scores[l] = acc[l] * scale;
}

// softmax over s[0, n) in place.
inline void Softmax(float* s, int n) {
  float max_score = -std::numeric_limits<float>::infinity();
#pragma omp simd reduction(max : max_score)
  for (int j = 0; j < n; ++j) max_score = std::max(max_score, s[j]);
  float total = 0.0f;
#pragma omp simd reduction(+ : total)
  for (int j = 0; j < n; ++j) {
    s[j] = FastExp(s[j] - max_score);
    total += s[j];
  }
  const float inv_total = 1.0f / total;
#pragma omp simd
  for (int j = 0; j < n; ++j) s[j] *= inv_total;
}

// WeightedValues for a head count and head_dim known at compile time, small enough that every
// head's sums fit in registers (8 x 32 floats: 16 AVX-512 registers): the sums stay there across
// the keys instead of being added into `out` in memory key by key (each multiply-add waiting on
// the store of the one before), and each V row is still read once. The same multiply-adds in the
// same order: the same results as the general loop.
template <int kHeads, int kDim>
inline void WeightedValuesInRegisters(const PagedAttentionArgs& a, const float* const* values,
                                      const float* scores, int stride, int n, float* out) {
  const int group = kHeads / a.num_kv_heads;
  int64_t offset[kHeads];
  for (int h = 0; h < kHeads; ++h) offset[h] = static_cast<int64_t>(h / group) * kDim;
  float acc[kHeads][kDim] = {};
  for (int j = 0; j < n; ++j) {
    const float* value_row = values[j];
#pragma GCC unroll 8
    for (int h = 0; h < kHeads; ++h) {
      const float p = scores[h * stride + j];
      const float* value = value_row + offset[h];
#pragma omp simd
      for (int d = 0; d < kDim; ++d) acc[h][d] += p * value[d];
    }
  }
  std::memcpy(out, acc, sizeof(acc));
}

// out[h] = sum_j p[h][j] V[j], reading each V row once for every head.
inline void WeightedValues(const PagedAttentionArgs& a, const float* const* values,
                           const float* scores, int stride, int n, float* out) {
  if (a.num_heads == 8 && a.head_dim == 32) {  // the bundled models' shape
    return WeightedValuesInRegisters<8, 32>(a, values, scores, stride, n, out);
  }
  const int heads = a.num_heads, dim = a.head_dim, group = heads / a.num_kv_heads;
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

// Attention of a single-query span (a decode step) over all its heads. The cache stores keys
// transposed within each block ([kv_head, head_dim, block_size]), so a query head scores a whole
// block with head_dim vector multiply-adds across the block's positions (no horizontal sums);
// values are whole [num_kv_heads, head_dim] rows, read once for all heads. Cloned for AVX-512 and
// AVX2 (picked at load time from the CPU's features), so these loops run at full vector width
// where the machine has it while the binary still runs on any x86-64.
__attribute__((target_clones("avx512f", "avx2", "default"))) void AttendQuery(
    const PagedAttentionArgs& a, const AttentionSpan& span, int query, Scratch* scratch) {
  const int heads = a.num_heads, dim = a.head_dim, group = heads / a.num_kv_heads;
  const int block_size = a.block_size;
  const int n = VisibleKeys(span, query);
  GatherValues(a, span, n, scratch);
  const int row = span.query_offset + query;
  const float* q = a.q + row * a.q_row_stride;
  const int stride = scratch->stride;
  float* scores = scratch->scores.data();
  for (int start = 0; start < span.context_len; start += block_size) {
    const int32_t block = span.block_table[start / block_size];
    const int count = std::min(block_size, span.context_len - start);
    for (int h = 0; h < heads; ++h) {
      const float* qh = q + h * dim;
      const float* kt = CachedKeysT(a, block, h / group);
      float* s = scores + h * stride + start;
      if (block_size == kKeyLanes) {  // the default: a block is one vector of positions
        ScoreLanes(qh, kt, kKeyLanes, dim, a.scale, s);  // own keys overwrite lanes >= count
      } else {
        for (int o = 0; o < count; ++o) s[o] = 0.0f;
        for (int d = 0; d < dim; ++d) {
          const float qd = qh[d];
          const float* column = kt + d * block_size;
#pragma omp simd
          for (int o = 0; o < count; ++o) s[o] += qd * column[o];
        }
        for (int o = 0; o < count; ++o) s[o] *= a.scale;
      }
    }
  }
  for (int j = span.context_len; j < n; ++j) {  // the span's own keys, rows of this step's K
    const float* key_row = a.k + (span.query_offset + j - span.context_len) * a.kv_row_stride;
    for (int h = 0; h < heads; ++h) {
      const float* qh = q + h * dim;
      const float* key = key_row + (h / group) * dim;
      float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
      for (int d = 0; d < dim; ++d) sum += qh[d] * key[d];
      scores[h * stride + j] = sum * a.scale;
    }
  }
  for (int h = 0; h < heads; ++h) Softmax(scores + h * stride, n);
  WeightedValues(a, scratch->values.data(), scores, stride, n,
                 a.out + static_cast<int64_t>(row) * heads * dim);
}

// Attention of queries [begin, end) of a multi-query span (prefill, denoise). Their keys are
// transposed once per KV head into [head_dim, keys], so a query head's scores against all its
// keys come from head_dim vector multiply-adds over the keys, with no horizontal reductions: for
// the 16–32 queries of an image span that share every key this is several times cheaper than a
// dot product per key.
__attribute__((target_clones("avx512f", "avx2", "default"))) void AttendChunk(
    const PagedAttentionArgs& a, const AttentionSpan& span, int begin, int end, Scratch* scratch) {
  const int heads = a.num_heads, kv_heads = a.num_kv_heads, dim = a.head_dim;
  const int group = heads / kv_heads;
  int n_max = 0;
  for (int i = begin; i < end; ++i) n_max = std::max(n_max, VisibleKeys(span, i));
  GatherValues(a, span, n_max, scratch);
  const int stride = scratch->stride;
  const int padded = (n_max + kKeyLanes - 1) / kKeyLanes * kKeyLanes;
  float* keys_t = scratch->keys_t.data();
  // Cached keys are already transposed per block: copy their columns.
  const int cached = std::min(span.context_len, n_max);
  for (int start = 0; start < cached; start += a.block_size) {
    const int32_t block = span.block_table[start / a.block_size];
    const int count = std::min(a.block_size, cached - start);
    for (int kh = 0; kh < kv_heads; ++kh) {
      const float* kt = CachedKeysT(a, block, kh);
      float* column = keys_t + static_cast<int64_t>(kh) * dim * stride + start;
      for (int d = 0; d < dim; ++d) {
        std::memcpy(column + d * stride, kt + d * a.block_size, sizeof(float) * count);
      }
    }
  }
  // The span's own keys are rows of this step's K: transpose them, and zero the padding.
  for (int j = cached; j < padded; ++j) {
    const float* key_row =
        j < n_max ? a.k + (span.query_offset + j - span.context_len) * a.kv_row_stride : nullptr;
    for (int kh = 0; kh < kv_heads; ++kh) {
      float* column = keys_t + static_cast<int64_t>(kh) * dim * stride + j;
      for (int d = 0; d < dim; ++d) column[d * stride] = key_row ? key_row[kh * dim + d] : 0.0f;
    }
  }

  float* scores = scratch->scores.data();
  for (int i = begin; i < end; ++i) {
    const int n = VisibleKeys(span, i);
    const int row = span.query_offset + i;
    const float* q = a.q + row * a.q_row_stride;
    for (int h = 0; h < heads; ++h) {
      const float* qh = q + h * dim;
      const float* kt = keys_t + static_cast<int64_t>(h / group) * dim * stride;
      float* s = scores + h * stride;
      for (int j0 = 0; j0 < n; j0 += kKeyLanes) {  // keys_t is padded to whole vectors
        ScoreLanes(qh, kt + j0, stride, dim, a.scale, s + j0);
      }
      Softmax(s, n);
    }
    WeightedValues(a, scratch->values.data(), scores, stride, n,
                   a.out + static_cast<int64_t>(row) * heads * dim);
  }
}

}  // namespace

void PagedAttentionWork::Plan(const PagedAttentionArgs& args,
                              const std::vector<AttentionSpan>& spans) {
  items_.clear();
  has_chunks_ = false;
  int max_keys = 0;
  int64_t pairs = 0;  // query-key pairs
  for (int s = 0; s < static_cast<int>(spans.size()); ++s) {
    const int queries = spans[s].num_queries;
    if (queries == 1) {
      items_.push_back({s, 0, 1});
    } else {
      has_chunks_ = true;
      for (int b = 0; b < queries; b += kChunkQueries) {
        items_.push_back({s, b, std::min(queries, b + kChunkQueries)});
      }
    }
    const int keys = spans[s].context_len + queries;
    max_keys = std::max(max_keys, keys);
    pairs += static_cast<int64_t>(queries) * keys;
  }
  stride_ = (max_keys + kKeyLanes - 1) / kKeyLanes * kKeyLanes;
  work_ = pairs * args.num_heads * args.head_dim;
}

void PagedAttentionWork::Prepare(const PagedAttentionArgs& a, Scratch* scratch) const {
  scratch->stride = stride_;
  if (scratch->values.size() < static_cast<size_t>(stride_)) scratch->values.resize(stride_);
  const size_t scores = static_cast<size_t>(a.num_heads) * stride_;
  if (scratch->scores.size() < scores) scratch->scores.resize(scores);
  const size_t keys = static_cast<size_t>(a.num_kv_heads) * a.head_dim * stride_;
  if (has_chunks_ && scratch->keys_t.size() < keys) scratch->keys_t.resize(keys);
}

void PagedAttentionWork::RunItem(const PagedAttentionArgs& a,
                                 const std::vector<AttentionSpan>& spans, int64_t item,
                                 Scratch* scratch) const {
  const Item& it = items_[item];
  if (spans[it.span].num_queries == 1) {
    AttendQuery(a, spans[it.span], 0, scratch);
  } else {
    AttendChunk(a, spans[it.span], it.query_begin, it.query_end, scratch);
  }
}

void PagedAttention(const PagedAttentionArgs& args, const std::vector<AttentionSpan>& spans) {
  PagedAttentionArgs a = args;
  if (a.q_row_stride == 0) a.q_row_stride = static_cast<int64_t>(a.num_heads) * a.head_dim;
  if (a.kv_row_stride == 0) a.kv_row_stride = static_cast<int64_t>(a.num_kv_heads) * a.head_dim;
  PagedAttentionWork work;
  work.Plan(a, spans);
  const int64_t num_work = work.num_items();
  // A small step is cheaper on one thread than waking the others.
  const bool parallel = work.work() >= kParallelMinWork;

#pragma omp parallel if (parallel)
  {
    Scratch scratch;
    work.Prepare(a, &scratch);
#pragma omp for schedule(dynamic, 1)
    for (int64_t w = 0; w < num_work; ++w) work.RunItem(a, spans, w, &scratch);
  }
}

void WriteKvCacheRow(const float* k, const float* v, int64_t slot, int num_kv_heads, int head_dim,
                     int block_size, float* k_cache, float* v_cache) {
  const int64_t width = static_cast<int64_t>(num_kv_heads) * head_dim;
  const int64_t block = slot / block_size, offset = slot % block_size;
  float* column = k_cache + block * width * block_size + offset;
  for (int64_t c = 0; c < width; ++c) column[c * block_size] = k[c];
  std::memcpy(v_cache + slot * width, v, sizeof(float) * width);
}

void WriteKvCache(const float* k, const float* v, int64_t row_stride,
                  const std::vector<int32_t>& rows, const std::vector<int64_t>& slots,
                  int num_kv_heads, int head_dim, int block_size, float* k_cache, float* v_cache) {
  for (size_t i = 0; i < rows.size(); ++i) {
    WriteKvCacheRow(k + rows[i] * row_stride, v + rows[i] * row_stride, slots[i], num_kv_heads,
                    head_dim, block_size, k_cache, v_cache);
  }
}

void CopyKvBlock(int32_t src, int32_t dst, int64_t block_elements, float* k_cache, float* v_cache) {
  std::memcpy(k_cache + dst * block_elements, k_cache + src * block_elements,
              sizeof(float) * block_elements);
  std::memcpy(v_cache + dst * block_elements, v_cache + src * block_elements,
              sizeof(float) * block_elements);
}

}  // namespace infusion::engine
